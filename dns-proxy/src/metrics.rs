//! Counters shared by the request loops, kept as plain atomics (workers batch their updates)
//! and rendered with prometheus-client at scrape time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::table::rtype;

const TYPES: [&str; 9] = [
    "A", "AAAA", "SRV", "TXT", "SOA", "NS", "PTR", "ANY", "other",
];
const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
];
/// Latency bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025, 0.1, 0.5, 2.0,
];
const NB: usize = BUCKETS.len() + 1;

/// Why a forwarded query failed.
#[derive(Clone, Copy, Debug)]
pub enum ForwardError {
    Timeout = 0,
    Io = 1,
    BadResponse = 2,
}
const FWD_KINDS: [&str; 3] = ["timeout", "io", "bad_response"];

/// Why a request counts as malformed.
#[derive(Clone, Copy, Debug)]
pub enum Malformed {
    /// Answered FORMERR (the request could not be read as one question).
    FormErr = 0,
    /// Dropped without an answer (shorter than a header, or a response).
    Dropped = 1,
}
const MALFORMED_KINDS: [&str; 2] = ["formerr", "dropped"];

/// Which TCP connection limit was reached.
#[derive(Clone, Copy, Debug)]
pub enum TcpLimit {
    /// The per-source limit.
    Source = 0,
    /// The total limit.
    Total = 1,
}
const TCP_LIMITS: [&str; 2] = ["source", "total"];

/// Totals of the traffic the proxy refuses, drops or cuts short, for the periodic summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AbuseCounts {
    pub formerr: u64,
    pub dropped: u64,
    pub tcp_refused_source: u64,
    pub tcp_refused_total: u64,
    pub tcp_evicted_source: u64,
    pub tcp_evicted_total: u64,
}

impl AbuseCounts {
    /// What was added since `earlier` (each count saturating at 0).
    pub fn since(&self, earlier: &AbuseCounts) -> AbuseCounts {
        AbuseCounts {
            formerr: self.formerr.saturating_sub(earlier.formerr),
            dropped: self.dropped.saturating_sub(earlier.dropped),
            tcp_refused_source: self
                .tcp_refused_source
                .saturating_sub(earlier.tcp_refused_source),
            tcp_refused_total: self
                .tcp_refused_total
                .saturating_sub(earlier.tcp_refused_total),
            tcp_evicted_source: self
                .tcp_evicted_source
                .saturating_sub(earlier.tcp_evicted_source),
            tcp_evicted_total: self
                .tcp_evicted_total
                .saturating_sub(earlier.tcp_evicted_total),
        }
    }

    /// True when nothing was counted.
    pub fn is_zero(&self) -> bool {
        *self == AbuseCounts::default()
    }
}

fn type_index(t: u16) -> usize {
    match t {
        rtype::A => 0,
        rtype::AAAA => 1,
        rtype::SRV => 2,
        rtype::TXT => 3,
        rtype::SOA => 4,
        rtype::NS => 5,
        rtype::PTR => 6,
        rtype::ANY => 7,
        _ => 8,
    }
}

fn rcode_index(r: u8) -> usize {
    if (r as usize) < 6 { r as usize } else { 6 }
}

fn bucket_index(d: Duration) -> usize {
    let s = d.as_secs_f64();
    BUCKETS
        .iter()
        .position(|b| s <= *b)
        .unwrap_or(BUCKETS.len())
}

/// Process-wide metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    queries: [[AtomicU64; 7]; 9],
    forwarded: AtomicU64,
    latency: [AtomicU64; NB],
    latency_sum_ns: AtomicU64,
    forward_errors: [AtomicU64; 3],
    table_services: AtomicU64,
    table_records: AtomicU64,
    table_built_unix_ms: AtomicU64,
    table_loads: AtomicU64,
    table_load_errors: AtomicU64,
    stream: StreamCounters,
    malformed: [AtomicU64; 2],
    tcp_accepted: AtomicU64,
    tcp_open: AtomicU64,
    tcp_refused: [AtomicU64; 2],
    tcp_evicted: [AtomicU64; 2],
}

