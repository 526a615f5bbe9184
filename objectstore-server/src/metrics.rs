//! Process metrics: the Prometheus exposition of `GET /metrics` and the fixed-format
//! `/keda` text (docs/http-api.md §13.3).
//!
//! # `/metrics`
//!
//! Every component records through the [`metrics`] facade (`metrics::counter!` and friends).
//! `install_recorder` installs one process-wide `metrics-exporter-prometheus` recorder (no
//! HTTP listener of its own) the first time an [`AppState`](crate::state::AppState) is built;
//! `GET /metrics` (`crate::endpoints::internal`) renders it; a background thread runs the
//! recorder's upkeep every second so unscraped histograms stay bounded. The metric names
//! recorded anywhere are listed in [`CATALOGUE`]; `docs/metrics.md` documents every one
//! with its labels and suggested alerts (a test checks both against a real scrape).
//!
//! With `metrics.addr` set, [`init`] also installs a DogStatsD exporter behind a fan-out
//! recorder (`dogstatsd`), so the same metrics go to both.
//! Invariants: each request is counted exactly once in `HTTP_REQUESTS` and
//! `HTTP_REQUEST_DURATION` (by `crate::middleware::envelope`), and
//! `HTTP_IN_FLIGHT` goes up once and down once per request (down when the response body is
//! finished or dropped).
//!
//! # `/keda`
//!
//! The HTTP layer keeps the in-flight gauge of object requests, maintained by
//! `crate::middleware::envelope` (one increment and one decrement per request, the decrement when
//! the response body is finished or dropped). Request and byte counters come from the rate limiter,
//! task gauges from the storage service; `KedaSnapshot` gathers them for `KedaSnapshot::render`.
//! Its format is fixed by the contract (§13.3) and does not change with `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use objectstore_service::integrity::{self, Check};

mod dogstatsd;
mod routes;

pub(crate) use routes::RouteMetrics;

/// Counter `{method, route, status}`: requests answered.
pub(crate) const HTTP_REQUESTS: &str = "objectstore_http_requests_total";
/// Histogram `{method, route, status}`: seconds until the response head was ready.
pub(crate) const HTTP_REQUEST_DURATION: &str = "objectstore_http_request_duration_seconds";
/// Counter `{route}`: request body bytes read.
pub(crate) const HTTP_REQUEST_BYTES: &str = "objectstore_http_request_bytes_total";
/// Counter `{route}`: response body bytes sent.
pub(crate) const HTTP_RESPONSE_BYTES: &str = "objectstore_http_response_bytes_total";
/// Gauge: requests (every route) whose response is not finished yet.
pub(crate) const HTTP_IN_FLIGHT: &str = "objectstore_http_requests_in_flight";
/// Counter `{reason}`: requests turned away by admission control.
pub(crate) const ADMISSION_REJECTIONS: &str = "objectstore_admission_rejections_total";
/// Counter `{reason}`: request bodies cut off by the body limits (`idle`, `min_rate`).
pub(crate) const BODY_CUTOFFS: &str = "objectstore_http_request_body_cutoffs_total";

/// The `route` label of requests that matched no route (404s).
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// Histogram buckets in seconds (1 ms to 60 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Why admission control turned a request away (`reason` label of [`ADMISSION_REJECTIONS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RejectionReason {
    /// `http.max_requests` object requests were already in flight: 503.
    InFlight,
    /// A killswitch matched: 403.
    Killswitch,
    /// A throughput or bandwidth bucket was exhausted: 429.
    RateLimit,
    /// The storage service's concurrency limit (and queue) was full: 429.
    Concurrency,
}

impl RejectionReason {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in_flight",
            Self::Killswitch => "killswitch",
            Self::RateLimit => "rate_limit",
            Self::Concurrency => "concurrency",
        }
    }
}

/// Counts one admission rejection.
pub(crate) fn record_rejection(reason: RejectionReason) {
    metrics::counter!(ADMISSION_REJECTIONS, "reason" => reason.as_str()).increment(1);
}

/// The `reason` values of `objectstore_http_request_body_cutoffs_total`.
pub const BODY_CUTOFF_REASONS: [&str; 2] = ["idle", "min_rate"];

