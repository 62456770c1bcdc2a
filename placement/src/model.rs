//! Typed policy documents: the `spec` shapes of Karmada's `policy.karmada.io/v1alpha1` kinds,
//! also accepted under `placement.isthmus.io/v1alpha1`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// API group of Karmada's policy kinds.
pub const KARMADA_POLICY_GROUP: &str = "policy.karmada.io";
/// API group of the same kinds under this project's own name.
pub const ISTHMUS_PLACEMENT_GROUP: &str = "placement.isthmus.io";
/// The one served version of both groups.
pub const POLICY_VERSION: &str = "v1alpha1";

/// Label selector (`metav1.LabelSelector`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact label matches.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based label requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` / `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Field selector on cluster properties (`provider`, `region`, `zone`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSelector {
    /// Node-selector style requirements.
    #[serde(default)]
    pub match_expressions: Vec<FieldSelectorRequirement>,
}

/// One field requirement (`corev1.NodeSelectorRequirement`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSelectorRequirement {
    /// `provider`, `region` or `zone`.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt` or `Lt`.
    pub operator: String,
    /// Operand values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A group of clusters (`ClusterAffinity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAffinity {
    /// Matched by cluster labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Matched by cluster properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<FieldSelector>,
    /// Matched by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_names: Vec<String>,
    /// Never matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// A named affinity group in `clusterAffinities`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAffinityTerm {
    /// Unique name of the group.
    pub affinity_name: String,
    /// The group itself.
    #[serde(flatten)]
    pub affinity: ClusterAffinity,
    /// Overflow tiers used in order once the group's clusters are full (`None` when the
    /// field is absent; Karmada distinguishes an empty list from an absent one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow_affinities: Option<Vec<OverflowClusterAffinity>>,
}

/// An overflow tier of a `clusterAffinities` group (`OverflowClusterAffinity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverflowClusterAffinity {
    /// Name of the tier.
    pub affinity_name: String,
    /// The tier's clusters.
    #[serde(flatten)]
    pub affinity: ClusterAffinity,
}

/// A toleration of cluster taints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// Taint key; empty with `Exists` matches every key.
    #[serde(default)]
    pub key: String,
    /// `Equal` (default) or `Exists`.
    #[serde(default)]
    pub operator: String,
    /// Taint value for `Equal`.
    #[serde(default)]
    pub value: String,
    /// Taint effect; empty matches all effects.
    #[serde(default)]
    pub effect: String,
    /// How long a `NoExecute` taint is tolerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// A spread constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpreadConstraint {
    /// `cluster`, `region`, `zone` or `provider`.
    #[serde(default)]
    pub spread_by_field: String,
    /// A cluster label key.
    #[serde(default)]
    pub spread_by_label: String,
    /// Upper bound on the number of groups.
    #[serde(default)]
    pub max_groups: i64,
    /// Lower bound on the number of groups.
    #[serde(default)]
    pub min_groups: i64,
}

/// A static weight rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticClusterWeight {
    /// Clusters the weight applies to.
    pub target_cluster: ClusterAffinity,
    /// The weight (>= 1).
    pub weight: i64,
}

/// Weight preferences for `Weighted` division.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPreferences {
    /// Static weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_weight_list: Vec<StaticClusterWeight>,
    /// `AvailableReplicas`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dynamic_weight: String,
}

/// Replica scheduling strategy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSchedulingStrategy {
    /// `Duplicated` or `Divided` (default `Divided`).
    #[serde(default)]
    pub replica_scheduling_type: String,
    /// `Aggregated` or `Weighted` (default `Weighted` when divided).
    #[serde(default)]
    pub replica_division_preference: String,
    /// Weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_preference: Option<ClusterPreferences>,
}

/// Where and how a resource is placed (`Placement`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Single affinity group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_affinity: Option<ClusterAffinity>,
    /// Ordered affinity groups with failover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_affinities: Vec<ClusterAffinityTerm>,
    /// Tolerations of cluster taints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_tolerations: Vec<Toleration>,
    /// Spread constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread_constraints: Vec<SpreadConstraint>,
    /// Replica strategy; absent means `Duplicated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_scheduling: Option<ReplicaSchedulingStrategy>,
    /// Accepted for compatibility; see docs/placement.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_affinity: Option<serde_json::Value>,
}

/// A resource selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSelector {
    /// Exact apiVersion.
    pub api_version: String,
    /// Exact kind.
    pub kind: String,
    /// Namespace; empty matches every namespace.
    #[serde(default)]
    pub namespace: String,
    /// Name; takes precedence over the label selector.
    #[serde(default)]
    pub name: String,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
}

/// `PropagationSpec` (fields the placement engine uses; every other CRD field is accepted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropagationSpec {
    /// Which resource templates the policy claims.
    pub resource_selectors: Vec<ResourceSelector>,
    /// Placement rules.
    #[serde(default)]
    pub placement: Placement,
    /// Explicit priority (default 0).
    #[serde(default)]
    pub priority: i32,
    /// `Always` or `Never` (default).
    #[serde(default)]
    pub preemption: String,
}

