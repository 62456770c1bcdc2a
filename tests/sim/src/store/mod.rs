//! Per-cluster object storage: one resourceVersion counter, objects as compact JSON, a bounded
//! event history for watches, and the write semantics of the real API server (generation,
//! finalizers, cascading deletion, namespaces, CRDs, status subresource, server-side apply).
//!
//! One concept per module: [`Store`] itself and its lookups (`storage`), the stored form of an
//! object (`object`), change events (`event`), lists and continue tokens (`list`), watch start,
//! history and compaction (`watch`), the write verbs and seeding (`write`), the write path they
//! share (`commit`), deletion with finalizers and propagation (`delete`), the options of writes
//! and deletes (`opts`), the service-account token controller (`tokens`) and what a token
//! Secret is (`token_secret`), and the pure helpers for metadata (`meta`) and names (`names`).

mod commit;
mod delete;
mod event;
mod list;
mod meta;
mod names;
mod object;
mod opts;
mod storage;
mod token_secret;
mod tokens;
mod watch;
mod write;

pub use event::{Event, EventType};
pub use list::ListPage;
pub use object::Stored;
pub use opts::{Propagation, WriteOpts};
pub use storage::{Store, StoreLimits};
pub use token_secret::{
    SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN_TYPE, SERVICE_ACCOUNT_UID_ANNOTATION,
};
pub use watch::{WatchInit, WatchStart};
