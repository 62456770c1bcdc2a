//! Member clusters as the scheduler sees them, read from our `MemberCluster`
//! (`isthmus.io/v1alpha1`) or Karmada's `Cluster` (`cluster.karmada.io/v1alpha1`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::quantity;

/// A cluster taint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl std::fmt::Display for Taint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect)
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

/// API resources a cluster serves for one group/version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEnablement {
    /// `apps/v1`, `v1`, ...
    pub group_version: String,
    /// Kinds served.
    pub kinds: Vec<String>,
}

/// Resource summary in milli-units per resource name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceSummary {
    allocatable: BTreeMap<String, i128>,
    allocated: BTreeMap<String, i128>,
    allocating: BTreeMap<String, i128>,
    /// allocatable - allocated - allocating for every named resource, precomputed
    allowed: Vec<(String, i128)>,
}

impl ResourceSummary {
    /// A summary from allocatable, allocated and allocating amounts (milli-units).
    pub fn new(
        allocatable: BTreeMap<String, i128>,
        allocated: BTreeMap<String, i128>,
        allocating: BTreeMap<String, i128>,
    ) -> Self {
        let mut names: Vec<&String> = allocatable
            .keys()
            .chain(allocated.keys())
            .chain(allocating.keys())
            .collect();
        names.sort();
        names.dedup();
        let get = |m: &BTreeMap<String, i128>, k: &str| m.get(k).copied().unwrap_or(0);
        let allowed = names
            .into_iter()
            .map(|k| {
                (
                    k.clone(),
                    get(&allocatable, k) - get(&allocated, k) - get(&allocating, k),
                )
            })
            .collect();
        Self {
            allocatable,
            allocated,
            allocating,
            allowed,
        }
    }

    /// Total allocatable.
    pub fn allocatable(&self) -> &BTreeMap<String, i128> {
        &self.allocatable
    }

    /// Already requested by running pods.
    pub fn allocated(&self) -> &BTreeMap<String, i128> {
        &self.allocated
    }

    /// Requested by pods being scheduled.
    pub fn allocating(&self) -> &BTreeMap<String, i128> {
        &self.allocating
    }

    /// allocatable - allocated - allocating, in milli-units.
    pub fn allowed_milli(&self, resource: &str) -> i128 {
        self.allowed
            .iter()
            .find(|(k, _)| k == resource)
            .map_or(0, |(_, v)| *v)
    }
}

/// One member cluster, projected to what placement needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// Cluster name.
    pub name: String,
    /// Cluster labels.
    pub labels: BTreeMap<String, String>,
    /// Cloud provider.
    pub provider: String,
    /// Region.
    pub region: String,
    /// Zone (single).
    pub zone: String,
    /// Zones (multi-zone clusters).
    pub zones: Vec<String>,
    /// Network name (Isthmus only; informational).
    pub network: String,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Served APIs; empty when the cluster does not report them.
    pub api_enablements: Vec<ApiEnablement>,
    /// Resources; `None` when the cluster does not report them.
    pub resource_summary: Option<ResourceSummary>,
}

impl ClusterInfo {
    /// A cluster with just a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Builder: add a label.
    #[must_use]
    pub fn with_label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Builder: set provider, region and zone.
    #[must_use]
    pub fn with_location(mut self, provider: &str, region: &str, zone: &str) -> Self {
        self.provider = provider.into();
        self.region = region.into();
        self.zone = zone.into();
        self
    }

