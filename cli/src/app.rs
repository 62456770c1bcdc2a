//! The top-level `isthmus` command: parsing, logging and dispatch to the subcommands.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use mesh_controller::cli::{LogFormat, init_tracing};

use crate::exit::EXIT_BAD_INPUT;

/// Isthmus joins Kubernetes clusters on different networks into one Multi-Cluster Services
/// clusterset and one Istio multi-network mesh.
#[derive(Debug, Parser)]
#[command(name = "isthmus", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ISTHMUS_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per process: the size of the largest flag set does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start simulated member clusters with a sample application and run the real controller
    /// and DNS proxies on them.
    Demo(crate::demo::DemoArgs),
    /// Print the manifests that install Isthmus into a hub or member cluster.
    Install(isthmus_install::InstallArgs),
    /// Reconcile cluster state read from files and write what the controller would apply
    /// (offline).
    Render(crate::render::RenderArgs),
    /// Istio multi-network configuration: east-west gateway, exposed services and istiod,
    /// remote secrets, and all of it for a clusterset.
    #[command(subcommand)]
    Gateway(crate::gateway::GatewayCommand),
    /// The clusterset certificate authority: root, per-cluster intermediates (Istio's
    /// `cacerts`), verification, rotation, discovery-channel leaf certificates.
    #[command(subcommand)]
    Ca(crate::ca::CaCommand),
    /// Evaluate placement policies (Karmada PropagationPolicy / OverridePolicy) for one
    /// resource against a set of clusters (offline).
    Place(crate::place::PlaceArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
}

/// `isthmus completion`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script for `shell` to `out`.
pub fn completion(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "isthmus", out);
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The demo prints its own status table; its logs stay quiet unless RUST_LOG asks.
    let default_filter = if matches!(cli.command, Command::Demo(_)) {
        "warn"
    } else {
        "info"
    };
    init_tracing(cli.log_format, default_filter);
    match cli.command {
        Command::Demo(args) => crate::demo::main(args),
        Command::Install(args) => isthmus_install::run(args),
        Command::Render(args) => crate::render::run(args),
        Command::Gateway(cmd) => crate::gateway::run(cmd),
        Command::Ca(cmd) => crate::ca::run(cmd),
        Command::Place(args) => crate::place::run(args),
        Command::Completion(args) => {
            let mut out = std::io::stdout().lock();
            completion(args.shell, &mut out);
            match out.flush() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing the completion script: {e}");
                    ExitCode::from(crate::exit::EXIT_FAILED)
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_user_command_is_under_one_cli() {
        let cmd = Cli::command();
        let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(
            names,
            [
                "demo",
                "install",
                "render",
                "gateway",
                "ca",
                "place",
                "completion"
            ]
        );
        let gateway: Vec<&str> = cmd
            .find_subcommand("gateway")
            .unwrap()
            .get_subcommands()
            .map(|c| c.get_name())
            .collect();
        for sub in [
            "eastwest",
            "expose-services",
            "expose-istiod",
            "remote-secret",
            "render",
        ] {
            assert!(gateway.contains(&sub), "gateway {sub}: {gateway:?}");
        }
    }

    #[test]
    fn completion_scripts_name_the_subcommands() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh] {
            let mut out = Vec::new();
            completion(shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            for sub in ["demo", "install", "gateway", "eastwest", "ca", "rotate"] {
                assert!(text.contains(sub), "{shell:?} completion lacks {sub}");
            }
        }
    }
}
