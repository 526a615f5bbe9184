//! Process metrics and their Prometheus text rendering for `/keda` (spec section 11).
//!
//! Counters only go up; the in-flight gauge is maintained by
//! [`crate::middleware::limit_in_flight`] (one increment and one decrement per admitted
//! request, the decrement when the response body is finished or dropped).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The server's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    bytes: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicUsize,
}

/// Values of the storage service shown on `/keda`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceGauges {
    /// Storage operations running now.
    pub tasks_running: u64,
    /// Storage operations allowed at once.
    pub tasks_limit: u64,
}

impl Metrics {
    /// Counts payload bytes moved (request and response bodies of object operations).
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts an admitted object request.
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

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

    /// The Prometheus text exposition (format 0.0.4) of every metric. Limit gauges for
    /// bandwidth and throughput appear only when configured.
    pub fn render(
        &self,
        requests_limit: usize,
        service: ServiceGauges,
        bandwidth_limit: Option<u64>,
        throughput_limit: Option<f64>,
    ) -> String {
        let mut out = String::with_capacity(1024);
        let mut metric = |name: &str, kind: &str, help: &str, value: &dyn std::fmt::Display| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        };
        metric(
            "objectstore_bytes_total",
            "counter",
            "Payload bytes transferred.",
            &self.bytes.load(Ordering::Relaxed),
        );
        metric(
            "objectstore_requests_total",
            "counter",
            "Object requests admitted.",
            &self.requests.load(Ordering::Relaxed),
        );
        metric(
            "objectstore_requests_in_flight",
            "gauge",
            "Object requests being served.",
            &self.in_flight(),
        );
        metric(
            "objectstore_requests_limit",
            "gauge",
            "Object requests allowed in flight.",
            &requests_limit,
        );
        metric(
            "objectstore_tasks_running",
            "gauge",
            "Storage operations running.",
            &service.tasks_running,
        );
        metric(
            "objectstore_tasks_limit",
            "gauge",
            "Storage operations allowed at once.",
            &service.tasks_limit,
        );
        if let Some(bps) = bandwidth_limit {
            metric(
                "objectstore_bandwidth_limit",
                "gauge",
                "Configured global bandwidth limit in bytes per second.",
                &bps,
            );
        }
        if let Some(rps) = throughput_limit {
            metric(
                "objectstore_throughput_limit",
                "gauge",
                "Configured global throughput limit in requests per second.",
                &rps,
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
        let m = Metrics::default();
        m.add_bytes(10);
        m.add_request();
        let text = m.render(
            7,
            ServiceGauges {
                tasks_running: 1,
                tasks_limit: 500,
            },
            Some(100),
            None,
        );
        for line in [
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
