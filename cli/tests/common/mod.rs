//! Helpers shared by the integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use gateway_config::clusterset::ClusterSet;
use serde_json::Value;

/// The gateway-config crate directory, which holds the test data and golden files.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gateway-config")
}

/// `tests/testdata/<name>`.
pub fn testdata(name: &str) -> PathBuf {
    crate_dir().join("tests").join("testdata").join(name)
}

/// The test clusterset (`tests/testdata/clusterset.yaml`): 3 clusters, 2 networks, every
/// gateway exposure, kubeconfigs for two members.
pub fn golden_clusterset() -> ClusterSet {
    ClusterSet::load(&testdata("clusterset.yaml")).unwrap()
}

/// Parses a YAML stream into JSON values.
pub fn yaml_documents(text: &str, origin: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", origin.display()))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// Compares `actual` with the golden file `tests/golden/<rel>`; with `UPDATE_GOLDEN=1`
/// writes it instead.
pub fn assert_golden(rel: &Path, actual: &str) {
    let path = crate_dir().join("tests/golden").join(rel);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    pretty_assertions::assert_eq!(
        expected,
        actual,
        "{} differs (UPDATE_GOLDEN=1 regenerates)",
        path.display()
    );
}

/// Every file under `dir`, relative to it, sorted.
pub fn list_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}
