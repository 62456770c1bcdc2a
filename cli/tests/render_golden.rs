//! Offline render through the library: golden outputs, determinism, error reporting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use isthmus::render::{MARKER_FILE, RenderArgs, RenderError, render, write};
use isthmus_testing::golden::{assert_golden_tree, read_tree};
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

/// Every rendered file (relative path -> content), the marker file left out.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    read_tree(dir, &[MARKER_FILE])
}

fn args(name: &str, clusterset: bool, out: &std::path::Path) -> RenderArgs {
    RenderArgs {
        clusterset: clusterset.then(|| case(name).join("clusterset.yaml")),
        input: case(name).join("input"),
        output: out.to_owned(),
        now: None,
        clusterset_cidrs: Vec::new(),
        istio: clusterset,
    }
}

#[test]
fn basic_clusterset_matches_golden() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let a = args("basic", true, &out);
    let r = render(&a).unwrap();
    assert_eq!(
        r.skipped, 1,
        "the ServiceExport without creationTimestamp is skipped"
    );
    assert_eq!(r.now.to_string(), "2026-02-01T00:00:00Z");
    write(&out, &r).unwrap();
    golden(&out, &case("basic").join("expected"));
}

#[test]
fn a_static_member_gives_every_istiod_its_gateway_address_once() {
    // istiod reads `meshNetworks` from the `isthmus-mesh-networks` ConfigMap (named in its
    // SHARED_MESH_CONFIG); the Static member's address must be there, once, in every member.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = render(&args("basic", true, &out)).unwrap();
    write(&out, &r).unwrap();
    let files = tree(&out);
    for member in ["east", "west", "north"] {
        let path = format!("{member}/configmap-istio-system-isthmus-mesh-networks.yaml");
        let cm: serde_json::Value = serde_saphyr::from_str(&files[&path]).unwrap();
        let doc: serde_json::Value =
            serde_saphyr::from_str(cm["data"]["meshNetworks"].as_str().unwrap()).unwrap();
        assert_eq!(
            doc["networks"]["net-west"]["gateways"],
            serde_json::json!([{"address": "gw.west.example.com", "port": 443}]),
            "{path}"
        );
        assert_eq!(
            doc["networks"]["net-west"]["endpoints"],
            serde_json::json!([{"fromRegistry": "west"}])
        );
        // The LoadBalancer network needs no entry: istiod finds its gateway itself.
        assert!(doc["networks"].get("net-east").is_none(), "{path}");
    }
}

#[test]
fn folders_without_clusterset_match_golden() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = render(&args("single", false, &out)).unwrap();
    write(&out, &r).unwrap();
    golden(&out, &case("single").join("expected"));
}

#[test]
fn render_is_deterministic_and_rerender_replaces() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let a = args("basic", true, &out);
    write(&out, &render(&a).unwrap()).unwrap();
    let first = tree(&out);
    write(&out, &render(&a).unwrap()).unwrap();
    assert_eq!(first, tree(&out));
}

#[test]
fn explicit_now_sets_transition_times() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = args("single", false, &tmp.path().join("out"));
    a.now = Some("2030-01-01T00:00:00Z".into());
    let r = render(&a).unwrap();
    let text = &r.files["alpha"]
        .iter()
        .find(|(n, _)| n == "serviceexport-default-echo.yaml")
        .unwrap()
        .1;
    assert!(text.contains("2030-01-01T00:00:00Z"), "{text}");
    a.now = Some("yesterday".into());
    assert!(matches!(render(&a), Err(RenderError::Usage(_))));
}

#[test]
fn invalid_yaml_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let a = RenderArgs {
        clusterset: None,
        input: case("bad/syntax"),
        output: tmp.path().join("out"),
        now: None,
        clusterset_cidrs: Vec::new(),
        istio: false,
    };
    let err = render(&a).err().unwrap();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("broken.yaml"), "{err}");
}

#[test]
fn missing_kind_names_document_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let a = RenderArgs {
        clusterset: None,
        input: case("bad/nokind"),
        output: tmp.path().join("out"),
        now: None,
        clusterset_cidrs: Vec::new(),
        istio: false,
    };
    let err = render(&a).err().unwrap().to_string();
    assert!(
        err.contains("objs.yaml") && err.contains("document 2") && err.contains("kind"),
        "{err}"
    );
}

#[test]
fn folder_outside_the_clusterset_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(input.join("east")).unwrap();
    std::fs::create_dir_all(input.join("mars")).unwrap();
    let a = RenderArgs {
        clusterset: Some(case("basic").join("clusterset.yaml")),
        input,
        output: tmp.path().join("out"),
        now: None,
        clusterset_cidrs: Vec::new(),
        istio: false,
    };
    let err = render(&a).err().unwrap();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("mars"), "{err}");
}

#[test]
fn foreign_non_empty_output_is_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let r = render(&args("single", false, &out)).unwrap();
    let err = write(&out, &r).err().unwrap();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );
}
