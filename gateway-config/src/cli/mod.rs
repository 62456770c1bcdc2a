//! The `gateway-config` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for invalid input (bad flags, unreadable or malformed files).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a check that ran and failed.
pub const EXIT_FAILED: u8 = 1;

#[derive(Debug, Parser)]
#[command(name = "gateway-config", version, about = "Generate Istio multi-network configuration and run the clusterset CA")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The clusterset certificate authority (root, per-cluster intermediates, rotation).
    #[command(subcommand)]
    Ca(crate::ca::cli::CaCommand),
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { ExitCode::from(EXIT_BAD_INPUT) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Ca(cmd) => crate::ca::cli::run(cmd),
    }
}
