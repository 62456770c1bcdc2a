//! `isthmus`: see `isthmus::app`.

fn main() -> std::process::ExitCode {
    isthmus::app::main()
}
