//! `isthmus-place`: the placement dry run as a standalone binary.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "isthmus-place",
    about = "Dry-run Karmada-compatible placement of one resource"
)]
struct Cli {
    #[command(flatten)]
    args: isthmus_placement::cli::PlaceArgs,
}

fn main() -> ExitCode {
    isthmus_placement::cli::run(Cli::parse().args)
}
