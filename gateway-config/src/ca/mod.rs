//! The clusterset certificate authority.
//!
//! One root CA (kept offline, or in the controller's secret) signs one intermediate CA per
//! member cluster. Each cluster's istiod receives its intermediate as Istio's plug-in
//! `cacerts` Secret (`ca-cert.pem`, `ca-key.pem`, `cert-chain.pem`, `root-cert.pem`), so
//! workloads in every cluster chain up to the same root and trust each other across networks.
//!
//! This module is pure: it parses and produces PEM and Secret objects, takes the current time
//! as an argument and does no I/O. The `isthmus ca` subcommand is the file-system edge.
//!
//! Entry points:
//! - [`RootCa`]: load a root from PEM ([`RootCa::from_pem`]) or make one ([`RootCa::generate`]).
//! - [`issue_intermediate`]: sign a cluster's intermediate and return its [`CaCerts`].
//! - [`desired_cacerts`] / [`plan_cacerts`]: the bundle a cluster should have now, reusing a
//!   still-good existing intermediate.
//! - [`verify_bundle`]: check a bundle the way istiod would load it.
//! - [`rotation_bundle`]: the bundle for one cluster at one step of a root rotation.
//! - [`issue_leaf`]: a server or DNS-proxy client certificate for the discovery channel,
//!   signed by the root or an intermediate ([`LeafSigner`]).

mod bundle;
mod certs;
mod der;
mod issue;
mod keys;
mod label;
mod leaf;
mod root;
mod rotate;
mod verify;

pub use bundle::{CaBundle, CaCerts};
pub use issue::{
    Decision, IntermediateOptions, RenewalPolicy, desired_cacerts, intermediate_not_after,
    issue_intermediate, plan_cacerts,
};
pub use keys::KeyType;
pub use label::validate_cluster_name;
pub use leaf::{
    DNS_PROXY_PATH, LeafCert, LeafOptions, LeafRole, LeafSigner, TLS_CA_FILE, TLS_CERT_FILE,
    TLS_KEY_FILE, dns_proxy_spiffe_id, issue_leaf, leaf_not_after, validate_trust_domain,
};
pub use root::{RootCa, RootCert, RootOptions};
pub use rotate::{Rotation, RotationStep, rotation_bundle};
pub use verify::{CertExpiry, Check, VerifyReport, verify_bundle};

/// Namespace of the `cacerts` Secret istiod reads.
pub const CACERTS_NAMESPACE: &str = "istio-system";
/// Name of the Secret istiod reads its plug-in CA from.
pub const CACERTS_SECRET_NAME: &str = "cacerts";
/// Ownership label put on every object this project writes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "isthmus";
/// Common name of every intermediate (as Istio's certificate Makefiles name it).
pub const INTERMEDIATE_CN: &str = "Intermediate CA";
/// DNS SAN of every intermediate: the istiod service that signs with it.
pub const INTERMEDIATE_SAN_DNS: &str = "istiod.istio-system.svc";
/// Organisation used when neither the caller nor the root names one.
pub const DEFAULT_ORG: &str = "Istio";
/// Common name of a root made by [`RootCa::generate`] unless told otherwise.
pub const DEFAULT_ROOT_CN: &str = "Root CA";

/// Errors of the CA library. Messages name the object (`what`: a file, a Secret key or a
/// role such as "root certificate") and the field that is wrong. They never carry key bytes.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// PEM text could not be decoded, or held no item of the expected kind.
    #[error("{what}: {problem}")]
    Pem { what: String, problem: String },
    /// A DER structure (certificate or key) could not be parsed.
    #[error("{what}: cannot parse {field}: {problem}")]
    Parse {
        what: String,
        field: &'static str,
        problem: String,
    },
    /// A private key is of a kind or size this CA cannot sign with.
    #[error("{what}: unsupported private key: {problem}")]
    UnsupportedKey { what: String, problem: String },
    /// A private key does not belong to the certificate it came with.
    #[error("{key}: private key does not match the public key of {cert}")]
    KeyMismatch { key: String, cert: String },
    /// A certificate that must be a CA is not one (basicConstraints / keyUsage).
    #[error("{what}: {field}: {problem}")]
    NotCa {
        what: String,
        field: &'static str,
        problem: String,
    },
    /// A certificate is outside its validity window.
    #[error("{what}: validity.{field} is {at}: {problem}")]
    Validity {
        what: String,
        field: &'static str,
        at: jiff::Timestamp,
        problem: String,
    },
    /// A certificate was not signed by the expected issuer.
    #[error("{what}: {problem}")]
    WrongIssuer { what: String, problem: String },
    /// A cluster name is not an RFC 1123 label.
    #[error("cluster name {name:?}: {problem}")]
    ClusterName { name: String, problem: String },
    /// A parameter (validity, organisation...) is out of range.
    #[error("{field}: {problem}")]
    Parameter {
        field: &'static str,
        problem: String,
    },
    /// A Secret manifest is not a usable `cacerts` Secret.
    #[error("{what}: {field}: {problem}")]
    Secret {
        what: String,
        field: String,
        problem: String,
    },
    /// A rotation step was asked for before the previous one was applied.
    #[error("cluster {cluster}: {problem}")]
    RotationOrder { cluster: String, problem: String },
    /// A cluster's intermediate was asked to sign another cluster's DNS proxy identity.
    #[error(
        "a DNS proxy certificate for cluster {cluster:?} cannot be signed by {signer}: only \
         cluster {cluster}'s own intermediate (subject L={cluster}) or the clusterset root may \
         sign it"
    )]
    ForeignCluster {
        /// The cluster the certificate would name.
        cluster: String,
        /// What the signer is instead.
        signer: String,
    },
    /// Key generation or signing failed inside the crypto backend.
    #[error("{what}: {problem}")]
    Crypto { what: String, problem: String },
}
