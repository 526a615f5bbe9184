//! Process metrics: the Prometheus exposition of `GET /metrics` and the fixed-format
//! `/keda` text (spec section 11).
//!
//! # `/metrics`
//!
//! Every component records through the [`metrics`] facade (`metrics::counter!` and friends).
//! [`install_recorder`] installs one process-wide `metrics-exporter-prometheus` recorder (no
//! HTTP listener of its own) the first time an [`AppState`](crate::app::AppState) is built;
//! [`render_metrics`] answers `GET /metrics` from it; a background thread runs the
//! recorder's upkeep every few seconds so unscraped histograms stay bounded. The metric names
//! recorded by the HTTP layer are the constants below; `docs/operations.md` lists every
//! metric with its labels.
//! Invariants: each request is counted exactly once in [`HTTP_REQUESTS`] and
//! [`HTTP_REQUEST_DURATION`] (by [`crate::middleware::record_metrics`]), and
//! [`HTTP_IN_FLIGHT`] goes up once and down once per request (down when the response body is
//! finished or dropped).
//!
//! # `/keda`
//!
//! The HTTP layer keeps the in-flight gauge of object requests, maintained by
//! [`crate::middleware::limit_in_flight`] (one increment and one decrement per request, the
//! decrement when the response body is finished or dropped). Request and byte counters come
//! from the rate limiter, task gauges from the storage service; [`KedaSnapshot`] gathers
//! them for [`KedaSnapshot::render`]. Its format is fixed by the spec and does not change with
//! `/metrics`.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Counter `{method, route, status}`: requests answered.
pub const HTTP_REQUESTS: &str = "objectstore_http_requests_total";
/// Histogram `{method, route, status}`: seconds until the response head was ready.
pub const HTTP_REQUEST_DURATION: &str = "objectstore_http_request_duration_seconds";
/// Counter `{route}`: request body bytes read.
pub const HTTP_REQUEST_BYTES: &str = "objectstore_http_request_bytes_total";
/// Counter `{route}`: response body bytes sent.
pub const HTTP_RESPONSE_BYTES: &str = "objectstore_http_response_bytes_total";
/// Gauge: requests (every route) whose response is not finished yet.
pub const HTTP_IN_FLIGHT: &str = "objectstore_http_requests_in_flight";
/// Counter `{reason}`: requests turned away by admission control.
pub const ADMISSION_REJECTIONS: &str = "objectstore_admission_rejections_total";

/// The `route` label of requests that matched no route (404s).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Histogram buckets in seconds (1 ms to 60 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Why admission control turned a request away (`reason` label of [`ADMISSION_REJECTIONS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionReason {
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
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in_flight",
            Self::Killswitch => "killswitch",
            Self::RateLimit => "rate_limit",
            Self::Concurrency => "concurrency",
        }
    }
}

/// Counts one admission rejection.
pub fn record_rejection(reason: RejectionReason) {
    metrics::counter!(ADMISSION_REJECTIONS, "reason" => reason.as_str()).increment(1);
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
///
/// When another global recorder was installed first (an embedding application's), that one
/// keeps receiving the metrics and `/metrics` renders only what this recorder sees (nothing);
/// a warning is logged.
pub fn install_recorder() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(LATENCY_BUCKETS) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "invalid histogram buckets; using summaries");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %e, "a metrics recorder is already installed; /metrics stays empty");
        }
        spawn_upkeep(handle.clone());
        handle
    })
}

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

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

/// `GET /metrics`: the Prometheus text exposition (format 0.0.4) of every metric recorded
/// through the `metrics` facade.
pub async fn render_metrics() -> Response {
    let handle = install_recorder();
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The HTTP layer's own gauges. Building one installs the Prometheus recorder
/// ([`install_recorder`]).
#[derive(Debug)]
pub struct Metrics {
    in_flight: AtomicUsize,
}

impl Default for Metrics {
    fn default() -> Self {
        install_recorder();
        Self {
            in_flight: AtomicUsize::new(0),
        }
    }
}

impl Metrics {
    /// Increments the in-flight gauge; returns the value before.
    pub fn enter(&self) -> usize {
        self.in_flight.fetch_add(1, Ordering::SeqCst)
    }

    /// Decrements the in-flight gauge.
    pub fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Object requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Every value `/keda` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KedaSnapshot {
    /// `objectstore_bytes_total`: payload bytes charged by the bandwidth limiter.
    pub bytes_total: u64,
    /// `objectstore_requests_total`: requests admitted by the throughput limiter.
    pub requests_total: u64,
    /// `objectstore_requests_in_flight`.
    pub requests_in_flight: u64,
    /// `objectstore_requests_limit` (`http.max_requests`).
    pub requests_limit: u64,
    /// `objectstore_tasks_running`: storage operations holding a permit.
    pub tasks_running: u64,
    /// `objectstore_tasks_limit` (`service.max_concurrency`).
    pub tasks_limit: u64,
    /// `objectstore_bandwidth_limit`, only when `global_bps` is configured.
    pub bandwidth_limit: Option<u64>,
    /// `objectstore_throughput_limit`, only when `global_rps` is configured.
    pub throughput_limit: Option<u64>,
}

impl KedaSnapshot {
    /// The Prometheus text exposition (format 0.0.4): `# HELP`, `# TYPE` and the value of
    /// each metric.
    pub fn render(&self) -> String {
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
