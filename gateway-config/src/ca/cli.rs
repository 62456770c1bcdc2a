//! `gateway-config ca ...`

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a new root CA.
    Init,
}

pub fn run(cmd: CaCommand) -> ExitCode {
    match cmd {
        CaCommand::Init => ExitCode::from(super::super::cli::EXIT_FAILED),
    }
}
