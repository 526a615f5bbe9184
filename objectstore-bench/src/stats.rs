//! Latency recording and summaries.
//!
//! Each worker records into its own [`Recorder`] (no sharing on the hot path); recorders are
//! merged after the run and summarized once. Latencies are kept exactly (nanoseconds in a
//! vector, 8 bytes per request) and sorted for the percentiles: at the request rates a
//! 2-core machine reaches in a few seconds that is a few MiB, and the figures are exact
//! rather than bucketed. Percentile `q` is the smallest sample with at least `q` of all
//! samples at or below it (nearest rank). Only successful requests contribute latencies and
//! bytes; failures are counted, and the first failure's message is kept for the output.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Samples of one operation kind.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    nanos: Vec<u64>,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Recorder {
    /// Records one successful request that moved `bytes` payload bytes.
    pub fn ok(&mut self, latency: Duration, bytes: u64) {
        self.nanos
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        self.bytes += bytes;
    }

    /// Records one failed request.
    pub fn error(&mut self, message: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }

    /// Records the `result` of one request started at `started`: a sample moving `bytes`
    /// when it is `Ok`, a failure with its message otherwise. Passes `result` on.
    pub fn record<T>(
        &mut self,
        started: Instant,
        bytes: u64,
        result: Result<T, String>,
    ) -> Result<T, String> {
        match &result {
            Ok(_) => self.ok(started.elapsed(), bytes),
            Err(e) => self.error(|| e.clone()),
        }
        result
    }

    /// Adds `other`'s samples to this recorder.
    pub fn merge(&mut self, other: Self) {
        self.nanos.extend(other.nanos);
        self.bytes += other.bytes;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Successful requests recorded so far.
    pub fn count(&self) -> u64 {
        self.nanos.len() as u64
    }

    /// Summarizes samples of requests that ran one at a time: the rates are over the sum of
    /// their latencies.
    pub fn summarize_sequential(self, op: &str) -> OpSummary {
        let busy = Duration::from_nanos(self.nanos.iter().sum());
        self.summarize(op, busy)
    }

    /// Summarizes the samples of a run that lasted `elapsed`.
    pub fn summarize(mut self, op: &str, elapsed: Duration) -> OpSummary {
        self.nanos.sort_unstable();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let pct = |q: f64| percentile(&self.nanos, q) as f64 / 1e6;
        OpSummary {
            op: op.to_owned(),
            count: self.count(),
            errors: self.errors,
            first_error: self.first_error,
            seconds: elapsed.as_secs_f64(),
            ops_per_s: self.nanos.len() as f64 / secs,
            bytes: self.bytes,
            bytes_per_s: self.bytes as f64 / secs,
            mean_ms: if self.nanos.is_empty() {
                0.0
            } else {
                self.nanos.iter().map(|&n| n as f64).sum::<f64>() / self.nanos.len() as f64 / 1e6
            },
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: self.nanos.last().copied().unwrap_or(0) as f64 / 1e6,
        }
    }
}

/// Nearest-rank percentile of sorted samples; 0 when there are none.
///
/// ```
/// use objectstore_bench::stats::percentile;
/// let v: Vec<u64> = (1..=100).collect();
/// assert_eq!(percentile(&v, 0.5), 50);
/// assert_eq!(percentile(&v, 0.99), 99);
/// assert_eq!(percentile(&v, 1.0), 100);
/// assert_eq!(percentile(&[], 0.5), 0);
/// ```
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The figures of one operation kind in one workload run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpSummary {
    /// Operation name (`put`, `get`, `head`, `delete`, `batch`, ...).
    pub op: String,
    /// Successful requests.
    pub count: u64,
    /// Failed requests (transport errors and unexpected statuses).
    pub errors: u64,
    /// The first failure, for diagnosis.
    pub first_error: Option<String>,
    /// Wall time of the measured phase.
    pub seconds: f64,
    /// Successful requests per second.
    pub ops_per_s: f64,
    /// Payload bytes moved by successful requests (sent for writes, received for reads).
    pub bytes: u64,
    /// Payload bytes per second.
    pub bytes_per_s: f64,
    /// Mean latency.
    pub mean_ms: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile latency.
    pub p90_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_and_percentiles() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        for i in 1..=50u64 {
            a.ok(Duration::from_millis(i), 10);
            b.ok(Duration::from_millis(100 - i + 1), 10);
        }
        b.error(|| "boom".to_owned());
        b.error(|| "second".to_owned());
        a.merge(b);
        let s = a.summarize("get", Duration::from_secs(2));
        assert_eq!(s.count, 100);
        assert_eq!(s.errors, 2);
        assert_eq!(s.first_error.as_deref(), Some("boom"));
        assert_eq!(s.bytes, 1000);
        assert!((s.ops_per_s - 50.0).abs() < 1e-9);
        assert!((s.bytes_per_s - 500.0).abs() < 1e-9);
        assert!((s.p50_ms - 50.0).abs() < 1e-9);
        assert!((s.p90_ms - 90.0).abs() < 1e-9);
        assert!((s.p99_ms - 99.0).abs() < 1e-9);
        assert!((s.max_ms - 100.0).abs() < 1e-9);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
    }

    #[test]
    fn empty_summary_is_zero() {
        let s = Recorder::default().summarize("put", Duration::from_secs(1));
        assert_eq!(s.count, 0);
        assert_eq!(s.p99_ms, 0.0);
        assert_eq!(s.max_ms, 0.0);
    }
}
