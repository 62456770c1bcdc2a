use std::process::ExitCode;

fn main() -> ExitCode {
    gateway_config::cli::main()
}
