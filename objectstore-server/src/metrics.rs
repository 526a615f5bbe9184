//! Process metrics and their Prometheus text rendering for `/keda` (spec section 11).
//!
//! The HTTP layer keeps the in-flight gauge, maintained by
//! [`crate::middleware::limit_in_flight`] (one increment and one decrement per request, the
//! decrement when the response body is finished or dropped). Request and byte counters come
//! from the rate limiter, task gauges from the storage service; [`KedaSnapshot`] gathers
//! them for [`KedaSnapshot::render`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The HTTP layer's own gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    in_flight: AtomicUsize,
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
