//! The I/O half of propagation: reads the hub, writes the members and the policies' status.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use isthmus_api::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_VALUE};
use isthmus_placement::PolicyRef;
use isthmus_placement::cluster::{ClusterInfo, cluster_from_value};
use isthmus_placement::model::{OverridePolicy, PolicyScope};
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::ObjKey;
use super::plan::{self, Binding, PlanInput, PolicyDoc, SERVICE_EXPORT_API_VERSION};
use crate::ownership::TEMPLATE_LABEL;
use crate::resource::{api_resource, dyn_api};
use isthmus_api::crd::{
    PLACEMENT_API_VERSION, PlacementFailure, PropagationStatus, ResourcePlacement,
};

/// `mesh-controller run` flags of propagation (hub mode).
#[derive(Clone, Debug, clap::Args)]
pub struct PropagationArgs {
    /// Propagate resource templates from the hub to the members per the hub's
    /// `placement.isthmus.io` policies (hub mode only); `--propagation=false` turns it off.
    #[arg(long = "propagation", value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// How often propagation re-reads the hub and writes the members.
    #[arg(long = "propagation-period", value_name = "DUR", default_value = "2s", value_parser = isthmus_api::duration::parse_flag)]
    pub period: Duration,
}

impl PropagationArgs {
    /// The settings, or `None` when propagation is off.
    pub fn config(&self) -> Option<PropagationConfig> {
        self.enabled.then(|| PropagationConfig {
            period: self.period,
            ..PropagationConfig::default()
        })
    }
}

/// Propagation settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropagationConfig {
    /// Pass period.
    pub period: Duration,
    /// Longest time one pass may take (the rest waits for the next pass).
    pub pass_timeout: Duration,
    /// Every this many passes, re-apply everything and prune by listing the members.
    pub full_every: u64,
}

impl Default for PropagationConfig {
    /// 2 s period, 30 s pass timeout, a full pass every 150 passes (5 min at 2 s).
    fn default() -> Self {
        Self {
            period: Duration::from_secs(2),
            pass_timeout: Duration::from_secs(30),
            full_every: 150,
        }
    }
}

/// Counts of one pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Templates claimed by a policy.
    pub bindings: usize,
    /// Objects written to members.
    pub applied: usize,
    /// Objects deleted from members.
    pub pruned: usize,
    /// Policy statuses written.
    pub statuses: usize,
    /// Failed requests.
    pub errors: usize,
}

/// Kinds always listed when pruning by listing, besides those seen since start: a policy
/// deleted while the controller was down still has its copies of these removed.
const PRUNED_KINDS: [(&str, &str); 10] = [
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"),
    (SERVICE_EXPORT_API_VERSION, "ServiceExport"),
];

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn to_json(o: DynamicObject) -> Option<Value> {
    serde_json::to_value(o).ok()
}

