//! Decisions checked against Karmada: the tables in `placement/testdata/karmada-parity/`
//! (each case names the upstream test or document it comes from), run through the library
//! the way `isthmus place` runs them. `cli/tests/place_karmada.rs` runs the same tables
//! through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use isthmus_placement::{load, match_policy, render_manifests, schedule};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    clusters: Option<String>,
    policies: Option<String>,
    resource: Option<String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    name: String,
    source: String,
    clusters: Option<String>,
    policies: Option<String>,
    resource: Option<String>,
    replicas: Option<i64>,
    uid: Option<String>,
    #[serde(default)]
    previous: BTreeMap<String, i32>,
    observed_affinity: Option<String>,
    want: Want,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Want {
    placements: Option<BTreeMap<String, i32>>,
    observed_affinity: Option<String>,
    error: Option<String>,
    #[serde(default)]
    manifests: BTreeMap<String, BTreeMap<String, Value>>,
}

fn tables() -> Vec<(String, Table)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/karmada-parity");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no tables in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let table: Table =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), table)
        })
        .collect()
}

/// The outcome in the shape of `isthmus place -o json`: placements, observed affinity,
/// error reason, manifests.
struct Outcome {
    placements: Option<BTreeMap<String, i32>>,
    observed_affinity: Option<String>,
    error: Option<String>,
    manifests: BTreeMap<String, Value>,
}

fn run(table: &Table, case: &Case) -> Outcome {
    let pick = |own: &Option<String>, shared: &Option<String>, what: &str| {
        own.clone()
            .or_else(|| shared.clone())
            .unwrap_or_else(|| panic!("{}: no {what}", case.name))
    };
    let clusters = load::clusters_from_yaml(
        "clusters",
        &pick(&case.clusters, &table.clusters, "clusters"),
    )
    .unwrap();
    let policies = load::policies_from_yaml(
        "policies",
        &pick(&case.policies, &table.policies, "policies"),
    )
    .unwrap();
    let mut docs = load::parse_documents(
        "resource",
        &pick(&case.resource, &table.resource, "resource"),
    )
    .unwrap();
    let mut doc = docs.remove(0);
    if let Some(r) = case.replicas {
        doc["spec"]["replicas"] = r.into();
    }
    if let Some(uid) = &case.uid {
        doc["metadata"]["uid"] = uid.clone().into();
    }
    let resource = isthmus_placement::Resource::from_value(doc).unwrap();
    let mut out = Outcome {
        placements: None,
        observed_affinity: None,
        error: None,
        manifests: BTreeMap::new(),
    };
    let Some(policy) = match_policy(&resource, &policies.propagation, None) else {
        out.error = Some("NoMatchingPolicy".into());
        return out;
    };
    match schedule(
        &policy.spec.placement,
        &resource,
        &clusters,
        &case.previous,
        case.observed_affinity.as_deref(),
    ) {
        Ok(d) => {
            out.manifests = render_manifests(
                &resource,
                &policy.spec.placement,
                &d.placements,
                &clusters,
                &policies.overrides,
            )
            .unwrap();
            out.placements = Some(d.placements);
            out.observed_affinity = d.observed_affinity;
        }
        Err(e) => out.error = Some(e.reason().to_string()),
    }
    out
}

#[test]
fn karmada_parity_tables() {
    let mut count = 0;
    for (file, table) in tables() {
        for case in &table.cases {
            let what = format!("{file}: {} ({})", case.name, case.source);
            let got = run(&table, case);
            assert_eq!(got.error, case.want.error, "{what}: error");
            assert_eq!(got.placements, case.want.placements, "{what}: placements");
            assert_eq!(
                got.observed_affinity, case.want.observed_affinity,
                "{what}: observed affinity"
            );
            for (cluster, fields) in &case.want.manifests {
                let m = got
                    .manifests
                    .get(cluster)
                    .unwrap_or_else(|| panic!("{what}: no manifest for {cluster}"));
                for (pointer, want) in fields {
                    assert_eq!(
                        m.pointer(pointer),
                        Some(want),
                        "{what}: {cluster} {pointer}"
                    );
                }
            }
            count += 1;
        }
    }
    assert!(count >= 20, "only {count} cases");
}
