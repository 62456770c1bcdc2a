//! `mesh-controller`: see `mesh_controller::cli`.

fn main() -> std::process::ExitCode {
    mesh_controller::cli::main()
}
