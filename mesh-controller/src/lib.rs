//! The Isthmus controller.

pub use isthmus_placement as placement;
pub mod apply;
pub mod leader;
pub mod metrics;
pub mod server;
pub mod watch;
pub mod runtime;
pub mod install;
pub mod crd;
pub mod index;
pub mod model;
pub mod reconcile;
pub mod registry;
pub mod render;
pub mod cli;
pub mod demo;
