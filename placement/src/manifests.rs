//! Per-cluster manifests: the resource template with its replicas revised for the cluster,
//! then the applicable overrides.

use std::collections::BTreeMap;

use crate::cluster::ClusterInfo;
use crate::divide;
use crate::model::{OverridePolicy, Placement};
use crate::overrides::{OverrideError, apply_overrides};
use crate::resource::Resource;
use crate::schedule;

/// Per-cluster manifests: the resource template with its replica count revised for divided
/// placements (`spec.replicas`, or `spec.parallelism` plus proportional `spec.completions` for
/// Jobs), then every applicable override applied.
pub fn render_manifests(
    resource: &Resource,
    placement: &Placement,
    placements: &BTreeMap<String, i32>,
    clusters: &[ClusterInfo],
    overrides: &[OverridePolicy],
) -> Result<BTreeMap<String, serde_json::Value>, OverrideError> {
    let divided =
        resource.replicas > 0 && schedule::strategy_of(placement) != schedule::Strategy::Duplicated;
    let group = resource.api_version.split_once('/').map_or("", |(g, _)| g);
    let replica_field = match (group, resource.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet") => Some("replicas"),
        ("batch", "Job") => Some("parallelism"),
        _ => None,
    };
    let completions = resource
        .object
        .pointer("/spec/completions")
        .and_then(serde_json::Value::as_i64)
        .filter(|_| divided && replica_field == Some("parallelism"))
        .and_then(|c| i32::try_from(c).ok());
    let completions_split: BTreeMap<String, i32> = match completions {
        Some(total) => {
            // Karmada's divideReplicasByJobCompletions: completions by the clusters' replicas
            let weights: Vec<(String, i64)> = placements
                .iter()
                .map(|(n, r)| (n.clone(), i64::from(*r)))
                .collect();
            divide::dispense(total, &weights, &[], resource.tie_break())
                .into_iter()
                .collect()
        }
        None => BTreeMap::new(),
    };
    let mut out = BTreeMap::new();
    for (name, replicas) in placements {
        let Some(cluster) = clusters.iter().find(|c| c.name == *name) else {
            continue;
        };
        let mut revised = resource.clone();
        if divided
            && let Some(field) = replica_field
            && let Some(spec) = revised
                .object
                .get_mut("spec")
                .and_then(|s| s.as_object_mut())
        {
            spec.insert(field.into(), (*replicas).into());
            if let Some(c) = completions_split.get(name) {
                spec.insert("completions".into(), (*c).into());
            }
        }
        out.insert(name.clone(), apply_overrides(&revised, cluster, overrides)?);
    }
    Ok(out)
}
