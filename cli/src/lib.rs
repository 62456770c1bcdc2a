//! `isthmus`, the one command line users run: every command that is not a daemon.
//!
//! - [`app`]: the top-level parser and dispatch, `--version`, shell completion;
//! - [`demo`]: a simulated clusterset with the real controller and DNS proxies;
//! - `install`: the manifests of a hub or member (the `isthmus-install` crate);
//! - [`render`]: the controller's reconcile offline, from files to manifests;
//! - [`gateway`]: Istio multi-network objects, istioctl-compatible;
//! - [`ca`]: the clusterset certificate authority;
//! - [`place`]: the placement dry run.
//!
//! The daemons (`mesh-controller`, `dns-proxy`) link none of this.

pub mod app;
pub mod ca;
pub mod demo;
pub mod exit;
pub mod gateway;
pub mod place;
pub mod render;
