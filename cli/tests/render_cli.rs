//! `isthmus render` run as a process: golden output, exit codes, nothing written on
//! bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use isthmus::render::MARKER_FILE;
use isthmus_testing::golden::assert_golden_tree;
use isthmus_testing::paths::testdata;

/// `cli/testdata/render/<name>`.
fn case(name: &str) -> PathBuf {
    testdata("cli").join("render").join(name)
}

/// Compares the rendered folder `got` with the golden folder `expected` (the marker file left
/// out); `UPDATE_GOLDEN=1` rewrites `expected`.
fn golden(got: &Path, expected: &Path) {
    assert_golden_tree(got, expected, &[MARKER_FILE]);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_isthmus"))
}

#[test]
fn render_command_writes_the_golden_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let c = case("basic");
    let o = bin()
        .arg("render")
        .arg("--clusterset")
        .arg(c.join("clusterset.yaml"))
        .arg("--input")
        .arg(c.join("input"))
        .arg("--output")
        .arg(&out)
        .arg("--istio")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("broken"),
        "the skipped object is reported: {stderr}"
    );
    golden(&out, &c.join("expected"));
}

#[test]
fn render_command_without_clusterset() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let c = case("single");
    let o = bin()
        .args(["render", "--input"])
        .arg(c.join("input"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    golden(&out, &c.join("expected"));
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["bad/syntax", "bad/nokind"] {
        let out = tmp.path().join(bad.replace('/', "-"));
        let o = bin()
            .args(["render", "--input"])
            .arg(case(bad))
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains(".yaml"),
            "{bad}: error names the file: {stderr}"
        );
        assert!(!out.exists(), "{bad}: nothing written");
    }
}
