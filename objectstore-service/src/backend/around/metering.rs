//! [`Metering`]: per-backend operation metrics, as an [`Around`].
//!
//! Every decorated call records:
//!
//! * [`BACKEND_DURATION`] (histogram, seconds) labelled `tier`, `backend`, `operation` and
//!   `result` (`ok` / `error`);
//! * [`BACKEND_ERRORS`] (counter) labelled `tier`, `backend`, `operation` and `kind` (the
//!   [`Error`] variant: `not_found`, `conflict`, `backend`, ...) for every call that
//!   returned an error.
//!
//! `tier` is `high_volume` or `long_term` inside a tiered layout, `standalone` for a single
//! store; `backend` is the decorated backend's name; `operation` is the contract method
//! ([`super::Method::as_str`]: `put`, `get`, `head`, `compare_and_write`, `append_record`,
//! ...). A call's time ends when it returns: for a GET that is when the response head
//! (metadata) is ready, not when the body stream has been read.
//!
//! Invariant: metering changes no behaviour (same results, same errors, same streams).

use std::time::Instant;

use futures::future::BoxFuture;

use super::{Around, Call};
use crate::error::{Error, Result};

/// Histogram `{tier, backend, operation, result}`: seconds per backend call.
pub const BACKEND_DURATION: &str = "objectstore_backend_operation_duration_seconds";
/// Counter `{tier, backend, operation, kind}`: backend calls that returned an error.
pub const BACKEND_ERRORS: &str = "objectstore_backend_errors_total";

/// The `kind` label of an error.
pub fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::InvalidRequest(_) => "invalid_request",
        Error::ClientStream(_) => "client_stream",
        Error::TooLarge(_) => "too_large",
        Error::NotFound(_) => "not_found",
        Error::Gone(_) => "gone",
        Error::Conflict(_) => "conflict",
        Error::PreconditionFailed(_) => "precondition_failed",
        Error::Unsupported { .. } => "unsupported",
        Error::Overloaded => "overloaded",
        Error::Backend { .. } => "backend",
        Error::StorageFull { .. } => "storage_full",
        Error::Internal(_) => "internal",
    }
}

/// Records the metrics of the module docs for every call, under one `tier` label.
#[derive(Debug, Clone, Copy)]
pub struct Metering {
    tier: &'static str,
}

impl Metering {
    /// Meters calls as `tier` (`high_volume`, `long_term` or `standalone`).
    pub fn new(tier: &'static str) -> Self {
        Self { tier }
    }
}

impl Around for Metering {
    async fn around<'a, T: Send + 'static>(
        &'a self,
        call: Call<'a>,
        inner: BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        let started = Instant::now();
        let result = inner.await;
        let elapsed = started.elapsed().as_secs_f64();
        let operation = call.method.as_str();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!(
            BACKEND_DURATION,
            "tier" => self.tier,
            "backend" => call.backend,
            "operation" => operation,
            "result" => outcome,
        )
        .record(elapsed);
        if let Err(error) = &result {
            metrics::counter!(
                BACKEND_ERRORS,
                "tier" => self.tier,
                "backend" => call.backend,
                "operation" => operation,
                "kind" => error_kind(error),
            )
            .increment(1);
        }
        result
    }
}
