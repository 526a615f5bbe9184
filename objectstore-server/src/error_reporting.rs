//! Error reporting to Sentry (`sentry.*`).
//!
//! When `sentry.dsn` is set, [`init`] starts the Sentry client (HTTP transport over
//! `reqwest`, TLS through rustls; plain `http://` DSNs work too, e.g. a relay on loopback)
//! and the panic integration. Then:
//!
//! * every response with a 5xx status that comes from an `crate::error::ApiError` is
//!   reported once, as an exception event carrying the error and its cause chain
//!   (`capture`, called where the error is logged);
//! * a panic while serving a request is reported by the panic integration;
//! * each request runs with its own hub (`request_hub`) whose scope carries the tags
//!   `request_id` and `method`, so an event can be matched with the log lines of
//!   its request.
//!
//! **Invariant: no credential reaches Sentry.** Events carry no request headers, no query
//! string and no body (`send_default_pii` is off and no HTTP request context is attached);
//! as a second line of defence `scrub` rewrites every event before it is sent, replacing
//! anything that looks like a bearer token, a JWT or a pre-signed URL signature
//! (`os_auth=`, `os_sig=`) with `[redacted]`.
//!
//! `traces_sample_rate` and `inherit_sampling_decision` are accepted for compatibility with
//! reference configurations; the server records no performance traces.

use std::borrow::Cow;
use std::sync::Arc;

use anyhow::Context as _;
use sentry::protocol::Event;

use crate::config::SentryConfig;

/// Starts the Sentry client when `sentry.dsn` is set; keep the guard alive for the process
/// lifetime (dropping it flushes queued events, at most 2 s).
pub fn init(config: &SentryConfig) -> anyhow::Result<Option<sentry::ClientInitGuard>> {
    let Some(dsn) = config.dsn.as_deref().filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    // The DSN's key is not a secret in Sentry's model, but keep it out of messages anyway.
    let dsn: sentry::types::Dsn = dsn
        .parse()
        .ok()
        .context("invalid configuration: `sentry.dsn`: not a valid DSN")?;
    if !(0.0..=1.0).contains(&config.sample_rate) {
        anyhow::bail!("invalid configuration: `sentry.sample_rate`: must be between 0 and 1");
    }
    let mut options = sentry::ClientOptions::new()
        .release(concat!("objectstore@", env!("CARGO_PKG_VERSION")))
        .sample_rate(config.sample_rate)
        .traces_sample_rate(config.traces_sample_rate)
        .debug(config.debug)
        .send_default_pii(false)
        .attach_stacktrace(false)
        .before_send(|event| Some(scrub(event)))
        .transport(BoundedTransport);
    options.dsn = Some(dsn);
    if let Some(environment) = &config.environment {
        options = options.environment(environment.clone());
    }
    if let Some(server_name) = &config.server_name {
        options = options.server_name(server_name.clone());
    }
    let guard = sentry::init(options);
    let tags = config.tags.clone();
    sentry::Hub::main().configure_scope(|scope| {
        for (key, value) in &tags {
            scope.set_tag(key, value);
        }
    });
    tracing::info!("error reporting to Sentry enabled");
    Ok(Some(guard))
}

/// How long one delivery to Sentry may take, connection included.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The reqwest transport with a bounded HTTP client. Sentry's default client has no timeout,
/// and dropping the client joins its sender thread: an ingest endpoint that accepts the
/// connection but never answers would hang shutdown forever.
struct BoundedTransport;

impl sentry::TransportFactory for BoundedTransport {
    fn create_transport_with_options(
        &self,
        options: sentry::TransportOptions,
    ) -> Arc<dyn sentry::Transport> {
        let builder = sentry_reqwest::Client::builder()
            .connect_timeout(SEND_TIMEOUT)
            .timeout(SEND_TIMEOUT);
        let transport = sentry::transports::ReqwestHttpTransportOptions::from(options);
        match builder.build() {
            Ok(client) => Arc::new(transport.with_client(client).build()),
            // Only fails without a TLS backend, which the `rustls` feature provides.
            Err(_) => Arc::new(transport.build()),
        }
    }
}