/// One overrider set (`Overriders`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overriders {
    /// JSON patch operations.
    #[serde(default)]
    pub plaintext: Vec<PlaintextOverrider>,
    /// Image rewrites.
    #[serde(default)]
    pub image_overrider: Vec<ImageOverrider>,
    /// Container command edits.
    #[serde(default)]
    pub command_overrider: Vec<CommandArgsOverrider>,
    /// Container args edits.
    #[serde(default)]
    pub args_overrider: Vec<CommandArgsOverrider>,
    /// Label edits.
    #[serde(default)]
    pub labels_overrider: Vec<LabelAnnotationOverrider>,
    /// Annotation edits.
    #[serde(default)]
    pub annotations_overrider: Vec<LabelAnnotationOverrider>,
    /// Edits inside JSON/YAML documents held in string fields.
    #[serde(default)]
    pub field_overrider: Vec<FieldOverrider>,
}

/// A JSON patch operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaintextOverrider {
    /// JSON pointer.
    pub path: String,
    /// `add`, `remove` or `replace`.
    pub operator: String,
    /// Operand.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

/// Image rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageOverrider {
    /// Where the image is; absent means the kind's default container paths.
    #[serde(default)]
    pub predicate: Option<ImagePredicate>,
    /// `Registry`, `Repository` or `Tag`.
    pub component: String,
    /// `add`, `remove` or `replace`.
    pub operator: String,
    /// Operand.
    #[serde(default)]
    pub value: String,
}

/// Path of an image string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePredicate {
    /// JSON pointer to the image string.
    pub path: String,
}

/// Command or args edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandArgsOverrider {
    /// Container name.
    pub container_name: String,
    /// `add` or `remove`.
    pub operator: String,
    /// Items.
    #[serde(default)]
    pub value: Vec<String>,
}

/// Labels or annotations edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelAnnotationOverrider {
    /// `add`, `remove` or `replace`.
    pub operator: String,
    /// Keys and values.
    #[serde(default)]
    pub value: BTreeMap<String, String>,
}

/// Edits of a JSON or YAML document held in a string field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldOverrider {
    /// JSON pointer to the string field.
    pub field_path: String,
    /// Operations when the string is JSON.
    #[serde(default)]
    pub json: Vec<SubPatch>,
    /// Operations when the string is YAML.
    #[serde(default)]
    pub yaml: Vec<SubPatch>,
}

/// One operation inside a sub-document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubPatch {
    /// JSON pointer inside the sub-document.
    pub sub_path: String,
    /// `add`, `remove` or `replace`.
    pub operator: String,
    /// Operand.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

/// An override rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleWithCluster {
    /// Clusters the rule applies to; absent means all.
    #[serde(default)]
    pub target_cluster: Option<ClusterAffinity>,
    /// What to change.
    #[serde(default)]
    pub overriders: Overriders,
}

/// `OverrideSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideSpec {
    /// Which resources; empty means all.
    #[serde(default)]
    pub resource_selectors: Vec<ResourceSelector>,
    /// Rules, applied in order.
    #[serde(default)]
    pub override_rules: Vec<RuleWithCluster>,
    /// Legacy single-rule target.
    #[serde(default)]
    pub target_cluster: Option<ClusterAffinity>,
    /// Legacy single-rule overriders.
    #[serde(default)]
    pub overriders: Option<Overriders>,
}

/// Scope of a policy document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PolicyScope {
    /// `PropagationPolicy` / `OverridePolicy`.
    Namespaced,
    /// `ClusterPropagationPolicy` / `ClusterOverridePolicy`.
    Cluster,
}

/// A propagation policy of either scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropagationPolicy {
    /// Scope (namespaced or cluster).
    pub scope: PolicyScope,
    /// API group it was written under.
    pub group: String,
    /// Namespace (empty for cluster scope).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Defaulted spec.
    pub spec: PropagationSpec,
}

impl PropagationPolicy {
    /// `PropagationPolicy` or `ClusterPropagationPolicy`.
    pub fn kind(&self) -> &'static str {
        match self.scope {
            PolicyScope::Namespaced => "PropagationPolicy",
            PolicyScope::Cluster => "ClusterPropagationPolicy",
        }
    }
}

/// An override policy of either scope.
#[derive(Debug, Clone, PartialEq)]
pub struct OverridePolicy {
    /// Scope (namespaced or cluster).
    pub scope: PolicyScope,
    /// API group it was written under.
    pub group: String,
    /// Namespace (empty for cluster scope).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Spec.
    pub spec: OverrideSpec,
}

impl OverridePolicy {
    /// `OverridePolicy` or `ClusterOverridePolicy`.
    pub fn kind(&self) -> &'static str {
        match self.scope {
            PolicyScope::Namespaced => "OverridePolicy",
            PolicyScope::Cluster => "ClusterOverridePolicy",
        }
    }
}

/// The policies read from a file.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Propagation policies, in file order.
    pub propagation: Vec<PropagationPolicy>,
    /// Override policies, in file order.
    pub overrides: Vec<OverridePolicy>,
}
