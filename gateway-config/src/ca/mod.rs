//! The clusterset certificate authority.

pub mod cli;
