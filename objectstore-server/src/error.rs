//! The HTTP error type and the one place that maps storage errors to statuses.
//!
//! Two body formats exist (docs/http-api.md §3.2 and §3.3):
//!
//! * application errors answer with JSON `{"detail": "...", "causes": [...]}` where `detail`
//!   is the display text of the top-level error (prefixed `client error:`, `auth error:`,
//!   `service error:` or `internal error:`) and `causes` the source chain, outermost first
//!   (omitted when empty);
//! * path rejections answer with plain text starting `Invalid URL:`, like the reference
//!   server's framework rejection; "not found" answers carry an empty body, which is what
//!   both clients expect.
//!
//! **Invariant:** [`service_status`] is the only mapping from
//! [`objectstore_service::Error`] to an HTTP status; everything else (the batch module
//! included) calls it.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use objectstore_service::Error as ServiceError;

use crate::admission::{PolicyViolation, Rejection};
use crate::auth::AuthError;
use serde::Serialize;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The path (usecase, scopes or key) is malformed: 400, plain text.
    #[error("Invalid URL: {0}")]
    InvalidPath(String),

    /// The request is invalid (bad header, range, query value...): 400, JSON.
    #[error("client error: {0}")]
    Client(String),

    /// The object does not exist: 404, empty body.
    #[error("not found")]
    NotFound,

    /// An `If-Match` condition of a read did not hold: 412, JSON.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),

    /// Authentication or authorization failed: 400, 401 or 403, JSON.
    #[error("auth error: {0}")]
    Auth(#[source] AuthError),

    /// Admission control turned the request away (killswitch 403, rate limit 429): plain
    /// text, like the reference server's rejections.
    #[error("{0}")]
    Rejected(Rejection),

    /// The storage engine failed or refused; the status comes from [`service_status`].
    #[error("service error: {0}")]
    Service(#[source] ServiceError),

    /// A bug or an impossible state in the HTTP layer: 500, JSON.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A client error from anything displayable.
    pub(crate) fn client(message: impl std::fmt::Display) -> Self {
        Self::Client(message.to_string())
    }

    /// The status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::InvalidPath(_) | Self::Client(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::Auth(AuthError::BadRequest(_)) => StatusCode::BAD_REQUEST,
            Self::Auth(AuthError::Unauthorized(_)) => StatusCode::UNAUTHORIZED,
            Self::Auth(AuthError::Forbidden(_)) => StatusCode::FORBIDDEN,
            Self::Rejected(r) => r.status(),
            Self::Service(e) => service_status(e),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<PolicyViolation> for ApiError {
    fn from(e: PolicyViolation) -> Self {
        Self::Client(e.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

/// The HTTP status of a storage error: the single mapping used by every endpoint.
pub(crate) fn service_status(error: &ServiceError) -> StatusCode {
    match error {
        ServiceError::ClientStream(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            StatusCode::REQUEST_TIMEOUT
        }
        ServiceError::InvalidRequest(_) | ServiceError::ClientStream(_) => StatusCode::BAD_REQUEST,
        ServiceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Gone(_) => StatusCode::GONE,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        ServiceError::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
        ServiceError::Overloaded => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::StorageFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
        ServiceError::Backend { .. } | ServiceError::Internal(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON error body of docs/http-api.md §3.2.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    /// Display text of the top-level error.
    pub detail: String,
    /// Display texts of the source chain, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
}

impl ErrorBody {
    /// The body for `error`: its text and its source chain.
    pub(crate) fn new(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        Self {
            detail: error.to_string(),
            causes,
        }
    }
}

/// Answers `status` with the JSON error body of `error`.
pub(crate) fn json_error(
    status: StatusCode,
    error: &(dyn std::error::Error + 'static),
) -> Response {
    (status, Json(ErrorBody::new(error))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if matches!(self, Self::Service(ServiceError::Overloaded)) {
            crate::metrics::record_rejection(crate::metrics::RejectionReason::Concurrency);
        }
        let logged = status.is_server_error();
        if logged {
            // Logged (with the cause chain) and reported here, once; the request log line
            // sees `ErrorLogged` and does not repeat it.
            tracing::error!(
                error = %crate::logging::ErrorChain(&self),
                %status,
                "request failed"
            );
            crate::error_reporting::capture(&self);
        } else {
            tracing::debug!(error = %self, %status, "request rejected");
        }
        let mut response = match &self {
            Self::InvalidPath(_) => (status, self.to_string()).into_response(),
            Self::Rejected(rejection) => rejection.into_response(),
            // The auth error's own text is the detail's suffix; it has no further causes.
            Self::Auth(_) => {
                let body = ErrorBody {
                    detail: self.to_string(),
                    causes: Vec::new(),
                };
                (status, Json(body)).into_response()
            }
            Self::NotFound => status.into_response(),
            // The service error's own text is the detail's suffix; report only its sources.
            Self::Service(inner) => {
                let mut body = ErrorBody::new(inner);
                body.detail = self.to_string();
                (status, Json(body)).into_response()
            }
            _ => json_error(status, &self),
        };
        if logged {
            response
                .extensions_mut()
                .insert(crate::logging::ErrorLogged);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_and_any_other_backend_failure_500() {
        let full =
            || ServiceError::backend("embedded", "commit", std::io::Error::from_raw_os_error(28));
        assert_eq!(service_status(&full()), StatusCode::INSUFFICIENT_STORAGE);
        let response = ApiError::from(full()).into_response();
        assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
        let failed = ServiceError::backend("embedded", "commit", std::io::Error::other("EIO"));
        assert_eq!(service_status(&failed), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
