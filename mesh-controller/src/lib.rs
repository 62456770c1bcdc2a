//! The Isthmus controller.

pub use isthmus_placement as placement;
pub mod apply;
pub mod leader;
pub mod metrics;
pub mod server;
pub mod watch;
pub mod runtime;
pub mod install;
pub mod index;
pub mod model;
pub mod reconcile;
pub mod cli;
pub mod demo;
