//! The Isthmus controller.

pub mod apply;
pub mod backoff;
pub mod cli;
pub mod discovery;
pub mod index;
pub mod leader;
pub mod members;
pub mod metrics;
pub mod model;
pub mod ownership;
pub mod plan;
pub mod propagation;
pub mod reconcile;
pub mod registry;
pub mod resource;
pub mod root_of_trust;
pub mod runtime;
pub mod server;
pub mod watch;
