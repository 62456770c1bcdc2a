//! The command line and running the proxy it describes.
//!
//! - `args`: the flags ([`Args`]) and what `--source` names ([`SourceSpec`]);
//! - `error`: what can be wrong with them ([`ConfigError`]);
//! - `grpc`: the `--source grpc:` flags checked together into a gRPC source;
//! - `resolv`: upstream resolvers from resolv.conf;
//! - `run`: building the table handle, the source, the DNS listeners and the HTTP endpoints
//!   from the flags, and running them until a signal.

mod args;
mod error;
mod grpc;
mod resolv;
mod run;

pub use args::{Args, SourceSpec, check_grpc_url};
pub use error::ConfigError;
pub use grpc::grpc_source;
pub use resolv::{parse_resolv_conf, read_resolv_conf};
pub use run::run;