    /// Builder: add a taint.
    #[must_use]
    pub fn with_taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.taints.push(Taint {
            key: key.into(),
            value: value.into(),
            effect: effect.into(),
        });
        self
    }

    /// Builder: the cluster serves `kinds` of `group_version` (adds an API enablement).
    #[must_use]
    pub fn with_api(mut self, group_version: &str, kinds: &[&str]) -> Self {
        self.api_enablements.push(ApiEnablement {
            group_version: group_version.into(),
            kinds: kinds.iter().map(|k| (*k).to_string()).collect(),
        });
        self
    }

    /// Builder: set allocatable resources (whole units, e.g. `("pods", 10)`, `("cpu", 4)`).
    #[must_use]
    pub fn with_allocatable(mut self, resources: &[(&str, i64)]) -> Self {
        let old = self.resource_summary.take().unwrap_or_default();
        let mut allocatable = old.allocatable;
        for (name, units) in resources {
            allocatable.insert((*name).to_string(), i128::from(*units) * 1000);
        }
        self.resource_summary = Some(ResourceSummary::new(
            allocatable,
            old.allocated,
            old.allocating,
        ));
        self
    }

    /// The zones of the cluster: `zones`, or `[zone]` when only `zone` is set.
    pub fn all_zones(&self) -> Vec<&str> {
        if !self.zones.is_empty() {
            self.zones.iter().map(String::as_str).collect()
        } else if !self.zone.is_empty() {
            vec![self.zone.as_str()]
        } else {
            Vec::new()
        }
    }

    /// Value of a spread/field key (`provider`, `region`, `zone`); `None` when unset.
    pub fn field(&self, key: &str) -> Option<&str> {
        let v = match key {
            "provider" => self.provider.as_str(),
            "region" => self.region.as_str(),
            "zone" => {
                if !self.zone.is_empty() {
                    self.zone.as_str()
                } else {
                    return self.zones.first().map(String::as_str);
                }
            }
            _ => "",
        };
        (!v.is_empty()).then_some(v)
    }

    /// Whether the cluster serves `apiVersion`/`kind` (true when it reports no enablements).
    pub fn serves(&self, api_version: &str, kind: &str) -> bool {
        if self.api_enablements.is_empty() {
            return true;
        }
        self.api_enablements
            .iter()
            .any(|e| e.group_version == api_version && e.kinds.iter().any(|k| k == kind))
    }
}

