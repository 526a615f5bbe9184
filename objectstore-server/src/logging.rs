//! Log output (`logging.level`, `logging.format`).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingConfig};

/// Installs the global `tracing` subscriber. `RUST_LOG`, when set, overrides
/// `logging.level`. Logs go to stderr.
pub fn init(config: &LoggingConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(config.level.to_ascii_lowercase()),
    }
    .map_err(|e| anyhow::anyhow!("invalid configuration: `logging.level`: {e}"))?;
    let format = match config.format {
        LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Pretty,
        LogFormat::Auto => LogFormat::Simplified,
        other => other,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
        _ => builder.compact().with_ansi(false).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Middleware: runs each request in a `request` span (method, path) and logs its status and
/// latency at debug level (5xx at warn).
pub async fn log_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;

    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = std::time::Instant::now();
    async move {
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        if response.status().is_server_error() {
            tracing::warn!(status, ?elapsed, "request failed");
        } else {
            tracing::debug!(status, ?elapsed, "request served");
        }
        response
    }
    .instrument(span)
    .await
}
