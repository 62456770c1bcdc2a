//! Which propagation policy claims a resource template (Karmada's detector rules).

use crate::model::{PolicyScope, PropagationPolicy, ResourceSelector};
use crate::resource::Resource;
use crate::selector;

/// How specifically a selector matched (Karmada's implicit priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ImplicitPriority {
    /// No match.
    Mismatch = 0,
    /// apiVersion/kind (and namespace) only.
    MatchAll = 1,
    /// Label selector.
    MatchLabelSelector = 2,
    /// Name.
    MatchName = 3,
}

/// Priority of one selector against the resource.
pub fn selector_priority(resource: &Resource, rs: &ResourceSelector) -> ImplicitPriority {
    if rs.api_version != resource.api_version
        || rs.kind != resource.kind
        || (!rs.namespace.is_empty() && rs.namespace != resource.namespace)
    {
        return ImplicitPriority::Mismatch;
    }
    if !rs.name.is_empty() {
        return if rs.name == resource.name {
            ImplicitPriority::MatchName
        } else {
            ImplicitPriority::Mismatch
        };
    }
    if let Some(sel) = &rs.label_selector {
        if selector::validate_label_selector(sel).is_err() {
            return ImplicitPriority::Mismatch;
        }
        return if selector::label_selector_matches(sel, &resource.labels) {
            ImplicitPriority::MatchLabelSelector
        } else {
            ImplicitPriority::Mismatch
        };
    }
    ImplicitPriority::MatchAll
}

/// Best priority over a list of selectors (`Mismatch` for an empty list).
pub fn selectors_priority(resource: &Resource, selectors: &[ResourceSelector]) -> ImplicitPriority {
    selectors
        .iter()
        .map(|rs| selector_priority(resource, rs))
        .max()
        .unwrap_or(ImplicitPriority::Mismatch)
}

/// Identity of a policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyRef {
    /// Namespaced or cluster scope.
    pub scope: PolicyScope,
    /// Namespace (empty for cluster scope).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl PolicyRef {
    /// Reference to a policy.
    pub fn of(p: &PropagationPolicy) -> Self {
        Self {
            scope: p.scope,
            namespace: p.namespace.clone(),
            name: p.name.clone(),
        }
    }
}

fn applies_to(p: &PropagationPolicy, resource: &Resource) -> ImplicitPriority {
    if p.scope == PolicyScope::Namespaced
        && (resource.namespace.is_empty() || p.namespace != resource.namespace)
    {
        return ImplicitPriority::Mismatch;
    }
    selectors_priority(resource, &p.spec.resource_selectors)
}

fn best_of<'a>(
    policies: &'a [PropagationPolicy],
    resource: &Resource,
    scope: PolicyScope,
) -> Option<&'a PropagationPolicy> {
    let mut best: Option<(&PropagationPolicy, ImplicitPriority)> = None;
    for p in policies.iter().filter(|p| p.scope == scope) {
        let implicit = applies_to(p, resource);
        if implicit == ImplicitPriority::Mismatch {
            continue;
        }
        best = match best {
            None => Some((p, implicit)),
            Some((b, bi)) => {
                let better = p.spec.priority > b.spec.priority
                    || (p.spec.priority == b.spec.priority
                        && (implicit > bi || (implicit == bi && p.name < b.name)));
                if better {
                    Some((p, implicit))
                } else {
                    Some((b, bi))
                }
            }
        };
    }
    best.map(|(p, _)| p)
}

/// The policy that claims `resource`.
///
/// Without a current claim: the best namespaced policy, else the best cluster-scoped one
/// (higher `priority`, then name over label over kind-only match, then name alphabetically).
/// With a current claim that still matches, the resource stays with it unless a better
/// policy has `preemption: Always` and may preempt (a PropagationPolicy preempts any
/// ClusterPropagationPolicy and lower-priority PropagationPolicies; a
/// ClusterPropagationPolicy preempts lower-priority ClusterPropagationPolicies).
pub fn match_policy<'a>(
    resource: &Resource,
    policies: &'a [PropagationPolicy],
    current: Option<&PolicyRef>,
) -> Option<&'a PropagationPolicy> {
    let candidate = best_of(policies, resource, PolicyScope::Namespaced)
        .or_else(|| best_of(policies, resource, PolicyScope::Cluster));
    let Some(current) = current else {
        return candidate;
    };
    let claimed = policies.iter().find(|p| {
        p.scope == current.scope && p.namespace == current.namespace && p.name == current.name
    });
    let Some(claimed) = claimed.filter(|p| applies_to(p, resource) != ImplicitPriority::Mismatch)
    else {
        return candidate;
    };
    // look for a preemptor among the policies of the preempting scopes
    let preemptor = |scope: PolicyScope| {
        policies
            .iter()
            .filter(|p| p.scope == scope && p.spec.preemption == "Always")
            .filter(|p| applies_to(p, resource) != ImplicitPriority::Mismatch)
            .filter(|p| {
                !(p.scope == claimed.scope
                    && p.namespace == claimed.namespace
                    && p.name == claimed.name)
            })
            .filter(|p| match (p.scope, claimed.scope) {
                (PolicyScope::Namespaced, PolicyScope::Cluster) => true,
                _ => p.spec.priority > claimed.spec.priority,
            })
            .max_by(|a, b| {
                a.spec
                    .priority
                    .cmp(&b.spec.priority)
                    .then_with(|| applies_to(a, resource).cmp(&applies_to(b, resource)))
                    .then_with(|| b.name.cmp(&a.name))
            })
    };
    preemptor(PolicyScope::Namespaced)
        .or_else(|| {
            (claimed.scope == PolicyScope::Cluster)
                .then(|| preemptor(PolicyScope::Cluster))
                .flatten()
        })
        .or(Some(claimed))
}
