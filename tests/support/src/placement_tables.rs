//! The placement decision tables of `placement/testdata/karmada-parity/` (each case names the
//! Karmada test or document it comes from): their format, and each case's inputs with the
//! table's shared ones filled in. The library tests and the `isthmus place` tests read them
//! through this one module.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::paths::testdata;

/// One table file: shared inputs and the cases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Clusters YAML shared by the cases.
    pub clusters: Option<String>,
    /// Policies YAML shared by the cases.
    pub policies: Option<String>,
    /// Resource YAML shared by the cases.
    pub resource: Option<String>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One decision.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Case {
    /// Its name.
    pub name: String,
    /// The Karmada test or document it comes from.
    pub source: String,
    /// Clusters YAML, instead of the table's.
    pub clusters: Option<String>,
    /// Policies YAML, instead of the table's.
    pub policies: Option<String>,
    /// Resource YAML, instead of the table's.
    pub resource: Option<String>,
    /// `spec.replicas` of the resource.
    pub replicas: Option<i64>,
    /// `metadata.uid` of the resource.
    pub uid: Option<String>,
    /// Replicas already placed, per cluster.
    #[serde(default)]
    pub previous: BTreeMap<String, i32>,
    /// The affinity group observed so far.
    pub observed_affinity: Option<String>,
    /// The expected outcome.
    pub want: Want,
}

/// The expected outcome, in the shape of `isthmus place -o json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Want {
    /// Replicas per cluster.
    pub placements: Option<BTreeMap<String, i32>>,
    /// The observed affinity afterwards.
    pub observed_affinity: Option<String>,
    /// The error reason.
    pub error: Option<String>,
    /// Fields of the rendered manifest per cluster.
    #[serde(default)]
    pub manifests: BTreeMap<String, BTreeMap<String, Value>>,
}

/// A case's inputs: the case's own or else the table's, the resource with the case's replicas
/// and uid set.
pub struct Inputs {
    /// Clusters YAML.
    pub clusters: String,
    /// Policies YAML.
    pub policies: String,
    /// The resource (first document of the resource YAML).
    pub resource: Value,
}

impl Case {
    /// The inputs of this case of `table`.
    pub fn inputs(&self, table: &Table) -> Inputs {
        let pick = |own: &Option<String>, shared: &Option<String>, what: &str| {
            own.clone()
                .or_else(|| shared.clone())
                .unwrap_or_else(|| panic!("{}: no {what}", self.name))
        };
        let text = pick(&self.resource, &table.resource, "resource");
        let mut docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: resource: {e}", self.name));
        assert!(!docs.is_empty(), "{}: empty resource", self.name);
        let mut resource = docs.remove(0);
        if let Some(r) = self.replicas {
            resource["spec"]["replicas"] = r.into();
        }
        if let Some(uid) = &self.uid {
            resource["metadata"]["uid"] = uid.clone().into();
        }
        Inputs {
            clusters: pick(&self.clusters, &table.clusters, "clusters"),
            policies: pick(&self.policies, &table.policies, "policies"),
            resource,
        }
    }
}

/// Every table, by file name, in name order.
pub fn tables() -> Vec<(String, Table)> {
    let dir = testdata("placement").join("karmada-parity");
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