/// Errors reading a cluster document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The document is neither a MemberCluster nor a Karmada Cluster.
    #[error(
        "document {index}: unsupported cluster kind {api_version}/{kind} (want isthmus.io/v1alpha1 MemberCluster or cluster.karmada.io/v1alpha1 Cluster)"
    )]
    UnsupportedKind {
        /// Document index in the file.
        index: usize,
        /// apiVersion.
        api_version: String,
        /// kind.
        kind: String,
    },
    /// A field has the wrong shape.
    #[error("document {index} ({kind} {name:?}): field {path}: {message}")]
    Field {
        /// Document index in the file.
        index: usize,
        /// kind.
        kind: String,
        /// metadata.name when known.
        name: String,
        /// Path of the field.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Two clusters share a name.
    #[error("document {index}: duplicate cluster name {name:?}")]
    Duplicate {
        /// Document index in the file.
        index: usize,
        /// The repeated name.
        name: String,
    },
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawApiResource {
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawApiEnablement {
    group_version: String,
    #[serde(default)]
    resources: Vec<RawApiResource>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawResourceSummary {
    #[serde(default)]
    allocatable: BTreeMap<String, Value>,
    #[serde(default)]
    allocated: BTreeMap<String, Value>,
    #[serde(default)]
    allocating: BTreeMap<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawClusterSpec {
    #[serde(default, deserialize_with = "null_default")]
    network: String,
    #[serde(default, deserialize_with = "null_default")]
    provider: String,
    #[serde(default, deserialize_with = "null_default")]
    region: String,
    #[serde(default, deserialize_with = "null_default")]
    zone: String,
    #[serde(default, deserialize_with = "null_default")]
    zones: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    taints: Vec<Taint>,
    #[serde(default, deserialize_with = "null_default")]
    api_enablements: Vec<RawApiEnablement>,
    #[serde(default)]
    resource_summary: Option<RawResourceSummary>,
}

/// Treat an explicit YAML null (`zone:`) as the default value.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawClusterStatus {
    #[serde(default)]
    api_enablements: Vec<RawApiEnablement>,
    #[serde(default)]
    resource_summary: Option<RawResourceSummary>,
}

#[derive(Deserialize)]
struct RawCluster {
    metadata: RawMeta,
    #[serde(default)]
    spec: RawClusterSpec,
    #[serde(default)]
    status: Option<RawClusterStatus>,
}

fn convert_summary(
    raw: RawResourceSummary,
    field_err: &dyn Fn(String, String) -> ClusterError,
    base: &str,
) -> Result<ResourceSummary, ClusterError> {
    let conv = |m: BTreeMap<String, Value>, part: &str| {
        m.into_iter()
            .map(|(k, v)| {
                quantity::parse_value_milli(&v)
                    .map(|q| (k.clone(), q))
                    .map_err(|e| field_err(format!("{base}.{part}.{k}"), e.to_string()))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
    };
    Ok(ResourceSummary::new(
        conv(raw.allocatable, "allocatable")?,
        conv(raw.allocated, "allocated")?,
        conv(raw.allocating, "allocating")?,
    ))
}

/// Read one cluster document (MemberCluster or Karmada Cluster); `index` names it in errors.
pub fn cluster_from_value(index: usize, doc: &Value) -> Result<ClusterInfo, ClusterError> {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let karmada = match (api_version, kind) {
        ("isthmus.io/v1alpha1", "MemberCluster") => false,
        ("cluster.karmada.io/v1alpha1", "Cluster") => true,
        _ => {
            return Err(ClusterError::UnsupportedKind {
                index,
                api_version: api_version.into(),
                kind: kind.into(),
            });
        }
    };
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let field_err = |path: String, message: String| ClusterError::Field {
        index,
        kind: kind.to_string(),
        name: name.clone(),
        path,
        message,
    };
    if karmada {
        crate::schema::validate_karmada_cluster(doc).map_err(|e| match e {
            crate::schema::ValidateError::Schema(s) => field_err(s.path, s.message),
            crate::schema::ValidateError::Load(l) => field_err("<schema>".into(), l.to_string()),
        })?;
    }
    let raw: RawCluster = serde_path_to_error::deserialize(doc)
        .map_err(|e| field_err(e.path().to_string(), e.inner().to_string()))?;
    if raw.metadata.name.is_empty() {
        return Err(field_err(
            "metadata.name".into(),
            "must not be empty".into(),
        ));
    }
    let spec = raw.spec;
    let status = raw.status.unwrap_or_default();
    let (enablements, summary, summary_path) = if karmada {
        (
            status.api_enablements,
            status.resource_summary,
            "status.resourceSummary",
        )
    } else {
        // a MemberCluster carries them in spec; a controller may also report them in status
        let enablements = if spec.api_enablements.is_empty() {
            status.api_enablements
        } else {
            spec.api_enablements
        };
        match spec.resource_summary {
            Some(s) => (enablements, Some(s), "spec.resourceSummary"),
            None => (
                enablements,
                status.resource_summary,
                "status.resourceSummary",
            ),
        }
    };
    let resource_summary = summary
        .map(|s| convert_summary(s, &field_err, summary_path))
        .transpose()?;
    for (i, t) in spec.taints.iter().enumerate() {
        if !matches!(
            t.effect.as_str(),
            "NoSchedule" | "PreferNoSchedule" | "NoExecute"
        ) {
            return Err(field_err(
                format!("spec.taints[{i}].effect"),
                format!(
                    "unsupported value {:?}, expected NoSchedule, PreferNoSchedule or NoExecute",
                    t.effect
                ),
            ));
        }
    }
    Ok(ClusterInfo {
        name: raw.metadata.name,
        labels: raw.metadata.labels,
        provider: spec.provider,
        region: spec.region,
        zone: spec.zone,
        zones: spec.zones,
        network: spec.network,
        taints: spec.taints,
        api_enablements: enablements
            .into_iter()
            .map(|e| ApiEnablement {
                group_version: e.group_version,
                kinds: e.resources.into_iter().map(|r| r.kind).collect(),
            })
            .collect(),
        resource_summary,
    })
}

/// Read all cluster documents, rejecting duplicate names.
pub fn clusters_from_values(docs: &[Value]) -> Result<Vec<ClusterInfo>, ClusterError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(docs.len());
    for (index, doc) in docs.iter().enumerate() {
        let c = cluster_from_value(index, doc)?;
        if !seen.insert(c.name.clone()) {
            return Err(ClusterError::Duplicate {
                index,
                name: c.name,
            });
        }
        out.push(c);
    }
    Ok(out)
}
