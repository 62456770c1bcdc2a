//! What a write or a delete is asked to do: the options of writes and the propagation of
//! deletes, shared by the verbs, the write path and the token controller.

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`
    pub dry_run: bool,
    /// Field manager for managedFields (from `fieldManager` or the User-Agent).
    pub manager: String,
    /// Whether to track managedFields (off for direct seeding).
    pub track_fields: bool,
}

/// How a delete treats dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete dependents after the owner.
    Background,
    /// Delete dependents first; the owner waits with the `foregroundDeletion` finalizer.
    Foreground,
    /// Remove the owner reference from dependents.
    Orphan,
}
