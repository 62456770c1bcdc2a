//! The watches' backoff: [`isthmus_api::backoff::Backoff`] as kube-runtime's watcher takes it.

use std::time::Duration;

/// [`isthmus_api::backoff::Backoff`] for `kube::runtime::WatchStreamExt::backoff`.
#[derive(Debug)]
pub struct WatchBackoff(isthmus_api::backoff::Backoff);

impl WatchBackoff {
    /// Delays from `min` doubling up to `max`, each drawn from its upper half.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self(isthmus_api::backoff::Backoff::new(min, max))
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.0.next_delay())
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.0.reset();
    }
}