/// Whether a Sentry client is active.
pub(crate) fn enabled() -> bool {
    sentry::Hub::main()
        .client()
        .is_some_and(|client| client.is_enabled())
}

/// Reports `error` (with its source chain) to Sentry; a no-op without a client.
pub(crate) fn capture(error: &(dyn std::error::Error + 'static)) {
    if enabled() {
        sentry::Hub::current().capture_error(error);
    }
}

/// A hub for one request whose scope carries the request's tags; `None` without a client
/// (the request then runs on the current hub, at no cost).
pub(crate) fn request_hub(request_id: &str, method: &str) -> Option<Arc<sentry::Hub>> {
    if !enabled() {
        return None;
    }
    let hub = Arc::new(sentry::Hub::new_from_top(sentry::Hub::main()));
    hub.configure_scope(|scope| {
        scope.set_tag("request_id", request_id);
        scope.set_tag("method", method);
    });
    Some(hub)
}

/// Markers after which the rest of a word is a credential.
const SECRET_MARKERS: &[&str] = &["bearer ", "os_auth=", "os_sig=", "eyj"];

/// Replaces credentials in `text` (module docs). Case-insensitive; the credential runs
/// until whitespace, `&`, `"` or `'`.
pub(crate) fn scrub_text(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !SECRET_MARKERS.iter().any(|m| lower.contains(m)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = SECRET_MARKERS.iter().find(|m| lower[i..].starts_with(**m));
        match hit {
            Some(marker) => {
                // A JWT's `eyJ` is part of the secret; the other markers are kept.
                let keep = if *marker == "eyj" { 0 } else { marker.len() };
                out.push_str(&text[i..i + keep]);
                out.push_str("[redacted]");
                i += marker.len();
                while let Some(c) = text[i..].chars().next() {
                    if c.is_whitespace() || matches!(c, '&' | '"' | '\'') {
                        break;
                    }
                    i += c.len_utf8();
                }
            }
            None => {
                let c = text[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Cow::Owned(out)
}

fn scrub_in_place(text: &mut String) {
    if let Cow::Owned(clean) = scrub_text(text) {
        *text = clean;
    }
}

/// The `before_send` hook: drops request data and scrubs every free-text field.
pub(crate) fn scrub(mut event: Event<'static>) -> Event<'static> {
    event.request = None;
    event.user = None;
    if let Some(message) = &mut event.message {
        scrub_in_place(message);
    }
    if let Some(logentry) = &mut event.logentry {
        scrub_in_place(&mut logentry.message);
    }
    for exception in &mut event.exception.values {
        if let Some(value) = &mut exception.value {
            scrub_in_place(value);
        }
    }
    for breadcrumb in &mut event.breadcrumbs.values {
        if let Some(message) = &mut breadcrumb.message {
            scrub_in_place(message);
        }
    }
    event.extra.clear();
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let text =
            "auth failed: Bearer abc.def.ghi for /x?os_auth=SECRET&os_sig=SIG2 and eyJhbGciOi.x.y";
        let clean = scrub_text(text);
        for secret in ["abc.def.ghi", "SECRET", "SIG2", "eyJhbGciOi"] {
            assert!(!clean.contains(secret), "{secret} in {clean}");
        }
        assert!(clean.contains("Bearer [redacted]"), "{clean}");
        assert!(
            clean.contains("os_auth=[redacted]&os_sig=[redacted]"),
            "{clean}"
        );
        assert_eq!(scrub_text("nothing secret"), "nothing secret");
    }

    #[test]
    fn invalid_dsns_name_the_key() {
        let config = SentryConfig {
            dsn: Some("not a dsn".into()),
            ..SentryConfig::default()
        };
        let error = init(&config).err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("sentry.dsn")),
            "{error:?}"
        );
        assert!(init(&SentryConfig::default()).expect("no dsn").is_none());
    }
}
