//! Retry delays, the same for every component: one exponential backoff with jitter (`backon`'s,
//! as kube-runtime's watcher uses it), started again once the retried work succeeds. Each wait
//! is drawn between half the base delay and the base ("equal jitter"), so members, replicas and
//! DNS proxies that fail together do not retry together, and no wait is longer than the base
//! schedule (`min` doubling up to `max`).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// A jittered exponential backoff: `min`, doubling up to `max`, never giving up.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: backon::ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    /// Delays from `min` doubling up to `max`, each drawn from its upper half.
    pub fn new(min: Duration, max: Duration) -> Self {
        // backon's jitter adds up to one delay on top of it: half the bounds, then jitter,
        // gives waits between half the base and the base.
        let builder = ExponentialBuilder::default()
            .with_min_delay(min / 2)
            .with_max_delay(max / 2)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Self {
            builder,
            delays: builder.build(),
            max,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.max)
    }

    /// Starts again from the shortest delay (the work succeeded).
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_delay())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_bounds_and_start_over_on_reset() {
        let (min, max) = (Duration::from_millis(200), Duration::from_secs(5));
        let mut b = Backoff::new(min, max);
        let mut floor = min;
        for _ in 0..10 {
            let d = b.next_delay();
            assert!(
                d >= floor / 2 && d <= floor,
                "{d:?} outside {:?}..{floor:?}",
                floor / 2
            );
            floor = (floor * 2).min(max);
        }
        b.reset();
        let d = b.next_delay();
        assert!(d >= min / 2 && d <= min, "{d:?}");
    }
}
