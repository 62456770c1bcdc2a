//! Istio multi-network configuration and the clusterset certificate authority.
//!
//! This crate is pure: it reads descriptions and certificates and produces objects and
//! PEM, with no Kubernetes client and no async runtime.

pub mod ca;
pub mod clusterset;
pub mod istio;
pub mod remote_secret;
pub mod render;
