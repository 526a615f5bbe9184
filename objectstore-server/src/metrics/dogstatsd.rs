//! DogStatsD export (`metrics.addr`): a second recorder beside the Prometheus one.
//!
//! [`recorder`] builds a `metrics-exporter-dogstatsd` recorder from `metrics.*`; the caller
//! puts it behind a [`metrics_util::layers::Fanout`] together with the Prometheus recorder,
//! so every `metrics::counter!` (and friends) reaches both.
//!
//! Names: the facade names carry the `objectstore_` prefix that Prometheus needs; for
//! DogStatsD that prefix is replaced by `metrics.prefix` and a dot, so
//! `objectstore_http_requests_total` is sent as `objectstore.http_requests_total` with the
//! default prefix (and `myapp.http_requests_total` with `prefix: myapp`). Labels become
//! tags; `metrics.tags` are added to every metric. Histograms are sent as distributions
//! (`|d`). Metrics are aggregated in process and flushed every `metrics.flush_interval`
//! (default 3 s) by the exporter's own thread; a failing agent never blocks a request.

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_dogstatsd::{DogStatsDBuilder, DogStatsDRecorder};

use crate::config::MetricsConfig;

/// The name prefix of every metric of this server, replaced by `metrics.prefix` here.
const NAME_PREFIX: &str = "objectstore_";

/// Builds the DogStatsD recorder for `config`, or `None` when `metrics.addr` is unset.
/// Errors name the offending key.
pub(super) fn recorder(
    config: &MetricsConfig,
) -> anyhow::Result<Option<Renamed<DogStatsDRecorder>>> {
    let Some(addr) = config.addr.as_deref() else {
        return Ok(None);
    };
    let mut builder = DogStatsDBuilder::default()
        .with_remote_address(addr)
        .map_err(|e| anyhow::anyhow!("invalid configuration: `metrics.addr`: {e}"))?
        .with_telemetry(false)
        .with_flush_interval(config.flush_interval)
        .with_global_labels(
            config
                .tags
                .iter()
                .map(|(k, v)| Label::new(k.clone(), v.clone()))
                .collect(),
        );
    if !config.prefix.is_empty() {
        builder = builder.set_global_prefix(config.prefix.clone());
    }
    if let Some(size) = config.buffer_size {
        builder = builder
            .with_maximum_payload_length(size)
            .map_err(|e| anyhow::anyhow!("invalid configuration: `metrics.buffer_size`: {e}"))?;
    }
    let recorder = builder
        .build()
        .map_err(|e| anyhow::anyhow!("invalid configuration: `metrics.*`: {e}"))?;
    Ok(Some(Renamed(recorder)))
}

/// A recorder that strips the `objectstore_` prefix from every metric name before passing it on.
#[derive(Debug)]
pub(super) struct Renamed<R>(R);

fn strip(name: &str) -> &str {
    name.strip_prefix(NAME_PREFIX).unwrap_or(name)
}

fn renamed_key(key: &Key) -> Key {
    Key::from_parts(
        strip(key.name()).to_owned(),
        key.labels().cloned().collect::<Vec<_>>(),
    )
}

fn renamed_name(name: &KeyName) -> KeyName {
    KeyName::from(strip(name.as_str()).to_owned())
}

impl<R: Recorder> Recorder for Renamed<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0
            .describe_counter(renamed_name(&key), unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(renamed_name(&key), unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0
            .describe_histogram(renamed_name(&key), unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(&renamed_key(key), metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(&renamed_key(key), metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(&renamed_key(key), metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_the_server_prefix() {
        assert_eq!(
            strip("objectstore_http_requests_total"),
            "http_requests_total"
        );
        assert_eq!(strip("other_metric"), "other_metric");
        let key = Key::from_parts("objectstore_x", vec![Label::new("route", "/health")]);
        let renamed = renamed_key(&key);
        assert_eq!(renamed.name(), "x");
        assert_eq!(renamed.labels().next().map(Label::value), Some("/health"));
    }

    #[test]
    fn invalid_addresses_name_the_key() {
        let config = MetricsConfig {
            addr: Some("not an address".into()),
            ..MetricsConfig::default()
        };
        let error = recorder(&config).err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("metrics.addr")),
            "{error:?}"
        );
    }
}
