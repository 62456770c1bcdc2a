//! Conflict resolution across the exports of one service (KEP-1645 "Constraints and conflict
//! resolution"): the oldest ServiceExport (creationTimestamp, ties broken by cluster ID) wins
//! every property that cannot be merged; ports are the union, merged by name, and a port that
//! clashes with an established one is left out.

use std::collections::BTreeMap;

use isthmus_api::mcs::reason;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::SessionAffinityConfig;

use crate::model::{ClusterName, ExportObj, PortObj, ServiceObj};

/// One valid export of a service, from one active member.
#[derive(Clone, Debug)]
pub struct Constituent<'a> {
    /// The exporting cluster.
    pub cluster: &'a ClusterName,
    /// The ServiceExport.
    pub export: &'a ExportObj,
    /// The exported Service.
    pub service: &'a ServiceObj,
}

impl Constituent<'_> {
    /// Precedence key: oldest first, then cluster ID.
    pub fn precedence(&self) -> (Timestamp, &str) {
        (self.export.created, self.cluster.as_str())
    }
}

/// One kind of conflict on a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictEntry {
    /// The upstream reason (`PortConflict`...).
    pub reason: &'static str,
    /// What disagrees and which export won.
    pub message: String,
}

/// The properties of the derived (clusterset) service.
#[derive(Clone, Debug, PartialEq)]
pub struct Derived {
    /// Headless (`Headless` import) or not (`ClusterSetIP`).
    pub headless: bool,
    /// Ports: the winner's, then non-conflicting ports of the others in precedence order.
    pub ports: Vec<PortObj>,
    /// Session affinity.
    pub session_affinity: String,
    /// Session affinity config.
    pub session_affinity_config: Option<SessionAffinityConfig>,
    /// Internal traffic policy.
    pub internal_traffic_policy: Option<String>,
    /// Traffic distribution.
    pub traffic_distribution: Option<String>,
    /// IP families.
    pub ip_families: Vec<String>,
    /// Labels for the ServiceImport.
    pub labels: BTreeMap<String, String>,
    /// Annotations for the ServiceImport.
    pub annotations: BTreeMap<String, String>,
    /// Exporting clusters, sorted.
    pub clusters: Vec<ClusterName>,
    /// The winning cluster.
    pub winner: ClusterName,
    /// Conflicts, in the fixed reason order.
    pub conflicts: Vec<ConflictEntry>,
}

fn port_desc(p: &PortObj) -> String {
    let name = if p.name.is_empty() {
        "<unnamed>"
    } else {
        &p.name
    };
    match &p.app_protocol {
        Some(a) => format!("{name} {}/{} ({a})", p.port, p.protocol),
        None => format!("{name} {}/{}", p.port, p.protocol),
    }
}

fn itp(s: &ServiceObj) -> String {
    s.internal_traffic_policy
        .clone()
        .unwrap_or_else(|| "Cluster".to_owned())
}

fn show<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => "<unset>".to_owned(),
        Ok(other) => other.to_string(),
        Err(_) => "<unprintable>".to_owned(),
    }
}

