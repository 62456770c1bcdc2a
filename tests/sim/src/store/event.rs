//! Change events: what happened to which object at which resourceVersion, as the store records
//! them for watches.

use std::sync::Arc;

use super::object::Stored;
use crate::registry::ResourceKey;

/// Watch event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// ADDED
    Added,
    /// MODIFIED
    Modified,
    /// DELETED
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// A change to one object.
#[derive(Debug)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Storage key of the resource.
    pub key: ResourceKey,
    /// What happened.
    pub etype: EventType,
    /// The object after the change (for DELETED, its last state).
    pub obj: Arc<Stored>,
    /// The object before the change, for selector transitions.
    pub old: Option<Arc<Stored>>,
}
