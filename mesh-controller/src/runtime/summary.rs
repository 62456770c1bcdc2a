//! The summary of the last completed pass.

/// A summary of the last completed pass, for status tables and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassSummary {
    /// Completed passes that wrote (or would have written) to clusters.
    pub passes: u64,
    /// The last plan's counts.
    pub exports: usize,
    /// Imports desired.
    pub imports: usize,
    /// Exports in conflict.
    pub conflicts: usize,
    /// Write errors in the last pass.
    pub errors: usize,
    /// Whether this replica wrote in the last pass.
    pub wrote: bool,
}