/// Derives the clusterset service from its constituents (sorted or not). `None` when empty.
pub fn derive(constituents: &[Constituent<'_>]) -> Option<Derived> {
    let mut sorted: Vec<&Constituent<'_>> = constituents.iter().collect();
    sorted.sort_by(|a, b| a.precedence().cmp(&b.precedence()));
    let winner = *sorted.first()?;
    let total = sorted.len();
    let mut conflicts = Vec::new();

    // Ports.
    let mut ports: Vec<PortObj> = winner.service.ports.clone();
    let mut port_disagree = 0usize;
    let mut clashes: Vec<String> = Vec::new();
    for c in sorted.iter().skip(1) {
        let mut disagrees = false;
        for p in &c.service.ports {
            if let Some(existing) = ports.iter().find(|e| e.name == p.name) {
                if existing != p {
                    disagrees = true;
                    clashes.push(format!(
                        "{} in cluster {:?} vs {}",
                        port_desc(p),
                        c.cluster,
                        port_desc(existing)
                    ));
                }
            } else if let Some(existing) = ports
                .iter()
                .find(|e| e.port == p.port && e.protocol == p.protocol)
            {
                disagrees = true;
                clashes.push(format!(
                    "{} in cluster {:?} vs {}",
                    port_desc(p),
                    c.cluster,
                    port_desc(existing)
                ));
            } else {
                ports.push(p.clone());
            }
        }
        if disagrees {
            port_disagree += 1;
        }
    }
    if port_disagree > 0 {
        conflicts.push(ConflictEntry {
            reason: reason::PORT_CONFLICT,
            message: format!(
                "Conflicting ports. {port_disagree}/{total} clusters disagree ({}). Using ports from oldest service export in cluster {:?}.",
                clashes.join("; "),
                winner.cluster
            ),
        });
    }

    // Every other property: the winner's value; count the clusters that differ.
    let mut field = |reason: &'static str, name: &str, value: String, differs: usize| {
        if differs > 0 {
            conflicts.push(ConflictEntry {
                reason,
                message: format!(
                    "Conflicting {name}. {differs}/{total} clusters disagree. Using {value:?} from oldest service export in cluster {:?}.",
                    winner.cluster
                ),
            });
        }
    };
    let count = |f: &dyn Fn(&Constituent<'_>) -> bool| sorted.iter().filter(|c| f(c)).count();

    let w = winner.service;
    field(
        reason::TYPE_CONFLICT,
        "type",
        if w.headless {
            "Headless"
        } else {
            "ClusterSetIP"
        }
        .to_owned(),
        count(&|c| c.service.headless != w.headless),
    );
    field(
        reason::SESSION_AFFINITY_CONFLICT,
        "sessionAffinity",
        w.session_affinity.clone(),
        count(&|c| c.service.session_affinity != w.session_affinity),
    );
    field(
        reason::SESSION_AFFINITY_CONFIG_CONFLICT,
        "sessionAffinityConfig",
        show(&w.session_affinity_config),
        count(&|c| c.service.session_affinity_config != w.session_affinity_config),
    );
    field(
        reason::INTERNAL_TRAFFIC_POLICY_CONFLICT,
        "internalTrafficPolicy",
        itp(w),
        count(&|c| itp(c.service) != itp(w)),
    );
    field(
        reason::TRAFFIC_DISTRIBUTION_CONFLICT,
        "trafficDistribution",
        show(&w.traffic_distribution),
        count(&|c| c.service.traffic_distribution != w.traffic_distribution),
    );
    // An empty ipFamilies (not yet defaulted by an API server) agrees with anything.
    field(
        reason::IP_FAMILY_CONFLICT,
        "ipFamilies",
        w.ip_families.join(","),
        count(&|c| {
            !c.service.ip_families.is_empty()
                && !w.ip_families.is_empty()
                && c.service.ip_families != w.ip_families
        }),
    );
    let we = winner.export;
    field(
        reason::LABELS_CONFLICT,
        "exportedLabels",
        show(&we.exported_labels),
        count(&|c| c.export.exported_labels != we.exported_labels),
    );
    field(
        reason::ANNOTATIONS_CONFLICT,
        "exportedAnnotations",
        show(&we.exported_annotations),
        count(&|c| c.export.exported_annotations != we.exported_annotations),
    );

    let ip_families = if w.ip_families.is_empty() {
        sorted
            .iter()
            .find(|c| !c.service.ip_families.is_empty())
            .map(|c| c.service.ip_families.clone())
            .unwrap_or_default()
    } else {
        w.ip_families.clone()
    };
    let mut clusters: Vec<ClusterName> = sorted.iter().map(|c| c.cluster.clone()).collect();
    clusters.sort();
    clusters.dedup();
    Some(Derived {
        headless: w.headless,
        ports,
        session_affinity: w.session_affinity.clone(),
        session_affinity_config: w.session_affinity_config.clone(),
        internal_traffic_policy: w.internal_traffic_policy.clone(),
        traffic_distribution: w.traffic_distribution.clone(),
        ip_families,
        labels: we.exported_labels.clone(),
        annotations: we.exported_annotations.clone(),
        clusters,
        winner: winner.cluster.clone(),
        conflicts,
    })
}

/// The Conflict condition reason: the reasons joined by commas.
pub fn joined_reason(conflicts: &[ConflictEntry]) -> String {
    conflicts
        .iter()
        .map(|c| c.reason)
        .collect::<Vec<_>>()
        .join(",")
}

/// The Conflict condition message: the messages joined.
pub fn joined_message(conflicts: &[ConflictEntry]) -> String {
    conflicts
        .iter()
        .map(|c| c.message.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
