//! Prints the CustomResourceDefinitions generated from the Rust types:
//! `cargo run -p isthmus-install --bin crdgen > deploy/crds/isthmus.io_memberclusters.yaml`, or
//! with a file name of `deploy/crds/` (e.g. `placement.isthmus.io_propagationpolicies.yaml`)
//! that generated CRD; `--list` names them all.
use std::io::Write;
use std::process::ExitCode;

use isthmus_install::crds;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let text = match arg.as_deref() {
        None => crds::member_cluster_crd_yaml().map_err(|e| e.to_string()),
        Some(wanted) => crds::generated_crds()
            .map_err(|e| e.to_string())
            .and_then(|all| {
                let names: Vec<String> = all
                    .iter()
                    .map(|(p, _)| p.trim_start_matches("crds/").to_owned())
                    .collect();
                if wanted == "--list" {
                    return Ok(names.join("\n") + "\n");
                }
                all.into_iter()
                    .find(|(p, _)| p.trim_start_matches("crds/") == wanted)
                    .map(|(_, y)| y)
                    .ok_or_else(|| {
                        format!(
                            "{wanted:?} is not a generated CRD file; one of: {}",
                            names.join(", ")
                        )
                    })
            }),
    };
    match text {
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
