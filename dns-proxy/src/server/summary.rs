//! Rate-limited logging of malformed and refused traffic: nothing is logged per packet or
//! per connection; once per interval, one WARN line gives what was counted since the last
//! line (and nothing is written for a quiet interval). The counts themselves are the
//! cumulative metrics, so the log and `/metrics` always agree.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::{AbuseCounts, Metrics};

/// Turns cumulative totals into per-interval summaries.
#[derive(Debug, Default)]
pub struct Summarizer {
    reported: AbuseCounts,
}

impl Summarizer {
    /// Starts from `totals` (counted before are never reported).
    pub fn starting_at(totals: AbuseCounts) -> Self {
        Self { reported: totals }
    }

    /// What was counted since the last summary, or `None` when nothing was.
    pub fn poll(&mut self, totals: AbuseCounts) -> Option<AbuseCounts> {
        let delta = totals.since(&self.reported);
        self.reported = totals;
        (!delta.is_zero()).then_some(delta)
    }
}

/// Writes the summary line.
pub fn log(delta: &AbuseCounts, interval: Duration) {
    tracing::warn!(
        interval_s = interval.as_secs_f64(),
        formerr = delta.formerr,
        dropped = delta.dropped,
        tcp_refused_source = delta.tcp_refused_source,
        tcp_refused_total = delta.tcp_refused_total,
        tcp_evicted_source = delta.tcp_evicted_source,
        tcp_evicted_total = delta.tcp_evicted_total,
        "malformed or refused DNS traffic in the last interval"
    );
}

/// Logs at most one summary line per `interval`, until the task is dropped.
pub async fn run(metrics: Arc<Metrics>, interval: Duration) {
    let interval = interval.max(Duration::from_millis(10));
    let mut summarizer = Summarizer::starting_at(metrics.abuse_counts());
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Some(delta) = summarizer.poll(metrics.abuse_counts()) {
            log(&delta, interval);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::metrics::{Malformed, TcpLimit};

    #[test]
    fn one_summary_per_interval_with_the_counts_of_that_interval() {
        let m = Metrics::default();
        m.malformed(Malformed::Dropped);
        let mut s = Summarizer::starting_at(m.abuse_counts());
        // A quiet interval writes nothing.
        assert_eq!(s.poll(m.abuse_counts()), None);
        for _ in 0..10_000 {
            m.malformed(Malformed::FormErr);
        }
        for _ in 0..3 {
            m.malformed(Malformed::Dropped);
        }
        m.tcp_refused(TcpLimit::Total);
        m.tcp_accepted(Some(TcpLimit::Source));
        m.tcp_accepted(None);
        // Ten thousand events are one summary, counted exactly.
        assert_eq!(
            s.poll(m.abuse_counts()),
            Some(AbuseCounts {
                formerr: 10_000,
                dropped: 3,
                tcp_refused_source: 0,
                tcp_refused_total: 1,
                tcp_evicted_source: 1,
                tcp_evicted_total: 0,
            })
        );
        // Nothing new: nothing to write; the next interval counts from the last summary.
        assert_eq!(s.poll(m.abuse_counts()), None);
        m.malformed(Malformed::FormErr);
        let d = s.poll(m.abuse_counts()).unwrap();
        assert_eq!((d.formerr, d.dropped), (1, 0));
    }

    #[test]
    fn the_metrics_render_the_counters() {
        let m = Metrics::default();
        m.malformed(Malformed::FormErr);
        m.malformed(Malformed::FormErr);
        m.tcp_accepted(Some(TcpLimit::Total));
        m.tcp_refused(TcpLimit::Source);
        let text = m.render();
        for line in [
            "dns_proxy_malformed_requests_total{kind=\"formerr\"} 2",
            "dns_proxy_malformed_requests_total{kind=\"dropped\"} 0",
            "dns_proxy_tcp_connections_accepted_total 1",
            "dns_proxy_tcp_connections 1",
            "dns_proxy_tcp_connections_evicted_total{limit=\"total\"} 1",
            "dns_proxy_tcp_connections_refused_total{limit=\"source\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        m.tcp_closed();
        m.tcp_closed();
        assert!(
            m.render()
                .lines()
                .any(|l| l == "dns_proxy_tcp_connections 0")
        );
    }
}
