//! The four-part `cacerts` bundle istiod loads, and its Secret form.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{CACERTS_NAMESPACE, CACERTS_SECRET_NAME, CaError, MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// The plug-in CA material of one cluster, as PEM text. `Debug` redacts the key.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CaCerts {
    /// `ca-cert.pem`: the cluster's intermediate CA certificate.
    pub ca_cert: String,
    /// `ca-key.pem`: the intermediate's private key. Secret.
    pub ca_key: String,
    /// `cert-chain.pem`: the intermediate, then the root that signed it.
    pub cert_chain: String,
    /// `root-cert.pem`: every root workloads trust (old and new during a rotation).
    pub root_cert: String,
}

/// Another name for [`CaCerts`].
pub type CaBundle = CaCerts;

impl std::fmt::Debug for CaCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaCerts")
            .field("ca_cert", &format_args!("<{} bytes>", self.ca_cert.len()))
            .field("ca_key", &"<redacted>")
            .field(
                "cert_chain",
                &format_args!("<{} bytes>", self.cert_chain.len()),
            )
            .field(
                "root_cert",
                &format_args!("<{} bytes>", self.root_cert.len()),
            )
            .finish()
    }
}

impl CaCerts {
    /// File names (and Secret data keys), in the order of the fields.
    pub const FILE_NAMES: [&'static str; 4] = [
        "ca-cert.pem",
        "ca-key.pem",
        "cert-chain.pem",
        "root-cert.pem",
    ];

    /// (file name, content) pairs in [`Self::FILE_NAMES`] order.
    pub fn files(&self) -> [(&'static str, &str); 4] {
        [
            (Self::FILE_NAMES[0], &self.ca_cert),
            (Self::FILE_NAMES[1], &self.ca_key),
            (Self::FILE_NAMES[2], &self.cert_chain),
            (Self::FILE_NAMES[3], &self.root_cert),
        ]
    }

    /// Builds a bundle from a lookup by file name; missing parts become empty strings (which
    /// [`super::verify_bundle`] reports as missing).
    pub fn from_lookup(mut get: impl FnMut(&str) -> Option<String>) -> Self {
        CaCerts {
            ca_cert: get(Self::FILE_NAMES[0]).unwrap_or_default(),
            ca_key: get(Self::FILE_NAMES[1]).unwrap_or_default(),
            cert_chain: get(Self::FILE_NAMES[2]).unwrap_or_default(),
            root_cert: get(Self::FILE_NAMES[3]).unwrap_or_default(),
        }
    }

    /// The `cacerts` Secret in `istio-system`, type Opaque, with the four PEMs under `data`
    /// and the isthmus ownership label.
    pub fn to_secret(&self) -> Secret {
        owned_secret(
            CACERTS_SECRET_NAME,
            CACERTS_NAMESPACE,
            "Opaque",
            &self.files(),
        )
    }

    /// The Secret manifest as YAML.
    pub fn to_secret_yaml(&self) -> Result<String, CaError> {
        isthmus_api::yaml::to_string(&self.to_secret()).map_err(|e| CaError::Secret {
            what: "cacerts Secret".into(),
            field: "manifest".into(),
            problem: e.to_string(),
        })
    }

    /// Reads a bundle out of a Secret (`data`, or `stringData` for hand-written manifests).
    /// Missing keys become empty parts. A part that is not UTF-8 text is an error.
    pub fn from_secret(secret: &Secret, what: &str) -> Result<Self, CaError> {
        if secret.metadata.name.as_deref() != Some(CACERTS_SECRET_NAME) {
            return Err(CaError::Secret {
                what: what.to_string(),
                field: "metadata.name".into(),
                problem: format!(
                    "is {:?}; istiod only reads the Secret named {CACERTS_SECRET_NAME:?}",
                    secret.metadata.name.as_deref().unwrap_or("")
                ),
            });
        }
        let mut parts: BTreeMap<String, String> = BTreeMap::new();
        if let Some(string_data) = &secret.string_data {
            for (k, v) in string_data {
                parts.insert(k.clone(), v.clone());
            }
        }
        if let Some(data) = &secret.data {
            for (k, v) in data {
                let text = String::from_utf8(v.0.clone()).map_err(|_| CaError::Secret {
                    what: what.to_string(),
                    field: format!("data.{k}"),
                    problem: "is not UTF-8 PEM text".into(),
                })?;
                parts.insert(k.clone(), text);
            }
        }
        Ok(Self::from_lookup(|name| parts.get(name).cloned()))
    }

    /// Parses a Secret manifest (YAML or JSON) and reads the bundle out of it. Parse errors
    /// keep their position but not long quoted input, which may be key material.
    pub fn from_secret_yaml(yaml: &str, what: &str) -> Result<Self, CaError> {
        let secret: Secret = serde_saphyr::from_str(yaml).map_err(|e| CaError::Secret {
            what: what.to_string(),
            field: "manifest".into(),
            problem: format!("not a Kubernetes Secret: {}", sanitize(&e.to_string())),
        })?;
        Self::from_secret(&secret, what)
    }
}

/// First line of a parser message, with quoted strings longer than 32 characters elided.
/// A Secret of `type_` holding `files` under `data`, with the isthmus ownership label.
pub(crate) fn owned_secret(
    name: &str,
    namespace: &str,
    type_: &str,
    files: &[(&str, &str)],
) -> Secret {
    let data: BTreeMap<String, ByteString> = files
        .iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect();
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.to_string(),
                MANAGED_BY_VALUE.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some(type_.to_string()),
        data: Some(data),
        ..Secret::default()
    }
}

