//! Paths inside the repository, the same whatever directory a test runs in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository root (the workspace directory).
pub fn repo_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        // This crate is `tests/support/`.
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("tests/support lies two levels below the repository root")
            .to_path_buf()
    })
}

/// The directory of the workspace member at `dir`, relative to the root (`cli`,
/// `gateway-config`, `tests/sim`).
pub fn crate_dir(dir: &str) -> PathBuf {
    let path = repo_root().join(dir);
    assert!(
        path.join("Cargo.toml").is_file(),
        "{}: not a workspace member",
        path.display()
    );
    path
}

/// `<dir>/testdata`: the test data of the workspace member at `dir`.
pub fn testdata(dir: &str) -> PathBuf {
    crate_dir(dir).join("testdata")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"), "{manifest}");
        assert!(crate_dir("tests/support").ends_with("tests/support"));
    }
}
