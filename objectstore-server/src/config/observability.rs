//! Runtime, logging, error reporting and metrics settings (`runtime.*`, `logging.*`,
//! `sentry.*`, `metrics.*`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `runtime.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeConfig {
    /// Tokio worker threads. Default: the number of CPUs. Env `OS__RUNTIME__WORKER_THREADS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_threads: Option<usize>,
    /// How often runtime metrics are sampled. Default `10s`.
    /// Env `OS__RUNTIME__METRICS_INTERVAL`.
    #[serde(with = "humantime_serde")]
    pub metrics_interval: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            worker_threads: None,
            metrics_interval: Duration::from_secs(10),
        }
    }
}

/// `logging.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    /// Minimum level: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `OFF` (any case), or a
    /// full `tracing` filter directive (`info,objectstore_service=debug`). Default `INFO`.
    /// Env `OS__LOGGING__LEVEL`.
    pub level: String,
    /// Output format. Default `auto` (pretty on a terminal, simplified otherwise).
    /// Env `OS__LOGGING__FORMAT`.
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "INFO".into(),
            format: LogFormat::Auto,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `pretty` on a terminal, `simplified` otherwise.
    Auto,
    /// Multi-line, colored, human readable.
    Pretty,
    /// One compact line per event.
    Simplified,
    /// One JSON object per event.
    Json,
}

/// `sentry.*`: error reporting (see [`crate::error_reporting`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SentryConfig {
    /// DSN; reporting is enabled when set. Default none. Env `OS__SENTRY__DSN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    /// Environment name. Env `OS__SENTRY__ENVIRONMENT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Server name. Env `OS__SENTRY__SERVER_NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Error sample rate. Default 1.0. Env `OS__SENTRY__SAMPLE_RATE`.
    pub sample_rate: f32,
    /// Trace sample rate. Default 0.01. Env `OS__SENTRY__TRACES_SAMPLE_RATE`.
    pub traces_sample_rate: f32,
    /// Whether an incoming trace's sampling decision is honoured. Default true.
    /// Env `OS__SENTRY__INHERIT_SAMPLING_DECISION`.
    pub inherit_sampling_decision: bool,
    /// SDK debug output. Default false. Env `OS__SENTRY__DEBUG`.
    pub debug: bool,
    /// Extra tags. Default none. Env `OS__SENTRY__TAGS`.
    pub tags: BTreeMap<String, String>,
}

impl Default for SentryConfig {
    fn default() -> Self {
        Self {
            dsn: None,
            environment: None,
            server_name: None,
            sample_rate: 1.0,
            traces_sample_rate: 0.01,
            inherit_sampling_decision: true,
            debug: false,
            tags: BTreeMap::new(),
        }
    }
}

/// `metrics.*`: DogStatsD export beside `/metrics` (see `crate::metrics::dogstatsd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// DogStatsD address (`host:port`, `unix://path`, `unixgram://path`). Default none
    /// (disabled). Env `OS__METRICS__ADDR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Metric name prefix. Default `objectstore`. Env `OS__METRICS__PREFIX`.
    pub prefix: String,
    /// Client buffer size in bytes. Default: the client's. Env `OS__METRICS__BUFFER_SIZE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffer_size: Option<usize>,
    /// Tags added to every metric. Env `OS__METRICS__TAGS`.
    pub tags: BTreeMap<String, String>,
    /// How often aggregated metrics are sent. Default `3s`.
    /// Env `OS__METRICS__FLUSH_INTERVAL`.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            addr: None,
            prefix: "objectstore".into(),
            buffer_size: None,
            tags: BTreeMap::new(),
            flush_interval: Duration::from_secs(3),
        }
    }
}
