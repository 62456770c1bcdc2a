//! Watches: where a watch starts (current state or a resourceVersion), the bounded event
//! history it resumes from, compaction, and the recording of each change.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::event::{Event, EventType};
use super::object::Stored;
use super::storage::Store;
use crate::error::ApiError;
use crate::registry::{ResourceInfo, ResourceKey};
use crate::selector::{FieldSelector, LabelSelector};

/// Where a watch starts.
pub enum WatchStart {
    /// Synthetic ADDED events for the current state, then changes.
    Current,
    /// Changes after this resourceVersion.
    From(u64),
}

/// A registered watch: what to send first, then the live channel.
pub struct WatchInit {
    /// Objects to send as ADDED first (watch from current state).
    pub initial: Vec<Arc<Stored>>,
    /// Past events to replay (watch from a resourceVersion).
    pub backlog: Vec<Arc<Event>>,
    /// Live events.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// resourceVersion at registration.
    pub rv: u64,
}

impl Store {
    /// Forgets all history: every resourceVersion older than now is compacted.
    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest_watchable = self.rv;
    }

    /// Registers a watch.
    pub fn watch(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        start: WatchStart,
    ) -> Result<WatchInit, ApiError> {
        let rx = self.tx.subscribe();
        match start {
            WatchStart::Current => {
                let page = self.list(info, ns, labels, fields, None, None)?;
                Ok(WatchInit {
                    initial: page.items,
                    backlog: Vec::new(),
                    rx,
                    rv: self.rv,
                })
            }
            WatchStart::From(from) => {
                if from < self.oldest_watchable {
                    return Err(ApiError::gone(from, self.oldest_watchable));
                }
                let key = info.key();
                let backlog = self
                    .history
                    .iter()
                    .filter(|e| e.rv > from && e.key == key)
                    .cloned()
                    .collect();
                Ok(WatchInit {
                    initial: Vec::new(),
                    backlog,
                    rx,
                    rv: self.rv,
                })
            }
        }
    }

    /// Records a change: appends it to the history (dropping, and compacting, the oldest past
    /// the limit) and sends it to the live watches.
    pub(super) fn emit(
        &mut self,
        key: ResourceKey,
        etype: EventType,
        obj: Arc<Stored>,
        old: Option<Arc<Stored>>,
    ) {
        let ev = Arc::new(Event {
            rv: self.rv,
            key,
            etype,
            obj,
            old,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.limits.history {
            if let Some(e) = self.history.pop_front() {
                self.oldest_watchable = self.oldest_watchable.max(e.rv);
            }
        }
        let _ = self.tx.send(ev);
    }
}