/// Counts one request body cut off for `reason` (one of [`BODY_CUTOFF_REASONS`]).
pub fn record_body_cutoff(reason: &'static str) {
    metrics::counter!(BODY_CUTOFFS, "reason" => reason).increment(1);
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder from `metrics.*`: Prometheus (for `/metrics`), plus
/// DogStatsD when `metrics.addr` is set (both behind one fan-out recorder, see
/// `dogstatsd`). Call it once at start-up, before anything records a metric.
///
/// When a recorder was installed before (a test server built an `AppState` first, or an
/// embedding application installed its own), the existing one stays and a DogStatsD
/// configuration is not applied (a warning is logged).
pub fn init(config: &crate::config::MetricsConfig) -> anyhow::Result<&'static PrometheusHandle> {
    let statsd = dogstatsd::recorder(config)?;
    let mut installed_here = false;
    let handle = PROMETHEUS.get_or_init(|| {
        installed_here = true;
        install(statsd.map(|r| Box::new(r) as Box<dyn metrics::Recorder + Send + Sync>))
    });
    if !installed_here && config.addr.is_some() {
        tracing::warn!("metrics recorder already installed; `metrics.addr` is not applied");
    }
    Ok(handle)
}

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
/// [`init`] does the same with the configured DogStatsD export.
pub(crate) fn install_recorder() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| install(None))
}

/// Builds the Prometheus recorder, fans out to `extra` when given, and sets the result as
/// the global recorder.
fn install(extra: Option<Box<dyn metrics::Recorder + Send + Sync>>) -> PrometheusHandle {
    let builder = match PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "invalid histogram buckets; using summaries");
            PrometheusBuilder::new()
        }
    };
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    let result = match extra {
        None => metrics::set_global_recorder(recorder).map_err(|e| e.to_string()),
        Some(extra) => {
            let fanout = metrics_util::layers::FanoutBuilder::default()
                .add_recorder(recorder)
                .add_recorder(extra)
                .build();
            metrics::set_global_recorder(fanout).map_err(|e| e.to_string())
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "a metrics recorder is already installed; /metrics stays empty");
    }
    describe();
    // Rare events: registered at zero so dashboards and alerts see the series at once.
    for operation in integrity::OPERATIONS {
        for check in Check::ALL {
            let _registered = metrics::counter!(
                integrity::FAILURES,
                "operation" => operation,
                "check" => check.as_str()
            );
        }
    }
    for reason in BODY_CUTOFF_REASONS {
        let _registered = metrics::counter!(BODY_CUTOFFS, "reason" => reason);
    }
    spawn_upkeep(handle.clone());
    handle
}

/// How often histogram samples are folded into their buckets when nobody scrapes. Samples
/// wait in memory until then (8 bytes each, a few per request): at 30 000 requests per
/// second, a 5 s interval held several MiB of them at peak.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Folds recorded histogram samples into their buckets every [`UPKEEP_INTERVAL`] on a
/// process-lifetime thread (independent of any runtime), so that memory stays bounded even
/// when `/metrics` is never scraped.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start metrics upkeep; histograms drain only on scrape");
    }
}

/// Gauge: object requests in flight (the value `/keda` reports), set when scraped.
pub(crate) const OBJECT_IN_FLIGHT: &str = "objectstore_object_requests_in_flight";
/// Gauge: `http.max_requests`, set when scraped.
pub(crate) const OBJECT_LIMIT: &str = "objectstore_object_requests_limit";
/// Gauge: storage operations holding a concurrency permit, set when scraped.
pub(crate) const TASKS_RUNNING: &str = "objectstore_storage_tasks_running";
/// Gauge: `service.max_concurrency`, set when scraped.
pub(crate) const TASKS_LIMIT: &str = "objectstore_storage_tasks_limit";

/// The kind of a metric in [`CATALOGUE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic count.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Distribution (Prometheus: `_bucket`, `_sum`, `_count`).
    Histogram,
}

