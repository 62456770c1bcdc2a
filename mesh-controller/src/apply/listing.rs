//! What a background prune listing found: produced by [`super::prune`], held by the applier
//! until the next full pass consumes it.

use super::ObjKey;
use super::error::ApplyError;

/// What a background prune listing found in one member.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Owned objects of the listed kinds (desired or not; the consuming pass decides).
    pub(super) found: Vec<ObjKey>,
    /// Kinds that could not be listed (kind, error).
    pub(super) errors: Vec<(String, ApplyError)>,
}
