//! Log output (`logging.level`, `logging.format`) and the per-request span.
//!
//! Every request runs in one `request` span carrying `request_id`, `method` and `path` (never
//! the query string, so pre-signed `os_auth`/`os_sig` values stay out of the logs; headers
//! are never logged, so neither are `x-os-auth` nor `authorization`); the span and the
//! request's log line come from [`crate::middleware::envelope`]. The request id is the
//! client's `x-request-id` when that is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters,
//! otherwise a generated UUID; it is echoed in the response's `x-request-id` header.
//!
//! Errors are logged once: a 5xx answered from an [`crate::error::ApiError`] is logged at
//! error level with its whole cause chain ([`ErrorChain`]) where it becomes a response, and
//! reported to Sentry there ([`crate::error_reporting`]); the request's own log line then
//! stays at debug level.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingConfig};

/// Installs the global `tracing` subscriber. `RUST_LOG`, when set, overrides
/// `logging.level`. Logs go to stderr; lines that cannot be written are dropped.
pub(crate) fn init(config: &LoggingConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives),
        // s3s logs every S3 client error at error level; the S3 front logs its failures.
        _ => EnvFilter::try_new(format!("{},s3s=off", config.level.to_ascii_lowercase())),
    }
    .map_err(|e| anyhow::anyhow!("invalid configuration: `logging.level`: {e}"))?;
    let format = match config.format {
        LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Pretty,
        LogFormat::Auto => LogFormat::Simplified,
        other => other,
    };
    // A log line that cannot be written (stderr on a full disk) is dropped. The subscriber
    // would otherwise report it with `eprintln!`, which panics when stderr fails: every
    // request would lose its connection, and a thread that logs while unwinding would abort
    // the process.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
        _ => builder.compact().with_ansi(false).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// The request and response header carrying the request id.
pub(crate) const REQUEST_ID_HEADER: http::HeaderName =
    http::HeaderName::from_static("x-request-id");

/// The longest client-supplied request id that is kept.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 128;

/// The client's request id when it is acceptable (1 to [`MAX_REQUEST_ID_LEN`] visible ASCII
/// characters), otherwise a new UUID; as the header value that echoes it (the client's own
/// value is shared, not copied). Always visible ASCII, so `to_str` succeeds.
pub(crate) fn request_id(headers: &http::HeaderMap) -> http::HeaderValue {
    match headers.get(&REQUEST_ID_HEADER) {
        Some(value) if acceptable(value.as_bytes()) => value.clone(),
        _ => generated_id(),
    }
}

fn acceptable(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.iter().all(u8::is_ascii_graphic)
}

thread_local! {
    /// Request ids must be unique, not unpredictable: a small fast generator per thread
    /// (xoshiro), seeded once from the thread's cryptographic one, whose ChaCha rounds cost
    /// several hundred instructions per id.
    static ID_RNG: std::cell::RefCell<rand::rngs::SmallRng> =
        std::cell::RefCell::new(rand::SeedableRng::from_rng(&mut rand::rng()));
}

/// A random (version 4) UUID from the thread's generator: `Uuid::new_v4` asks the kernel
/// for entropy on every call, a system call per request without an `x-request-id`.
/// Formatted on the stack: the header value is the only allocation.
fn generated_id() -> http::HeaderValue {
    let random: [u8; 16] = ID_RNG.with_borrow_mut(rand::Rng::random);
    let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Builder::from_random_bytes(random)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut text);
    // Hex digits and hyphens are always a valid header value.
    http::HeaderValue::from_str(text).unwrap_or(http::HeaderValue::from_static("-"))
}

/// A response extension: the error behind this response was already logged (with its
/// cause chain) and reported, so the request log line does not repeat it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorLogged;

/// Displays an error followed by its source chain: `outer: cause: root cause`. A cause whose
/// text the previous one already ends with (a wrapper that prints its source, such as
/// `service error: {0}`) is not repeated.
pub(crate) struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut previous = self.0.to_string();
        f.write_str(&previous)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !previous.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            previous = text;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn an_error_chain_names_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        enum Wrapper {
            #[error("service error: {0}")]
            Service(#[source] objectstore_service::Error),
        }
        let inner = objectstore_service::Error::backend(
            "embedded",
            "commit",
            std::io::Error::other("disk on fire"),
        );
        let wrapped = Wrapper::Service(inner);
        assert_eq!(
            ErrorChain(&wrapped).to_string(),
            "service error: embedded backend failed to commit: disk on fire"
        );
    }

    fn id_for(value: &[u8]) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(
            REQUEST_ID_HEADER,
            HeaderValue::from_bytes(value).expect("header value"),
        );
        request_id(&headers)
            .to_str()
            .expect("visible ASCII")
            .to_owned()
    }

    fn is_uuid(s: &(impl AsRef<[u8]> + ?Sized)) -> bool {
        uuid::Uuid::try_parse_ascii(s.as_ref()).is_ok()
    }

    #[test]
    fn visible_ascii_ids_are_kept() {
        assert_eq!(id_for(b"abc-123"), "abc-123");
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(id_for(longest.as_bytes()), longest);
    }

    #[test]
    fn generated_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..10_000)
            .map(|_| generated_id().to_str().expect("ASCII").to_owned())
            .collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(uuid.get_version_num(), 4, "{id}");
        }
    }

    #[test]
    fn missing_empty_long_or_invisible_ids_are_replaced() {
        assert!(is_uuid(&request_id(&HeaderMap::new())));
        for bad in [
            b"".to_vec(),
            b"with space".to_vec(),
            b"tab\there".to_vec(),
            vec![b'a'; MAX_REQUEST_ID_LEN + 1],
            "caf\u{e9}".as_bytes().to_vec(),
        ] {
            let id = id_for(&bad);
            assert!(is_uuid(&id), "{bad:?} gave {id}");
        }
    }
}