/// Every metric the server records: name, kind, help text. `docs/metrics.md` documents
/// each one (a test keeps the two in step); `install_recorder` registers the help texts.
pub const CATALOGUE: &[(&str, Kind, &str)] = &[
    (
        HTTP_REQUESTS,
        Kind::Counter,
        "Requests answered, by method, route template and status.",
    ),
    (
        HTTP_REQUEST_DURATION,
        Kind::Histogram,
        "Seconds until the response head was ready.",
    ),
    (
        HTTP_REQUEST_BYTES,
        Kind::Counter,
        "Request body bytes read, by route.",
    ),
    (
        HTTP_RESPONSE_BYTES,
        Kind::Counter,
        "Response body bytes sent, by route.",
    ),
    (
        HTTP_IN_FLIGHT,
        Kind::Gauge,
        "Requests (every route) whose response is not finished.",
    ),
    (
        ADMISSION_REJECTIONS,
        Kind::Counter,
        "Requests turned away by admission control, by reason.",
    ),
    (
        BODY_CUTOFFS,
        Kind::Counter,
        "Request bodies cut off as too slow, by reason (idle, min_rate).",
    ),
    (
        OBJECT_IN_FLIGHT,
        Kind::Gauge,
        "Object requests in flight (limited by http.max_requests).",
    ),
    (OBJECT_LIMIT, Kind::Gauge, "Configured http.max_requests."),
    (
        TASKS_RUNNING,
        Kind::Gauge,
        "Storage operations holding a concurrency permit.",
    ),
    (
        TASKS_LIMIT,
        Kind::Gauge,
        "Configured service.max_concurrency.",
    ),
    (
        objectstore_service::backend::around::metering::BACKEND_DURATION,
        Kind::Histogram,
        "Seconds per backend call, by tier, backend, operation and result.",
    ),
    (
        objectstore_service::backend::around::metering::BACKEND_ERRORS,
        Kind::Counter,
        "Backend calls that returned an error, by tier, backend, operation and kind.",
    ),
    (
        "objectstore_tiered_writes_total",
        Kind::Counter,
        "Tiered size-routing decisions, by tier.",
    ),
    (
        "objectstore_tiered_cleanups_total",
        Kind::Counter,
        "Change-record cleanups, by outcome.",
    ),
    (
        objectstore_service::integrity::FAILURES,
        Kind::Counter,
        "Long-term store writes and reads whose bytes did not match, by operation and check.",
    ),
    (
        "objectstore_tiered_recovery_passes_total",
        Kind::Counter,
        "Recovery passes, by outcome.",
    ),
    (
        "objectstore_tiered_recovery_records_total",
        Kind::Counter,
        "Change records processed by recovery, by result.",
    ),
    (
        "objectstore_tiered_change_log_depth",
        Kind::Gauge,
        "Records in the change log, sampled after each recovery pass.",
    ),
    (
        "objectstore_tiered_recovery_oldest_record_age_seconds",
        Kind::Gauge,
        "Age of the oldest change record the last recovery pass processed (0: none).",
    ),
    (
        "objectstore_tiered_sweep_passes_total",
        Kind::Counter,
        "Expiry sweep passes, by outcome.",
    ),
    (
        "objectstore_tiered_sweep_rows_total",
        Kind::Counter,
        "Expired high-volume rows handled by the sweeper, by result.",
    ),
    (
        "objectstore_filesystem_sweep_passes_total",
        Kind::Counter,
        "Completed sweep passes of filesystem stores.",
    ),
    (
        "objectstore_filesystem_sweep_entries_total",
        Kind::Counter,
        "Entries handled by filesystem sweeps, by result.",
    ),
    (
        "objectstore_embedded_value_log_segments",
        Kind::Gauge,
        "Segment files of the embedded store's value log.",
    ),
    (
        "objectstore_embedded_value_log_bytes",
        Kind::Gauge,
        "Bytes in the value log's segment files.",
    ),
    (
        "objectstore_embedded_value_log_reclaimable_bytes",
        Kind::Gauge,
        "Value-log bytes no row points at (garbage compaction can give back).",
    ),
    (
        "objectstore_embedded_compaction_moved_bytes_total",
        Kind::Counter,
        "Live value-log bytes compaction moved out of segments it deleted.",
    ),
    (
        "objectstore_embedded_compaction_reclaimed_bytes_total",
        Kind::Counter,
        "Segment bytes compaction gave back to the filesystem.",
    ),
    (
        "objectstore_embedded_compaction_errors_total",
        Kind::Counter,
        "Compaction passes that failed (retried a second later).",
    ),
];

/// Registers the help texts of [`CATALOGUE`] with the installed recorder.
fn describe() {
    for (name, kind, help) in CATALOGUE {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *help),
            Kind::Histogram => metrics::describe_histogram!(*name, *help),
        }
    }
}

/// The HTTP layer's own gauges. Building one installs the Prometheus recorder
/// ([`install_recorder`]).
#[derive(Debug)]
pub(crate) struct Metrics {
    in_flight: AtomicUsize,
    http_in_flight: metrics::Gauge,
    routes: routes::RouteTable,
    s3_routes: routes::RouteTable,
}