/// The discovery stream's state (`--source grpc:`), as the client last reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStatus {
    pub connected: bool,
    /// Connection attempts that ended: refused, failed to connect, or dropped later (each is
    /// followed by a retry).
    pub reconnects: u64,
    /// Complete snapshots applied.
    pub snapshots: u64,
    /// Deltas applied.
    pub deltas: u64,
    /// When the last snapshot or delta was received.
    pub updated: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct StreamCounters {
    /// Set once a stream source reports; the stream metrics are rendered only then.
    enabled: AtomicBool,
    connected: AtomicBool,
    reconnects: AtomicU64,
    snapshots: AtomicU64,
    deltas: AtomicU64,
    updated_unix_ms: AtomicU64,
    skipped_records: AtomicU64,
}

/// A worker's private counters, flushed into [`Metrics`] in batches.
#[derive(Debug, Default)]
pub struct Local {
    queries: [[u64; 7]; 9],
    latency: [u64; NB],
    latency_sum_ns: u64,
    pending: u32,
}

impl Local {
    /// Counts one answered query; flushes every 1024 queries.
    #[inline]
    pub fn record(&mut self, m: &Metrics, qtype: u16, rcode: u8, took: Duration) {
        self.queries[type_index(qtype)][rcode_index(rcode)] += 1;
        self.latency[bucket_index(took)] += 1;
        self.latency_sum_ns += took.as_nanos() as u64;
        self.pending += 1;
        if self.pending >= 1024 {
            self.flush(m);
        }
    }

