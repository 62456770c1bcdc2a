//! What a prune listing found: produced by [`super::prune`], held by the applier until a pass
//! consumes it (the listing of an adopting pass is consumed by that pass).

use super::ObjKey;
use super::error::ApplyError;

/// One owned object a listing found.
#[derive(Debug)]
pub(super) struct Found {
    /// Its identity.
    pub(super) key: ObjKey,
    /// The fingerprint its [`super::APPLIED_HASH`] annotation holds, if any.
    pub(super) applied: Option<u64>,
    /// Fingerprint of its `status`, for the kinds written through the status subresource
    /// (0: none).
    pub(super) status: u64,
}

/// What a prune listing found in one member.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Owned objects of the listed kinds (desired or not; the consuming pass decides).
    pub(super) found: Vec<Found>,
    /// Kinds that could not be listed (kind, error).
    pub(super) errors: Vec<(String, ApplyError)>,
}
