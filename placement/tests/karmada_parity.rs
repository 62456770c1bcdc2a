//! Decisions checked against Karmada: the tables in `placement/testdata/karmada-parity/`
//! (each case names the upstream test or document it comes from), run through the library
//! the way `isthmus place` runs them. `cli/tests/place_karmada.rs` runs the same tables
//! through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use isthmus_placement::{load, match_policy, render_manifests, schedule};
use isthmus_testing::placement_tables::{Case, Table, tables};
use serde_json::Value;

/// The outcome in the shape of `isthmus place -o json`: placements, observed affinity,
/// error reason, manifests.
struct Outcome {
    placements: Option<BTreeMap<String, i32>>,
    observed_affinity: Option<String>,
    error: Option<String>,
    manifests: BTreeMap<String, Value>,
}

fn run(table: &Table, case: &Case) -> Outcome {
    let inputs = case.inputs(table);
    let clusters = load::clusters_from_yaml("clusters", &inputs.clusters).unwrap();
    let policies = load::policies_from_yaml("policies", &inputs.policies).unwrap();
    let doc = inputs.resource;
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
