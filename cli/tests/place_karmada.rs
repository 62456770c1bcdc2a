//! Decisions checked against Karmada, through the `isthmus place` binary: every case of the
//! tables in `placement/testdata/karmada-parity/` (each naming the upstream test or document
//! it comes from) is written out as the command's input files and its JSON output compared
//! with the case's `want`. `placement/tests/karmada_parity.rs` runs the same tables through
//! the library.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use isthmus_testing::placement_tables::{Case, Table, tables};
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `isthmus place ... -o json` for the case: exit code and output.
fn place(dir: &Path, table: &Table, case: &Case) -> (i32, Value) {
    let inputs = case.inputs(table);
    let clusters = write(dir, "clusters.yaml", &inputs.clusters);
    let policies = write(dir, "policies.yaml", &inputs.policies);
    let resource = inputs.resource;
    // JSON is YAML: the command reads it like any resource file
    let resource = write(dir, "resource.yaml", &resource.to_string());
    let mut args = vec![
        "place".to_string(),
        "--clusters".into(),
        clusters,
        "--policies".into(),
        policies,
        "--resource".into(),
        resource,
        "-o".into(),
        "json".into(),
    ];
    if !case.previous.is_empty() {
        let text: String = case
            .previous
            .iter()
            .map(|(c, r)| format!("{c}: {r}\n"))
            .collect();
        args.extend(["--previous".into(), write(dir, "previous.yaml", &text)]);
    }
    if let Some(a) = &case.observed_affinity {
        args.extend(["--observed-affinity".into(), a.clone()]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: {stdout} {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn karmada_parity_tables_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let mut count = 0;
    for (file, table) in tables() {
        for case in &table.cases {
            let what = format!("{file}: {} ({})", case.name, case.source);
            let (code, out) = place(dir.path(), &table, case);
            let want = &case.want;
            assert_eq!(
                code,
                if want.error.is_some() { 1 } else { 0 },
                "{what}: exit code, output {out}"
            );
            assert_eq!(
                out["error"]["reason"].as_str(),
                want.error.as_deref(),
                "{what}: error"
            );
            let placements: Option<BTreeMap<String, i32>> =
                serde_json::from_value(out["placements"].clone()).unwrap();
            assert_eq!(placements, want.placements, "{what}: placements");
            assert_eq!(
                out["observedAffinity"].as_str(),
                want.observed_affinity.as_deref(),
                "{what}: observed affinity"
            );
            for (cluster, fields) in &want.manifests {
                let m = &out["manifests"][cluster];
                for (pointer, value) in fields {
                    assert_eq!(
                        m.pointer(pointer),
                        Some(value),
                        "{what}: {cluster} {pointer}"
                    );
                }
            }
            count += 1;
        }
    }
    assert!(count >= 20, "only {count} cases");
}
