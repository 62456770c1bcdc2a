//! `isthmus-install`: the `install` subcommand as a standalone binary.
use clap::Parser;

/// Prints the manifests that install Isthmus into a hub or member cluster.
#[derive(Parser)]
#[command(name = "isthmus-install", version)]
struct Cli {
    #[command(flatten)]
    args: mesh_controller::install::InstallArgs,
}

fn main() -> std::process::ExitCode {
    mesh_controller::install::run(Cli::parse().args)
}
