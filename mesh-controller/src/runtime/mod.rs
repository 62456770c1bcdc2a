//! The live controller runtime: member registry, watches, reconcile loop, writes.

pub mod members;
