//! Shared helpers of the render tests: golden folder comparison.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `cli/testdata/render/<name>`.
pub fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/render")
        .join(name)
}

/// Every file under `dir` (relative path -> content), the marker file excluded.
pub fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                if rel != isthmus::render::MARKER_FILE {
                    out.insert(rel, std::fs::read_to_string(&p).unwrap());
                }
            }
        }
    }
    out
}

/// Compares `got` with `expected`; with `UPDATE_GOLDEN=1` rewrites `expected` instead.
pub fn golden(got: &Path, expected: &Path) {
    let got_tree = tree(got);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        if expected.exists() {
            std::fs::remove_dir_all(expected).unwrap();
        }
        for (rel, text) in &got_tree {
            let p = expected.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        return;
    }
    let want = tree(expected);
    let got_names: Vec<_> = got_tree.keys().collect();
    let want_names: Vec<_> = want.keys().collect();
    pretty_assertions::assert_eq!(
        want_names,
        got_names,
        "file lists differ (UPDATE_GOLDEN=1 regenerates)"
    );
    for (rel, text) in &want {
        pretty_assertions::assert_eq!(
            text,
            &got_tree[rel],
            "{rel} differs (UPDATE_GOLDEN=1 regenerates)"
        );
    }
}