/// Lists every object of a kind on `client`; `Ok(None)` when the kind is not served.
async fn list_all(
    client: &Client,
    api_version: &str,
    kind: &str,
    labels: Option<&str>,
) -> Result<Option<Vec<Value>>, kube::Error> {
    let ar = api_resource(api_version, kind);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let mut lp = ListParams::default();
    if let Some(l) = labels {
        lp = lp.labels(l);
    }
    match api.list(&lp).await {
        Ok(list) => Ok(Some(
            list.items
                .into_iter()
                .filter_map(|mut o| {
                    // list items carry no type metadata; the dynamic type knows it
                    o.types = Some(kube::core::TypeMeta {
                        api_version: api_version.to_owned(),
                        kind: kind.to_owned(),
                    });
                    to_json(o)
                })
                .collect(),
        )),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn content_hash(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

/// Order of writes: what workloads refer to first, ServiceExports last.
fn write_rank(k: &ObjKey) -> u8 {
    match k.kind.as_str() {
        "Namespace" => 0,
        "ServiceAccount" | "ConfigMap" | "Secret" | "PersistentVolumeClaim" => 1,
        "ServiceExport" => 3,
        _ => 2,
    }
}

fn policy_kind(scope: PolicyScope) -> &'static str {
    match scope {
        PolicyScope::Namespaced => "PropagationPolicy",
        PolicyScope::Cluster => "ClusterPropagationPolicy",
    }
}

/// A policy's kind, identity and status.
type KindStatus = (String, PolicyRef, PropagationStatus);

/// What reading the propagation policies gives: the valid ones, the invalid ones, and each
/// valid one's object (for its recorded status).
type ReadPolicies = (Vec<PolicyDoc>, Vec<KindStatus>, Vec<(PolicyRef, Value)>);

/// State kept between passes.
pub struct Propagator {
    cfg: PropagationConfig,
    members: BTreeMap<String, Client>,
    bindings: BTreeMap<ObjKey, Binding>,
    /// Cluster -> object -> content hash of what was last applied there.
    applied: BTreeMap<String, HashMap<ObjKey, u64>>,
    /// Cluster -> namespaces known to exist.
    namespaces: BTreeMap<String, BTreeSet<String>>,
    /// Kinds written since start (pruned by listing on full passes).
    seen_kinds: BTreeSet<(String, String)>,
    /// Policy -> hash of the status last written.
    statuses: HashMap<(String, PolicyRef), u64>,
    /// Members that were unreachable in the last pass (their caches are dropped on return).
    unreachable: BTreeSet<String>,
    /// Members whose next sync re-applies everything and prunes by listing.
    resync: BTreeSet<String>,
    passes: u64,
    seeded: bool,
}

impl Propagator {
    /// A propagator with no members yet.
    pub fn new(cfg: PropagationConfig) -> Self {
        Self {
            cfg,
            members: BTreeMap::new(),
            bindings: BTreeMap::new(),
            applied: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            seen_kinds: PRUNED_KINDS
                .iter()
                .map(|(a, k)| ((*a).to_owned(), (*k).to_owned()))
                .collect(),
            statuses: HashMap::new(),
            unreachable: BTreeSet::new(),
            resync: BTreeSet::new(),
            passes: 0,
            seeded: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &PropagationConfig {
        &self.cfg
    }

    /// Replaces the member clients (the member list changed); the next pass is a full one.
    pub fn set_members(&mut self, members: BTreeMap<String, Client>) {
        self.members = members;
        self.applied.clear();
        self.namespaces.clear();
        self.passes = 0;
    }

    /// Forgets the decisions kept in memory, so the next pass takes them from the policies'
    /// status (after this replica was not the leader for a while: another one decided).
    pub fn reseed(&mut self) {
        self.seeded = false;
        self.bindings.clear();
        self.applied.clear();
        self.statuses.clear();
        self.passes = 0;
    }

    /// The current bindings (template -> decision).
    pub fn bindings(&self) -> &BTreeMap<ObjKey, Binding> {
        &self.bindings
    }

    /// One pass. `unreachable` names the members the controller cannot reach now.
    pub async fn pass(&mut self, hub: &Client, unreachable: &BTreeSet<String>) -> PassReport {
        let mut report = PassReport::default();
        let full = self.passes.is_multiple_of(self.cfg.full_every.max(1));
        self.passes += 1;
        // Members back from unreachable get everything re-applied.
        for back in self.unreachable.difference(unreachable) {
            self.applied.remove(back);
            self.namespaces.remove(back);
            self.resync.insert(back.clone());
        }
        self.unreachable = unreachable.clone();

        // 1. Clusters.
        let clusters = match self.clusters(hub).await {
            Ok(c) => plan::with_reachability(&c, unreachable),
            Err(e) => {
                warn!(error = %e, "propagation: cannot list MemberClusters; pass skipped");
                report.errors += 1;
                return report;
            }
        };
        // 2. Policies.
        let Some((policies, invalid, raw)) = self.propagation_policies(hub, &mut report).await
        else {
            return report;
        };
        let Some(overrides) = self.override_policies(hub, &mut report).await else {
            return report;
        };
        if !self.seeded {
            // After a restart, the decisions recorded in the policies' status are the previous
            // ones: divided workloads keep their assignment, affinity groups do not fail back.
            self.bindings = bindings_from_status(&raw);
            self.seeded = true;
        }
        // 3. Templates of the selected kinds.
        let mut kinds: BTreeSet<(String, String)> = BTreeSet::new();
        for d in &policies {
            for rs in &d.policy.spec.resource_selectors {
                kinds.insert((rs.api_version.clone(), rs.kind.clone()));
            }
        }
        let mut templates = Vec::new();
        for (av, kind) in &kinds {
            match list_all(hub, av, kind, None).await {
                Ok(Some(items)) => templates.extend(items),
                Ok(None) => debug!(kind = %kind, "propagation: kind not served by the hub"),
                Err(e) => {
                    warn!(kind = %kind, error = %e, "propagation: cannot list templates; pass skipped");
                    report.errors += 1;
                    return report;
                }
            }
        }
        // 4. Dependencies.
        let mut dependencies = BTreeMap::new();
        for dk in plan::wanted_dependencies(&templates, &policies, &self.bindings) {
            let ar = api_resource(&dk.api_version, &dk.kind);
            match dyn_api(hub, &ar, &dk.namespace).get_opt(&dk.name).await {
                Ok(Some(mut o)) => {
                    o.types = Some(kube::core::TypeMeta {
                        api_version: dk.api_version.clone(),
                        kind: dk.kind.clone(),
                    });
                    if let Some(v) = to_json(o) {
                        dependencies.insert(dk, v);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    // a partial read would prune the dependency's copies: skip the pass
                    warn!(dependency = %dk.display(), error = %e, "propagation: cannot read dependency; pass skipped");
                    report.errors += 1;
                    return report;
                }
            }
        }
        // 5. Decide.
        let mut out = plan::plan(PlanInput {
            clusters: &clusters,
            policies: &policies,
            overrides: &overrides,
            templates: &templates,
            dependencies: &dependencies,
            previous: &self.bindings,
            now: Instant::now(),
        });
        let broken: BTreeSet<PolicyRef> = invalid.iter().map(|(_, p, _)| p.clone()).collect();
        plan::hold_for_invalid_policies(&mut out, &self.bindings, &broken);
        report.bindings = out.bindings.len();
        // 6. Write members.
        let names: Vec<String> = self.members.keys().cloned().collect();
        for name in names {
            if unreachable.contains(&name) {
                continue;
            }
            let desired = out.desired.get(&name).cloned().unwrap_or_default();
            let keep = out.keep.get(&name).cloned().unwrap_or_default();
            self.sync_member(&name, desired, &keep, full, &mut report)
                .await;
        }
        // 7. Statuses.
        let mut statuses: Vec<KindStatus> = out
            .statuses
            .into_iter()
            .map(|(p, s)| (policy_kind(p.scope).to_owned(), p, s))
            .collect();
        statuses.extend(invalid);
        for (kind, p, st) in statuses {
            self.write_status(hub, &kind, &p, &st, &mut report).await;
        }
        self.bindings = out.bindings;
        if report.applied > 0 || report.pruned > 0 || report.errors > 0 {
            info!(
                bindings = report.bindings,
                applied = report.applied,
                pruned = report.pruned,
                errors = report.errors,
                "propagation pass"
            );
        }
        report
    }

    async fn clusters(&self, hub: &Client) -> Result<Vec<ClusterInfo>, kube::Error> {
        let items = list_all(hub, "isthmus.io/v1alpha1", "MemberCluster", None)
            .await?
            .unwrap_or_default();
        let mut out = Vec::new();
        for (i, doc) in items.iter().enumerate() {
            match cluster_from_value(i, doc) {
                Ok(c) if self.members.contains_key(&c.name) => out.push(c),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "propagation: skipping MemberCluster"),
            }
        }
        Ok(out)
    }

    /// Valid propagation policies, and statuses for the invalid ones; `None` when the hub
    /// cannot be read (the pass is skipped, nothing is pruned).
    async fn propagation_policies(
        &self,
        hub: &Client,
        report: &mut PassReport,
    ) -> Option<ReadPolicies> {
        let mut docs = Vec::new();
        let mut invalid = Vec::new();
        let mut raw = Vec::new();
        for kind in ["PropagationPolicy", "ClusterPropagationPolicy"] {
            let items = match list_all(hub, PLACEMENT_API_VERSION, kind, None).await {
                Ok(i) => i.unwrap_or_default(),
                Err(e) => {
                    warn!(kind, error = %e, "propagation: cannot list policies; pass skipped");
                    report.errors += 1;
                    return None;
                }
            };
            for obj in items {
                match plan::read_propagation_policy(&obj) {
                    Ok(d) => {
                        raw.push((PolicyRef::of(&d.policy), obj));
                        docs.push(d);
                    }
                    Err(e) => {
                        warn!(error = %e, "propagation: invalid policy, it claims nothing");
                        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
                        let pref = PolicyRef {
                            scope: if kind == "PropagationPolicy" {
                                PolicyScope::Namespaced
                            } else {
                                PolicyScope::Cluster
                            },
                            namespace: s("/metadata/namespace").to_owned(),
                            name: s("/metadata/name").to_owned(),
                        };
                        invalid.push((
                            kind.to_owned(),
                            pref,
                            PropagationStatus {
                                observed_generation: obj
                                    .pointer("/metadata/generation")
                                    .and_then(Value::as_i64),
                                error: Some(PlacementFailure {
                                    reason: "InvalidPolicy".into(),
                                    message: e.to_string(),
                                }),
                                ..PropagationStatus::default()
                            },
                        ));
                    }
                }
            }
        }
        Some((docs, invalid, raw))
    }

    async fn override_policies(
        &self,
        hub: &Client,
        report: &mut PassReport,
    ) -> Option<Vec<OverridePolicy>> {
        let mut out = Vec::new();
        for kind in ["OverridePolicy", "ClusterOverridePolicy"] {
            let items = match list_all(hub, PLACEMENT_API_VERSION, kind, None).await {
                Ok(i) => i.unwrap_or_default(),
                Err(e) => {
                    warn!(kind, error = %e, "propagation: cannot list override policies; pass skipped");
                    report.errors += 1;
                    return None;
                }
            };
            for obj in items {
                match plan::read_override_policy(&obj) {
                    Ok(p) => out.push(p),
                    Err(e) => warn!(error = %e, "propagation: skipping invalid override policy"),
                }
            }
        }
        Some(out)
    }

    async fn ensure_namespace(
        &mut self,
        cluster: &str,
        client: &Client,
        ns: &str,
        report: &mut PassReport,
    ) -> bool {
        if ns.is_empty() || self.namespaces.get(cluster).is_some_and(|s| s.contains(ns)) {
            return true;
        }
        let ar = api_resource("v1", "Namespace");
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let ok = match api.get_opt(ns).await {
            Ok(Some(_)) => true,
            Ok(None) => {
                // Created without the ownership label: never pruned, it may hold user objects.
                let obj: DynamicObject = match serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}
                })) {
                    Ok(o) => o,
                    Err(_) => return false,
                };
                match api.create(&PostParams::default(), &obj).await {
                    Ok(_) => true,
                    Err(kube::Error::Api(s)) if s.code == 409 => true,
                    Err(e) => {
                        warn!(cluster, namespace = ns, error = %e, "propagation: cannot create namespace");
                        report.errors += 1;
                        false
                    }
                }
            }
            Err(e) => {
                warn!(cluster, namespace = ns, error = %e, "propagation: cannot read namespace");
                report.errors += 1;
                false
            }
        };
        if ok {
            self.namespaces
                .entry(cluster.to_owned())
                .or_default()
                .insert(ns.to_owned());
        }
        ok
    }

    async fn sync_member(
        &mut self,
        cluster: &str,
        desired: BTreeMap<ObjKey, Value>,
        keep: &BTreeSet<ObjKey>,
        full: bool,
        report: &mut PassReport,
    ) {
        let Some(client) = self.members.get(cluster).cloned() else {
            return;
        };
        let full = self.resync.remove(cluster) || full;
        if full {
            self.applied.remove(cluster);
        }
        let mut order: Vec<(&ObjKey, &Value)> = desired.iter().collect();
        order.sort_by_key(|(k, _)| (write_rank(k), (*k).clone()));
        for (key, obj) in order {
            self.seen_kinds
                .insert((key.api_version.clone(), key.kind.clone()));
            let h = content_hash(obj);
            if self
                .applied
                .get(cluster)
                .and_then(|m| m.get(key))
                .is_some_and(|old| *old == h)
            {
                continue;
            }
            if !self
                .ensure_namespace(cluster, &client, &key.namespace, report)
                .await
            {
                continue;
            }
            let ar = api_resource(&key.api_version, &key.kind);
            let api = dyn_api(&client, &ar, &key.namespace);
            let pp = PatchParams::apply(FIELD_MANAGER).force();
            match api.patch(&key.name, &pp, &Patch::Apply(obj)).await {
                Ok(_) => {
                    report.applied += 1;
                    self.applied
                        .entry(cluster.to_owned())
                        .or_default()
                        .insert(key.clone(), h);
                }
                Err(e) => {
                    warn!(cluster, object = %key.display(), error = %e, "propagation: apply failed");
                    report.errors += 1;
                    if let Some(m) = self.applied.get_mut(cluster) {
                        m.remove(key);
                    }
                }
            }
        }
        // Prune.
        let gone: Vec<ObjKey> = if full {
            let selector = format!("{MANAGED_BY}={MANAGED_BY_VALUE},{TEMPLATE_LABEL}");
            let mut gone = Vec::new();
            let kinds: Vec<(String, String)> = self.seen_kinds.iter().cloned().collect();
            for (av, kind) in kinds {
                match list_all(&client, &av, &kind, Some(&selector)).await {
                    Ok(items) => {
                        for o in items.unwrap_or_default() {
                            let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or("");
                            let key = ObjKey {
                                api_version: av.clone(),
                                kind: kind.clone(),
                                namespace: s("/metadata/namespace").to_owned(),
                                name: s("/metadata/name").to_owned(),
                            };
                            if !key.name.is_empty() && !desired.contains_key(&key) {
                                gone.push(key);
                            }
                        }
                    }
                    Err(e) => {
                        warn!(cluster, kind = %kind, error = %e, "propagation: cannot list owned objects");
                        report.errors += 1;
                    }
                }
            }
            gone
        } else {
            self.applied
                .get(cluster)
                .map(|m| {
                    m.keys()
                        .filter(|k| !desired.contains_key(*k))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        for key in gone {
            if keep.contains(&key) {
                continue;
            }
            match delete_owned(&client, &key).await {
                Ok(deleted) => {
                    if deleted {
                        report.pruned += 1;
                        info!(cluster, object = %key.display(), "propagation: pruned");
                    }
                    if let Some(m) = self.applied.get_mut(cluster) {
                        m.remove(&key);
                    }
                }
                Err(e) => {
                    warn!(cluster, object = %key.display(), error = %e, "propagation: prune failed");
                    report.errors += 1;
                }
            }
        }
    }

    async fn write_status(
        &mut self,
        hub: &Client,
        kind: &str,
        p: &PolicyRef,
        st: &PropagationStatus,
        report: &mut PassReport,
    ) {
        let body = json!({
            "apiVersion": PLACEMENT_API_VERSION,
            "kind": kind,
            "metadata": {"name": p.name},
            "status": st,
        });
        let h = content_hash(&body);
        let cache_key = (kind.to_owned(), p.clone());
        if self.statuses.get(&cache_key) == Some(&h) {
            return;
        }
        let ar = api_resource(PLACEMENT_API_VERSION, kind);
        let api = dyn_api(hub, &ar, &p.namespace);
        match api
            .patch_status(
                &p.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
        {
            Ok(_) => {
                report.statuses += 1;
                self.statuses.insert(cache_key, h);
            }
            Err(e) if not_found(&e) => {
                debug!(policy = %p.name, "propagation: policy gone before its status was written");
            }
            Err(e) => {
                warn!(policy = %p.name, error = %e, "propagation: cannot write policy status");
                report.errors += 1;
            }
        }
    }
}

/// Deletes `key` if it still carries the ownership and template labels. Returns whether it
/// was deleted.
async fn delete_owned(client: &Client, key: &ObjKey) -> Result<bool, kube::Error> {
    let ar = api_resource(&key.api_version, &key.kind);
    let api = dyn_api(client, &ar, &key.namespace);
    let Some(live) = api.get_opt(&key.name).await? else {
        return Ok(false);
    };
    let labels = live.metadata.labels.as_ref();
    let owned = labels.and_then(|l| l.get(MANAGED_BY)).map(String::as_str)
        == Some(MANAGED_BY_VALUE)
        && labels.is_some_and(|l| l.contains_key(TEMPLATE_LABEL));
    if !owned {
        debug!(object = %key.display(), "not ours any more, left alone");
        return Ok(false);
    }
    let dp = DeleteParams::default().preconditions(Preconditions {
        resource_version: live.metadata.resource_version.clone(),
        uid: live.metadata.uid.clone(),
    });
    match api.delete(&key.name, &dp).await {
        Ok(_) => Ok(true),
        Err(e) if not_found(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The bindings recorded in policy statuses (`status.resources[]`), keyed by template.
pub fn bindings_from_status(policies: &[(PolicyRef, Value)]) -> BTreeMap<ObjKey, Binding> {
    let mut out = BTreeMap::new();
    for (p, obj) in policies {
        let Some(st) = obj
            .get("status")
            .and_then(|s| serde_json::from_value::<PropagationStatus>(s.clone()).ok())
        else {
            continue;
        };
        for r in st.resources {
            let ResourcePlacement {
                api_version,
                kind,
                namespace,
                name,
                clusters,
                observed_affinity,
                ..
            } = r;
            out.insert(
                ObjKey {
                    api_version,
                    kind,
                    namespace,
                    name,
                },
                Binding {
                    policy: p.clone(),
                    placements: clusters.into_iter().map(|c| (c.name, c.replicas)).collect(),
                    observed_affinity,
                    no_execute_since: BTreeMap::new(),
                },
            );
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn previous_decisions_come_back_from_the_policy_status() {
        let p = PolicyRef {
            scope: PolicyScope::Namespaced,
            namespace: "shop".into(),
            name: "web".into(),
        };
        let obj = json!({"status": {"placed": 1, "failed": 0, "resources": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web",
            "clusters": [{"name": "east", "replicas": 4}, {"name": "west", "replicas": 2}],
            "observedAffinity": "backup"}]}});
        let b = bindings_from_status(&[(p.clone(), obj), (p.clone(), json!({"status": "junk"}))]);
        let key = ObjKey {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
        };
        assert_eq!(b.len(), 1);
        assert_eq!(b[&key].policy, p);
        assert_eq!(b[&key].placements["east"], 4);
        assert_eq!(b[&key].placements["west"], 2);
        assert_eq!(b[&key].observed_affinity.as_deref(), Some("backup"));
    }

    #[test]
    fn resources_and_write_order() {
        assert_eq!(
            api_resource(PLACEMENT_API_VERSION, "ClusterPropagationPolicy").plural,
            "clusterpropagationpolicies"
        );
        assert_eq!(api_resource("apps/v1", "Deployment").plural, "deployments");
        assert_eq!(
            api_resource("v1", "PersistentVolumeClaim").plural,
            "persistentvolumeclaims"
        );
        let k = |kind: &str| ObjKey {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: String::new(),
            name: "x".into(),
        };
        assert!(write_rank(&k("ConfigMap")) < write_rank(&k("Deployment")));
        assert!(write_rank(&k("Deployment")) < write_rank(&k("ServiceExport")));
    }

    #[test]
    fn flags_turn_propagation_off_and_set_the_period() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            p: PropagationArgs,
        }
        let on = T::try_parse_from(["t", "--propagation-period", "500ms"]).unwrap();
        assert_eq!(
            on.p.config().map(|c| c.period),
            Some(Duration::from_millis(500))
        );
        let off = T::try_parse_from(["t", "--propagation=false"]).unwrap();
        assert!(off.p.config().is_none());
    }
}