impl Default for Metrics {
    fn default() -> Self {
        install_recorder();
        Self {
            in_flight: AtomicUsize::new(0),
            http_in_flight: metrics::gauge!(HTTP_IN_FLIGHT),
            routes: routes::RouteTable::default(),
            s3_routes: routes::RouteTable::with_prefix("s3:"),
        }
    }
}

impl Metrics {
    /// The handle of [`HTTP_IN_FLIGHT`].
    pub(crate) fn http_in_flight(&self) -> &metrics::Gauge {
        &self.http_in_flight
    }

    /// The request metric handles of a route template (`None`: no route matched).
    pub(crate) fn route(&self, template: Option<&str>) -> Arc<RouteMetrics> {
        self.routes.get(template)
    }

    /// The request metric handles of an S3 operation (label `s3:<operation>`).
    pub(crate) fn s3_route(&self, operation: &str) -> Arc<RouteMetrics> {
        self.s3_routes.get(Some(operation))
    }

    /// Increments the in-flight gauge; returns the value before.
    pub(crate) fn enter(&self) -> usize {
        self.in_flight.fetch_add(1, Ordering::SeqCst)
    }

    /// Decrements the in-flight gauge.
    pub(crate) fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Object requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Every value `/keda` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KedaSnapshot {
    /// `objectstore_bytes_total`: payload bytes charged by the bandwidth limiter.
    pub(crate) bytes_total: u64,
    /// `objectstore_requests_total`: requests admitted by the throughput limiter.
    pub(crate) requests_total: u64,
    /// `objectstore_requests_in_flight`.
    pub(crate) requests_in_flight: u64,
    /// `objectstore_requests_limit` (`http.max_requests`).
    pub(crate) requests_limit: u64,
    /// `objectstore_tasks_running`: storage operations holding a permit.
    pub(crate) tasks_running: u64,
    /// `objectstore_tasks_limit` (`service.max_concurrency`).
    pub(crate) tasks_limit: u64,
    /// `objectstore_bandwidth_limit`, only when `global_bps` is configured.
    pub(crate) bandwidth_limit: Option<u64>,
    /// `objectstore_throughput_limit`, only when `global_rps` is configured.
    pub(crate) throughput_limit: Option<u64>,
}

impl KedaSnapshot {
    /// The Prometheus text exposition (format 0.0.4): `# HELP`, `# TYPE` and the value of
    /// each metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        };
        metric(
            "objectstore_bytes_total",
            "counter",
            "Payload bytes transferred.",
            self.bytes_total,
        );
        metric(
            "objectstore_requests_total",
            "counter",
            "Object requests admitted.",
            self.requests_total,
        );
        metric(
            "objectstore_requests_in_flight",
            "gauge",
            "Object requests being served.",
            self.requests_in_flight,
        );
        metric(
            "objectstore_requests_limit",
            "gauge",
            "Object requests allowed in flight.",
            self.requests_limit,
        );
        metric(
            "objectstore_tasks_running",
            "gauge",
            "Storage operations running.",
            self.tasks_running,
        );
        metric(
            "objectstore_tasks_limit",
            "gauge",
            "Storage operations allowed at once.",
            self.tasks_limit,
        );
        if let Some(bps) = self.bandwidth_limit {
            metric(
                "objectstore_bandwidth_limit",
                "gauge",
                "Configured global bandwidth limit in bytes per second.",
                bps,
            );
        }
        if let Some(rps) = self.throughput_limit {
            metric(
                "objectstore_throughput_limit",
                "gauge",
                "Configured global throughput limit in requests per second.",
                rps,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_value_for_each_metric() {
        let text = KedaSnapshot {
            bytes_total: 10,
            requests_total: 1,
            requests_in_flight: 0,
            requests_limit: 7,
            tasks_running: 1,
            tasks_limit: 500,
            bandwidth_limit: Some(100),
            throughput_limit: None,
        }
        .render();
        for line in [
            "# HELP objectstore_bytes_total Payload bytes transferred.",
            "# TYPE objectstore_bytes_total counter",
            "objectstore_bytes_total 10",
            "objectstore_requests_total 1",
            "objectstore_requests_in_flight 0",
            "objectstore_requests_limit 7",
            "objectstore_tasks_running 1",
            "objectstore_tasks_limit 500",
            "objectstore_bandwidth_limit 100",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("objectstore_throughput_limit"));
    }
}
