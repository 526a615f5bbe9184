//! The two admission rejections and their exact wire form (docs/http-api.md §3.3, §12.2, §12.3).
//!
//! Both are framework-style rejections: plain-text bodies, not the JSON error body.
//! Unlike the reference, a rate-limit rejection carries a `retry-after` header (whole seconds,
//! rounded up, at least 1) computed from the state of the bucket that rejected.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Body of a killswitch rejection.
pub(crate) const KILLSWITCHED_TEXT: &str =
    "Object access is disabled for this scope through killswitches";
/// Body of a rate-limit rejection.
pub(crate) const RATE_LIMITED_TEXT: &str = "Object access is rate limited";

/// Why admission control turned a request (or one batch operation) away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A killswitch matches: 403.
    #[error("Object access is disabled for this scope through killswitches")]
    Killswitched,
    /// A throughput or bandwidth bucket is exhausted: 429. `retry_after` is how long until
    /// that bucket would admit again (as far as the limiter can tell).
    #[error("Object access is rate limited")]
    RateLimited {
        /// Time until the rejecting bucket admits again.
        retry_after: Duration,
    },
}

impl Rejection {
    /// The HTTP status: 403 or 429.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Killswitched => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The plain-text body.
    pub(crate) fn text(&self) -> &'static str {
        match self {
            Self::Killswitched => KILLSWITCHED_TEXT,
            Self::RateLimited { .. } => RATE_LIMITED_TEXT,
        }
    }

    /// The `retry-after` value in whole seconds (rounded up, at least 1), for rate limits.
    pub(crate) fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Killswitched => None,
            Self::RateLimited { retry_after } => Some(ceil_secs(*retry_after).max(1)),
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.text()).into_response();
        if let Some(secs) = self.retry_after_secs() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
