//! Private keys: generation and loading from the PEM forms openssl and Istio's tools write.

use rcgen::{KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::CaError;
use super::der;

/// Key algorithm of a generated CA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA on NIST P-256, signing with SHA-256 (the default: small and fast).
    #[default]
    EcdsaP256,
    /// RSA with a 4096-bit modulus, signing with PKCS#1 v1.5 SHA-256 (Istio's tools default).
    Rsa4096,
}

impl KeyType {
    /// The name used on the command line and in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyType {
    type Err = CaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ecdsa-p256" => Ok(KeyType::EcdsaP256),
            "rsa-4096" => Ok(KeyType::Rsa4096),
            other => Err(CaError::Parameter {
                field: "key type",
                problem: format!("{other:?} is not one of ecdsa-p256, rsa-4096"),
            }),
        }
    }
}

/// keyUsage of the root and of every intermediate, as `tools/certs/common.mk` in Istio writes
/// it (`critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign`). For an
/// ECDSA key keyEncipherment is left out: RFC 5480 forbids it for EC public keys, and
/// nothing verifies with it.
pub(crate) fn ca_key_usages(key: &KeyPair) -> Vec<KeyUsagePurpose> {
    let mut usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    if key.algorithm() == &PKCS_RSA_SHA256 {
        usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    usages.push(KeyUsagePurpose::KeyCertSign);
    usages
}

/// Generates a new key of the given type.
pub(crate) fn generate_key(key_type: KeyType) -> Result<KeyPair, CaError> {
    match key_type {
        KeyType::EcdsaP256 => {
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| CaError::Crypto {
                what: "ECDSA P-256 key generation".into(),
                problem: e.to_string(),
            })
        }
        KeyType::Rsa4096 => generate_rsa(4096),
    }
}

/// Generates an RSA key of `bits` bits (the ring backend cannot, so the `rsa` crate does and
/// the key is handed over as PKCS#8).
pub(crate) fn generate_rsa(bits: usize) -> Result<KeyPair, CaError> {
    use rsa::pkcs8::EncodePrivateKey;
    let what = || format!("RSA {bits} key generation");
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| CaError::Crypto {
        what: what(),
        problem: e.to_string(),
    })?;
    let pkcs8 = key.to_pkcs8_der().map_err(|e| CaError::Crypto {
        what: what(),
        problem: e.to_string(),
    })?;
    let der = PrivatePkcs8KeyDer::from(pkcs8.as_bytes());
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_RSA_SHA256).map_err(|e| CaError::Crypto {
        what: what(),
        problem: e.to_string(),
    })
}

/// Loads a private key from PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`). `what` names the source (a file or a Secret key) for errors. Errors
/// never include any of the key text.
pub(crate) fn load_private_key(pem: &str, what: &str) -> Result<KeyPair, CaError> {
    if pem.contains("ENCRYPTED PRIVATE KEY") || pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(CaError::UnsupportedKey {
            what: what.to_string(),
            problem: "the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)"
                .into(),
        });
    }
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| CaError::Pem {
        what: what.to_string(),
        problem: match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found".into()
            }
            // Other PEM errors may quote input; keep only their kind.
            _ => "malformed PEM in the private key block".into(),
        },
    })?;
    let (pkcs8, form) = match &der {
        PrivateKeyDer::Pkcs8(k) => (k.secret_pkcs8_der().to_vec(), "PKCS#8"),
        PrivateKeyDer::Pkcs1(k) => (der::pkcs1_to_pkcs8(k.secret_pkcs1_der()), "PKCS#1"),
        PrivateKeyDer::Sec1(k) => (
            der::sec1_to_pkcs8(k.secret_sec1_der()).map_err(|problem| CaError::Parse {
                what: what.to_string(),
                field: "EC PRIVATE KEY",
                problem: problem.into(),
            })?,
            "SEC1",
        ),
        _ => {
            return Err(CaError::UnsupportedKey {
                what: what.to_string(),
                problem: "unknown private key encoding".into(),
            });
        }
    };
    let pkcs8 = PrivatePkcs8KeyDer::from(pkcs8);
    KeyPair::try_from(&PrivateKeyDer::Pkcs8(pkcs8)).map_err(|_| CaError::UnsupportedKey {
        what: what.to_string(),
        problem: format!(
            "{form} key is not ECDSA P-256/P-384, Ed25519 or RSA of 2048..8192 bits, \
             or is malformed (SEC1 keys must include the public key)"
        ),
    })
}

/// Does `key` hold the private half of the public key `spki_bits` (the certificate's
/// subjectPublicKey BIT STRING content)?
pub(crate) fn key_matches(key: &KeyPair, spki_bits: &[u8]) -> bool {
    key.public_key_raw() == spki_bits
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn key_type_parses_its_own_names() {
        for kt in [KeyType::EcdsaP256, KeyType::Rsa4096] {
            assert_eq!(kt.as_str().parse::<KeyType>().unwrap(), kt);
        }
        assert!("rsa-1024".parse::<KeyType>().is_err());
    }

    #[test]
    fn ca_key_usages_follow_istio_makefile() {
        let ec = generate_key(KeyType::EcdsaP256).unwrap();
        assert_eq!(
            ca_key_usages(&ec),
            [
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
                KeyUsagePurpose::KeyCertSign
            ]
        );
        let rsa = generate_rsa(2048).unwrap();
        assert_eq!(
            ca_key_usages(&rsa),
            [
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
                KeyUsagePurpose::KeyEncipherment,
                KeyUsagePurpose::KeyCertSign
            ]
        );
    }

    #[test]
    fn generated_ec_key_round_trips_through_pem() {
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        let loaded = load_private_key(&key.serialize_pem(), "test key").unwrap();
        assert_eq!(loaded.public_key_raw(), key.public_key_raw());
        assert!(key_matches(&loaded, key.public_key_raw()));
    }

    #[test]
    fn rsa_key_loads_from_pkcs8_and_pkcs1() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        let pkcs1 = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let pkcs8 = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"));
        let a = load_private_key(&pkcs1, "pkcs1").unwrap();
        let b = load_private_key(&pkcs8, "pkcs8").unwrap();
        assert_eq!(a.public_key_raw(), b.public_key_raw());
        assert_eq!(a.algorithm(), &PKCS_RSA_SHA256);
    }

    #[test]
    fn garbage_and_encrypted_keys_are_rejected_without_echoing_input() {
        let err = load_private_key("not a key at all", "k.pem")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k.pem"), "{err}");
        assert!(err.contains("no PRIVATE KEY"), "{err}");

        let bad = "-----BEGIN PRIVATE KEY-----\nAAAASECRETSECRET\n-----END PRIVATE KEY-----\n";
        let err = load_private_key(bad, "k.pem").unwrap_err().to_string();
        assert!(!err.contains("SECRET"), "{err}");

        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = load_private_key(enc, "k.pem").unwrap_err().to_string();
        assert!(err.contains("encrypted"), "{err}");
    }

    #[test]
    fn debug_of_key_pair_elides_the_secret() {
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        let dbg = format!("{key:?}");
        assert!(dbg.contains("elided"), "{dbg}");
    }
}