    /// Adds the pending counts to the shared metrics.
    pub fn flush(&mut self, m: &Metrics) {
        if self.pending == 0 {
            return;
        }
        for (t, row) in self.queries.iter_mut().enumerate() {
            for (r, v) in row.iter_mut().enumerate() {
                if *v != 0 {
                    m.queries[t][r].fetch_add(*v, Relaxed);
                    *v = 0;
                }
            }
        }
        for (i, v) in self.latency.iter_mut().enumerate() {
            if *v != 0 {
                m.latency[i].fetch_add(*v, Relaxed);
                *v = 0;
            }
        }
        m.latency_sum_ns.fetch_add(self.latency_sum_ns, Relaxed);
        self.latency_sum_ns = 0;
        self.pending = 0;
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    qtype: &'static str,
    rcode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NoLabels {}

#[derive(Debug)]
struct HistogramSnapshot {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for HistogramSnapshot {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabels>(self.sum, self.count, &self.buckets, None)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl Metrics {
    /// Counts a forwarded query by its upstream RCODE.
    pub fn forwarded(&self, qtype: u16, rcode: u8, took: Duration) {
        self.queries[type_index(qtype)][rcode_index(rcode)].fetch_add(1, Relaxed);
        self.forwarded.fetch_add(1, Relaxed);
        self.latency[bucket_index(took)].fetch_add(1, Relaxed);
        self.latency_sum_ns
            .fetch_add(took.as_nanos() as u64, Relaxed);
    }

    /// Counts one query answered locally outside the UDP workers (TCP).
    pub fn answered(&self, qtype: u16, rcode: u8, took: Duration) {
        self.queries[type_index(qtype)][rcode_index(rcode)].fetch_add(1, Relaxed);
        self.latency[bucket_index(took)].fetch_add(1, Relaxed);
        self.latency_sum_ns
            .fetch_add(took.as_nanos() as u64, Relaxed);
    }

    /// Counts a forwarding failure.
    pub fn forward_error(&self, kind: ForwardError) {
        self.forward_errors[kind as usize].fetch_add(1, Relaxed);
    }

    /// Counts a malformed request.
    pub fn malformed(&self, kind: Malformed) {
        self.malformed[kind as usize].fetch_add(1, Relaxed);
    }

    /// Counts an accepted TCP connection (open until [`Metrics::tcp_closed`]), and the idle
    /// connection closed to make room for it, if any.
    pub fn tcp_accepted(&self, evicted: Option<TcpLimit>) {
        self.tcp_accepted.fetch_add(1, Relaxed);
        self.tcp_open.fetch_add(1, Relaxed);
        if let Some(l) = evicted {
            self.tcp_evicted[l as usize].fetch_add(1, Relaxed);
        }
    }

    /// Counts a TCP connection that ended.
    pub fn tcp_closed(&self) {
        let _ = self
            .tcp_open
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(1)));
    }

    /// Counts a TCP connection refused at a limit.
    pub fn tcp_refused(&self, limit: TcpLimit) {
        self.tcp_refused[limit as usize].fetch_add(1, Relaxed);
    }

    /// TCP connections accepted so far.
    pub fn tcp_accepted_total(&self) -> u64 {
        self.tcp_accepted.load(Relaxed)
    }

    /// The totals the periodic abuse summary reports.
    pub fn abuse_counts(&self) -> AbuseCounts {
        AbuseCounts {
            formerr: self.malformed[Malformed::FormErr as usize].load(Relaxed),
            dropped: self.malformed[Malformed::Dropped as usize].load(Relaxed),
            tcp_refused_source: self.tcp_refused[TcpLimit::Source as usize].load(Relaxed),
            tcp_refused_total: self.tcp_refused[TcpLimit::Total as usize].load(Relaxed),
            tcp_evicted_source: self.tcp_evicted[TcpLimit::Source as usize].load(Relaxed),
            tcp_evicted_total: self.tcp_evicted[TcpLimit::Total as usize].load(Relaxed),
        }
    }

    fn register_abuse(&self, reg: &mut Registry) {
        let m = Family::<KindLabels, Counter>::default();
        for (i, k) in MALFORMED_KINDS.iter().enumerate() {
            m.get_or_create(&KindLabels { kind: k })
                .inc_by(self.malformed[i].load(Relaxed));
        }
        reg.register(
            "malformed_requests",
            "Malformed requests: answered FORMERR, or dropped (too short, or a response)",
            m,
        );
        let c = Counter::<u64>::default();
        c.inc_by(self.tcp_accepted.load(Relaxed));
        reg.register("tcp_connections_accepted", "TCP connections accepted", c);
        let g = Gauge::<i64>::default();
        g.set(self.tcp_open.load(Relaxed) as i64);
        reg.register("tcp_connections", "TCP connections open", g);
        for (name, help, v) in [
            (
                "tcp_connections_refused",
                "TCP connections closed at once: the limit was reached and every connection under it was busy",
                &self.tcp_refused,
            ),
            (
                "tcp_connections_evicted",
                "Idle TCP connections closed to make room for a new one, by the limit reached",
                &self.tcp_evicted,
            ),
        ] {
            let f = Family::<LimitLabels, Counter>::default();
            for (i, l) in TCP_LIMITS.iter().enumerate() {
                f.get_or_create(&LimitLabels { limit: l })
                    .inc_by(v[i].load(Relaxed));
            }
            reg.register(name, help, f);
        }
    }

    /// Records a newly published table.
    pub fn table_loaded(&self, services: usize, records: usize, built: SystemTime) {
        self.table_services.store(services as u64, Relaxed);
        self.table_records.store(records as u64, Relaxed);
        let ms = built
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.table_built_unix_ms.store(ms, Relaxed);
        self.table_loads.fetch_add(1, Relaxed);
    }

    /// Counts a source update that was rejected (the previous table stays).
    pub fn table_load_error(&self) {
        self.table_load_errors.fetch_add(1, Relaxed);
    }

    /// Records the discovery stream's state.
    pub fn stream_status(&self, s: &StreamStatus) {
        let c = &self.stream;
        c.enabled.store(true, Relaxed);
        c.connected.store(s.connected, Relaxed);
        c.reconnects.store(s.reconnects, Relaxed);
        c.snapshots.store(s.snapshots, Relaxed);
        c.deltas.store(s.deltas, Relaxed);
        let ms = s
            .updated
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        c.updated_unix_ms.store(ms, Relaxed);
    }

    /// Records how many records of the stream's current table were malformed and skipped.
    pub fn stream_skipped_records(&self, n: usize) {
        self.stream.skipped_records.store(n as u64, Relaxed);
    }

    /// Total queries counted so far (all types and codes).
    pub fn total_queries(&self) -> u64 {
        self.queries.iter().flatten().map(|a| a.load(Relaxed)).sum()
    }

    fn register_stream(&self, reg: &mut Registry) {
        let c = &self.stream;
        let g = Gauge::<i64>::default();
        g.set(i64::from(c.connected.load(Relaxed)));
        reg.register(
            "grpc_connected",
            "1 while the discovery stream is connected, else 0",
            g,
        );
        let counters = [
            (
                "grpc_reconnects",
                "Discovery connection attempts that ended (refused, failed or dropped)",
                &c.reconnects,
            ),
            (
                "grpc_snapshots",
                "Discovery snapshots applied",
                &c.snapshots,
            ),
            ("grpc_deltas", "Discovery deltas applied", &c.deltas),
        ];
        for (name, help, v) in counters {
            let counter = Counter::<u64>::default();
            counter.inc_by(v.load(Relaxed));
            reg.register(name, help, counter);
        }
        let g = Gauge::<i64>::default();
        g.set(c.skipped_records.load(Relaxed) as i64);
        reg.register(
            "grpc_skipped_records",
            "Malformed records in the current discovery table, not served",
            g,
        );
        let updated = c.updated_unix_ms.load(Relaxed);
        if updated != 0 {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let age = Gauge::<f64, AtomicU64>::default();
            age.set(now.saturating_sub(updated) as f64 / 1000.0);
            reg.register(
                "grpc_table_age_seconds",
                "Seconds since the last discovery snapshot or delta was received",
                age,
            );
        }
    }

    /// Renders OpenMetrics text.
    pub fn render(&self) -> String {
        let mut reg = Registry::with_prefix("dns_proxy");
        let queries = Family::<QueryLabels, Counter>::default();
        for (t, row) in self.queries.iter().enumerate() {
            for (r, v) in row.iter().enumerate() {
                let v = v.load(Relaxed);
                if v != 0 {
                    queries
                        .get_or_create(&QueryLabels {
                            qtype: TYPES[t],
                            rcode: RCODES[r],
                        })
                        .inc_by(v);
                }
            }
        }
        reg.register(
            "queries",
            "DNS queries answered, by query type and response code",
            queries,
        );
        let fwd = Counter::<u64>::default();
        fwd.inc_by(self.forwarded.load(Relaxed));
        reg.register(
            "forwarded_queries",
            "Queries forwarded to upstream resolvers and answered",
            fwd,
        );
        let errs = Family::<KindLabels, Counter>::default();
        for (i, k) in FWD_KINDS.iter().enumerate() {
            errs.get_or_create(&KindLabels { kind: k })
                .inc_by(self.forward_errors[i].load(Relaxed));
        }
        reg.register(
            "forward_errors",
            "Forwarded queries that failed (answered SERVFAIL)",
            errs,
        );
        let mut buckets = Vec::with_capacity(NB);
        let mut count = 0;
        for (i, b) in self.latency.iter().enumerate() {
            let v = b.load(Relaxed);
            count += v;
            buckets.push((BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), v));
        }
        let sum = self.latency_sum_ns.load(Relaxed) as f64 / 1e9;
        reg.register(
            "request_duration_seconds",
            "Time from receiving a query to sending its answer",
            HistogramSnapshot {
                sum,
                count,
                buckets,
            },
        );
        let g = Gauge::<i64>::default();
        g.set(self.table_services.load(Relaxed) as i64);
        reg.register("table_services", "Services in the current answer table", g);
        let g = Gauge::<i64>::default();
        g.set(self.table_records.load(Relaxed) as i64);
        reg.register("table_records", "Records in the current answer table", g);
        let built = self.table_built_unix_ms.load(Relaxed);
        let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        if built != 0 {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            age.set(now.saturating_sub(built) as f64 / 1000.0);
        }
        reg.register(
            "table_age_seconds",
            "Seconds since the current answer table was built",
            age,
        );
        let c = Counter::<u64>::default();
        c.inc_by(self.table_loads.load(Relaxed));
        reg.register("table_loads", "Answer tables published", c);
        let c = Counter::<u64>::default();
        c.inc_by(self.table_load_errors.load(Relaxed));
        reg.register(
            "table_load_errors",
            "Source updates rejected; the previous table was kept",
            c,
        );
        self.register_abuse(&mut reg);
        if self.stream.enabled.load(Relaxed) {
            self.register_stream(&mut reg);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }
}
