//! The resources of one cluster: the built-ins plus those CRDs define, and lookups by path,
//! by `apiVersion` and kind, and by storage key.

use std::sync::Arc;

use super::builtin::builtins;
use super::resource::ResourceInfo;
use super::version::split_api_version;

/// Built-in and custom resources of one cluster.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<Arc<ResourceInfo>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            resources: builtins().into_iter().map(Arc::new).collect(),
        }
    }
}

impl Registry {
    /// Finds a resource by group, version and plural name (or short/singular name).
    pub fn lookup(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceInfo>> {
        self.resources
            .iter()
            .find(|r| {
                r.group == group && r.plural == resource && r.versions.iter().any(|v| v == version)
            })
            .cloned()
    }

    /// Finds a resource by `apiVersion` and kind.
    pub fn lookup_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Option<(Arc<ResourceInfo>, String)> {
        let (group, version) = split_api_version(api_version);
        self.resources
            .iter()
            .find(|r| r.group == group && r.kind == kind && r.versions.iter().any(|v| v == version))
            .map(|r| (r.clone(), version.to_string()))
    }

    /// Finds the resource stored under a key.
    pub fn by_key(&self, key: &str) -> Option<Arc<ResourceInfo>> {
        self.resources.iter().find(|r| *r.key() == *key).cloned()
    }

    /// All resources.
    pub fn all(&self) -> &[Arc<ResourceInfo>] {
        &self.resources
    }

    /// Adds or replaces a CRD-defined resource; returns the key of a replaced resource whose
    /// group/plural changed (its objects must go).
    pub fn upsert_custom(&mut self, crd_name: &str, info: ResourceInfo) {
        self.remove_custom(crd_name);
        self.resources.push(Arc::new(info));
    }

    /// Removes the CRD-defined resource named `<plural>.<group>`; returns it.
    pub fn remove_custom(&mut self, crd_name: &str) -> Option<Arc<ResourceInfo>> {
        let pos = self
            .resources
            .iter()
            .position(|r| r.custom && format!("{}.{}", r.plural, r.group) == crd_name)?;
        Some(self.resources.remove(pos))
    }
}