fn sanitize(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(line.len());
    let mut parts = line.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        out.push('"');
        // Odd segments (0-based even index here) are inside quotes.
        if i % 2 == 0 && part.chars().count() > 32 {
            out.push_str("...");
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn sample() -> CaCerts {
        CaCerts {
            ca_cert: "CERT\n".into(),
            ca_key: "TOPSECRETKEY\n".into(),
            cert_chain: "CHAIN\n".into(),
            root_cert: "ROOT\n".into(),
        }
    }

    #[test]
    fn secret_has_name_namespace_type_label_and_four_keys() {
        let s = sample().to_secret();
        assert_eq!(s.metadata.name.as_deref(), Some("cacerts"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("istio-system"));
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        let labels = s.metadata.labels.unwrap();
        assert_eq!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("isthmus")
        );
        let data = s.data.unwrap();
        let keys: Vec<_> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ca-cert.pem",
                "ca-key.pem",
                "cert-chain.pem",
                "root-cert.pem"
            ]
        );
        assert_eq!(data["ca-key.pem"].0, b"TOPSECRETKEY\n");
    }

    #[test]
    fn secret_yaml_is_base64_and_round_trips() {
        let yaml = sample().to_secret_yaml().unwrap();
        assert!(yaml.contains("kind: Secret"), "{yaml}");
        assert!(yaml.contains("apiVersion: v1"), "{yaml}");
        assert!(
            !yaml.contains("TOPSECRETKEY"),
            "data must be base64: {yaml}"
        );
        let back = CaCerts::from_secret_yaml(&yaml, "cacerts.yaml").unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn string_data_and_missing_keys_are_read() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cacerts\nstringData:\n  ca-cert.pem: C\n";
        let b = CaCerts::from_secret_yaml(yaml, "x.yaml").unwrap();
        assert_eq!(b.ca_cert, "C");
        assert!(b.ca_key.is_empty());
    }

    #[test]
    fn wrong_kind_or_name_is_rejected() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cacerts\n";
        let err = CaCerts::from_secret_yaml(yaml, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.yaml: manifest") && err.contains("expected Secret"),
            "{err}"
        );
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: other\n";
        let err = CaCerts::from_secret_yaml(yaml, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("metadata.name"), "{err}");
        let err = CaCerts::from_secret_yaml("- [", "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.yaml"), "{err}");
    }

    #[test]
    fn parse_errors_do_not_echo_long_values() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cacerts\ndata:\n  ca-key.pem: \"THISISAVERYLONGSECRETVALUETHATISNOTBASE64!!!\"\n";
        let err = CaCerts::from_secret_yaml(yaml, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("THISISAVERYLONGSECRET"), "{err}");
        assert!(err.contains("x.yaml"), "{err}");
        assert_eq!(sanitize("a \"short\" b"), "a \"short\" b");
    }

    #[test]
    fn debug_redacts_the_key() {
        let dbg = format!("{:?}", sample());
        assert!(!dbg.contains("TOPSECRETKEY"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }
}
