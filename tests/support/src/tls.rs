//! Workload certificates issued from an Istio CA bundle (as istiod issues them) and complete
//! mutual-TLS handshakes in memory with rustls, checked the way Istio proxies check peers.

use std::sync::Arc;

use gateway_config::ca::CaCerts;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, DigitallySignedStruct, RootCertStore,
    ServerConfig, ServerConnection, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

/// A workload: its certificate chain (leaf first) and key, and the roots it trusts.
pub struct Peer {
    pub spiffe_id: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key_der: Vec<u8>,
    pub roots: Vec<CertificateDer<'static>>,
}

/// All certificates of a PEM text.
pub fn certs_of(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}

/// Issues a workload certificate for `spiffe://cluster.local/ns/<ns>/sa/<sa>` from the bundle's
/// intermediate (valid from a minute ago for an hour), the way istiod would.
pub fn workload_leaf(
    signing: &CaCerts,
    ns: &str,
    sa: &str,
) -> (String, Vec<CertificateDer<'static>>, Vec<u8>) {
    let ca_key = KeyPair::from_pem(&signing.ca_key).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&signing.ca_cert, ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let spiffe_id = format!("spiffe://cluster.local/ns/{ns}/sa/{sa}");
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "cluster.local");
    params.is_ca = IsCa::ExplicitNoCa;
    params.subject_alt_names = vec![SanType::URI(spiffe_id.as_str().try_into().unwrap())];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::hours(1);
    let leaf = params.signed_by(&key, &issuer).unwrap();
    // Workloads present leaf + cert-chain (intermediate and root).
    let mut chain = vec![leaf.der().clone()];
    chain.extend(certs_of(&signing.cert_chain));
    (spiffe_id, chain, key.serialize_der())
}

/// A workload whose certificate comes from `signing` and whose trust is `trust.root_cert`.
pub fn peer(signing: &CaCerts, trust: &CaCerts, ns: &str, sa: &str) -> Peer {
    let (spiffe_id, chain, key_der) = workload_leaf(signing, ns, sa);
    Peer {
        spiffe_id,
        chain,
        key_der,
        roots: certs_of(&trust.root_cert),
    }
}

/// Verifies the server the way Istio proxies do: chain to the trusted roots, then the SPIFFE
/// URI SAN (there is no DNS name to check).
#[derive(Debug)]
struct SpiffeServerVerifier {
    roots: Vec<rustls_pki_types::TrustAnchor<'static>>,
    expected: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ee = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| rustls::Error::General(format!("server certificate: {e}")))?;
        ee.verify_for_usage(
            self.provider.signature_verification_algorithms.all,
            &self.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| rustls::Error::General(format!("server chain: {e}")))?;
        if spiffe_ids(end_entity).contains(&self.expected) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server is not {}",
                self.expected
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// URI SANs of a certificate.
pub fn spiffe_ids(cert: &CertificateDer<'_>) -> Vec<String> {
    let (_, x) = x509_parser::parse_x509_certificate(cert).unwrap();
    let Ok(Some(san)) = x.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|g| match g {
            x509_parser::extensions::GeneralName::URI(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

fn key_of(peer: &Peer) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(peer.key_der.clone()))
}

/// A full mutual-TLS handshake in memory, `client` dialling `server`, then one message each
/// way; the server must see the client's SPIFFE id. Err carries the first TLS error.
pub fn mtls(client: &Peer, server: &Peer) -> Result<(), String> {
    let provider = ring_provider();
    let mut store = RootCertStore::empty();
    for r in &server.roots {
        store.add(r.clone()).map_err(|e| e.to_string())?;
    }
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider.clone())
            .build()
            .map_err(|e| e.to_string())?;
    let server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(server.chain.clone(), key_of(server))
        .map_err(|e| e.to_string())?;
    let anchors = client
        .roots
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).map(|a| a.to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let verifier = SpiffeServerVerifier {
        roots: anchors,
        expected: server.spiffe_id.clone(),
        provider: provider.clone(),
    };
    let client_config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(client.chain.clone(), key_of(client))
        .map_err(|e| e.to_string())?;
    let presented = handshake(client_config, server_config, "workload.invalid")?;
    let leaf = presented.first().ok_or("no client certificate")?;
    if !spiffe_ids(leaf).contains(&client.spiffe_id) {
        return Err(format!("client presented {:?}", spiffe_ids(leaf)));
    }
    Ok(())
}

/// A handshake in memory between two prepared configs, `client` dialling `name`, then one
/// message each way. Returns the certificate chain the client presented (empty if none); Err
/// carries the first TLS error, prefixed with the side that raised it.
pub fn handshake(
    client: ClientConfig,
    server: ServerConfig,
    name: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    use std::io::{Read, Write};
    let name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let mut c = ClientConnection::new(Arc::new(client), name).map_err(|e| e.to_string())?;
    let mut s = ServerConnection::new(Arc::new(server)).map_err(|e| e.to_string())?;
    c.writer().write_all(b"ping").map_err(|e| e.to_string())?;
    s.writer().write_all(b"pong").map_err(|e| e.to_string())?;
    let mut got_ping = Vec::new();
    let mut got_pong = Vec::new();
    // Bounded: a handshake takes a handful of flights.
    for _ in 0..16 {
        pump(&mut c, &mut s).map_err(|e| format!("server side: {e}"))?;
        pump(&mut s, &mut c).map_err(|e| format!("client side: {e}"))?;
        let mut buf = [0u8; 16];
        if let Ok(n) = s.reader().read(&mut buf) {
            got_ping.extend_from_slice(&buf[..n]);
        }
        if let Ok(n) = c.reader().read(&mut buf) {
            got_pong.extend_from_slice(&buf[..n]);
        }
        if got_ping == b"ping" && got_pong == b"pong" {
            return Ok(s
                .peer_certificates()
                .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
                .unwrap_or_default());
        }
    }
    Err("handshake did not complete".into())
}

/// Moves what `from` has to send into `to`, which processes it.
fn pump<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
    }
    let mut rd = &buf[..];
    while !rd.is_empty() {
        to.read_tls(&mut rd)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        to.process_new_packets()?;
    }
    Ok(())
}

/// The ring crypto provider, as the project's TLS users run it.
pub fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
