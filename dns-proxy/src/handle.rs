//! The one interface every source uses: build a table from a [`ServiceSet`] and swap it in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use arc_swap::ArcSwap;

use crate::metrics::Metrics;
use crate::model::ServiceSet;
use crate::table::{Table, TableError, ZoneConfig};

/// The current table, swapped atomically; readers never block.
#[derive(Debug)]
pub struct TableHandle {
    current: Arc<ArcSwap<Table>>,
    zone: ZoneConfig,
    ready: AtomicBool,
    serial: AtomicU32,
    metrics: Arc<Metrics>,
}

impl TableHandle {
    /// A handle serving the not-loaded table (SERVFAIL in zone) until the first publish.
    pub fn new(zone: ZoneConfig, metrics: Arc<Metrics>) -> Result<Self, TableError> {
        let t = Table::not_loaded(&zone)?;
        let start = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(t)),
            zone,
            ready: AtomicBool::new(false),
            serial: AtomicU32::new(start),
            metrics,
        })
    }

    /// Builds a table from `set` and makes it current. Marks the handle ready.
    pub fn publish(&self, set: &ServiceSet) -> Result<Arc<Table>, TableError> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let table = Arc::new(Table::build(&self.zone, set, serial)?);
        self.metrics.table_loaded(
            table.service_count(),
            table.record_count(),
            table.built_at(),
        );
        self.current.store(table.clone());
        self.ready.store(true, Ordering::Release);
        tracing::info!(
            services = table.service_count(),
            records = table.record_count(),
            names = table.name_count(),
            serial,
            "answer table published"
        );
        Ok(table)
    }

    /// The current table.
    pub fn load(&self) -> Arc<Table> {
        self.current.load_full()
    }

    /// The swap cell, for per-worker caches.
    pub fn cell(&self) -> Arc<ArcSwap<Table>> {
        self.current.clone()
    }

    /// True once a source has published a complete table.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn zone(&self) -> &ZoneConfig {
        &self.zone
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}
