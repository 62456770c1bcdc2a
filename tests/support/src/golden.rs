//! Golden files: expected output committed with the tests. With `UPDATE_GOLDEN=1` the
//! comparisons write what the code produced instead (review the diff before committing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// True when the run rewrites golden files (`UPDATE_GOLDEN=1`).
pub fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file at `path`; with `UPDATE_GOLDEN=1` writes it instead.
#[track_caller]
pub fn assert_golden(path: &Path, actual: &str) {
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
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

/// Compares the files under `got` with those under the golden folder `expected` (names and
/// contents; files named in `ignore` left out); with `UPDATE_GOLDEN=1` replaces `expected` by
/// `got`.
#[track_caller]
pub fn assert_golden_tree(got: &Path, expected: &Path, ignore: &[&str]) {
    let got_tree = read_tree(got, ignore);
    if updating() {
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
    let want = read_tree(expected, ignore);
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

/// Every file under `dir` (path relative to `dir` -> content), files whose relative path is in
/// `ignore` left out.
pub fn read_tree(dir: &Path, ignore: &[&str]) -> BTreeMap<String, String> {
    list_files(dir)
        .into_iter()
        .map(|rel| (rel.to_string_lossy().into_owned(), rel))
        .filter(|(name, _)| !ignore.contains(&name.as_str()))
        .map(|(name, rel)| {
            let text = std::fs::read_to_string(dir.join(&rel))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(&rel).display()));
            (name, text)
        })
        .collect()
}

/// Every file under `dir`, relative to it, sorted; empty when `dir` does not exist.
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
