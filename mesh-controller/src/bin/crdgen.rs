//! Prints the CustomResourceDefinitions generated from the Rust types:
//! `cargo run -p mesh-controller --bin crdgen > deploy/crds/isthmus.io_memberclusters.yaml`.
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match mesh_controller::install::crds::member_cluster_crd_yaml() {
        Ok(yaml) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(yaml.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing the CRD: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
