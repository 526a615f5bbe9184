//! The one place where failures become S3 error responses.
//!
//! Every handler returns `S3Result`; whatever went wrong is turned into an [`S3Error`] here:
//! storage engine errors ([`service_error`]), admission refusals ([`Refusal`]), bad names
//! ([`name_error`]) and failed request bodies ([`BodyError`], carried inside the engine's
//! `ClientStream` error). s3s writes the XML body (`<Error><Code>…`).
//!
//! **Invariant: a client mistake is never a 500.** Only [`ServiceError::Backend`] and
//! [`ServiceError::Internal`] (and errors this module does not know, which the engine marks
//! `#[non_exhaustive]`) become `InternalError`; they are logged here, at error level, once.
//!
//! | engine / front | S3 code | status |
//! |---|---|---|
//! | `InvalidRequest` | `InvalidRequest` | 400 |
//! | `ClientStream` (see [`BodyError`]) | `BadDigest`, `XAmzContentSHA256Mismatch`, `SignatureDoesNotMatch`, `IncompleteBody`, `RequestTimeout`, `InvalidRequest` | 400 / 403 |
//! | `TooLarge` | `EntityTooLarge` | 400 |
//! | `NotFound` / `Gone` (only multipart calls have them) | `NoSuchUpload` | 404 |
//! | `PreconditionFailed` (conditional writes) | `PreconditionFailed` | 412 |
//! | `Conflict` (a conditional write lost to a concurrent change) | `ConditionalRequestConflict` | 409 |
//! | `Unsupported` | `NotImplemented` | 501 |
//! | `Overloaded` (concurrency limit, 429 on the objectstore API) | `SlowDown` | 503 |
//! | rate limit (429 on the objectstore API) | `SlowDown` + `Retry-After` | 503 |
//! | in-flight limit (503 on the objectstore API) | `ServiceUnavailable` | 503 |
//! | killswitch | `AccessDenied` | 403 |
//! | usecase expiration policy | `InvalidArgument` | 400 |
//! | `StorageFull` (the server's disk or quota is full; nothing stored) | `InsufficientStorage` | 507 |
//! | `Backend`, `Internal` | `InternalError` | 500 |
//!
//! `SlowDown` keeps S3's status 503, the one S3 clients back off on.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use objectstore_service::Error as ServiceError;
use s3s::{S3Error, S3ErrorCode};

use crate::mapping::NameError;

/// Why admission control turned a request (or one key of a `DeleteObjects`) away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A killswitch matches the usecase and scopes.
    #[error("Object access is disabled for this scope through killswitches")]
    Killswitched,
    /// A throughput or bandwidth limit is exhausted.
    #[error("Object access is rate limited")]
    RateLimited {
        /// How long until the limit would admit again.
        retry_after: Duration,
    },
    /// Too many requests are in flight on this server.
    #[error("too many requests in flight")]
    Busy,
}

impl From<Refusal> for S3Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Killswitched => {
                S3Error::with_message(S3ErrorCode::AccessDenied, Refusal::Killswitched.to_string())
            }
            Refusal::RateLimited { retry_after } => {
                let mut e = S3Error::with_message(S3ErrorCode::SlowDown, refusal.to_string());
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let mut headers = HeaderMap::new();
                headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                e.set_headers(headers);
                e
            }
            Refusal::Busy => S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "too many requests in flight; retry later",
            ),
        }
    }
}

/// Why a request body failed. Travels inside the `io::Error` of the body stream, so that the
/// engine's `ClientStream` error still says what the client did wrong.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body sent nothing for the configured idle time.
    #[error("the request body sent nothing for {0:?}")]
    Idle(Duration),
    /// A checksum the client sent does not match the bytes.
    #[error("the {algorithm} checksum of the body does not match {header}")]
    ChecksumMismatch {
        /// `MD5`, `CRC32`, …
        algorithm: &'static str,
        /// Where the expected value came from.
        header: &'static str,
    },
    /// `x-amz-content-sha256` does not match the bytes.
    #[error("x-amz-content-sha256 does not match the body")]
    Sha256Mismatch,
    /// A chunk signature of an aws-chunked body does not match.
    #[error("a chunk signature of the aws-chunked body does not match")]
    ChunkSignature,
    /// The aws-chunked framing is broken.
    #[error("malformed aws-chunked body: {0}")]
    Framing(String),
    /// The body ended before its announced length, or a trailer it announced.
    #[error("incomplete body: {0}")]
    Incomplete(String),
    /// The connection failed.
    #[error("reading the request body failed: {0}")]
    Transport(String),
}

impl BodyError {
    /// Classifies an error of a body stream produced by s3s (its stream error types are
    /// private; their messages name the variant).
    pub(crate) fn classify(error: &(dyn std::error::Error + 'static)) -> Self {
        if let Some(own) = error.downcast_ref::<BodyError>() {
            return own.clone_kind();
        }
        let text = error.to_string();
        if text.starts_with("AwsChunkedStreamError: SignatureMismatch") {
            Self::ChunkSignature
        } else if text.starts_with("AwsChunkedStreamError: Incomplete")
            || text.starts_with("UploadStreamError: Incomplete")
            || text.starts_with("UploadStreamError: LengthMismatch")
        {
            Self::Incomplete(text)
        } else if text.starts_with("UploadStreamError: Sha256Mismatch") {
            Self::Sha256Mismatch
        } else if text.starts_with("AwsChunkedStreamError: Underlying")
            || text.starts_with("UploadStreamError: Underlying")
        {
            Self::Transport(text)
        } else if text.starts_with("AwsChunkedStreamError") {
            Self::Framing(text)
        } else {
            Self::Transport(text)
        }
    }

    fn clone_kind(&self) -> Self {
        match self {
            Self::Idle(d) => Self::Idle(*d),
            Self::ChecksumMismatch { algorithm, header } => {
                Self::ChecksumMismatch { algorithm, header }
            }
            Self::Sha256Mismatch => Self::Sha256Mismatch,
            Self::ChunkSignature => Self::ChunkSignature,
            Self::Framing(s) => Self::Framing(s.clone()),
            Self::Incomplete(s) => Self::Incomplete(s.clone()),
            Self::Transport(s) => Self::Transport(s.clone()),
        }
    }

    /// As the `io::Error` a payload stream yields.
    pub(crate) fn into_io(self) -> std::io::Error {
        let kind = match self {
            Self::Idle(_) => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, self)
    }

    fn code(&self) -> S3ErrorCode {
        match self {
            Self::Idle(_) => S3ErrorCode::RequestTimeout,
            Self::ChecksumMismatch { .. } => S3ErrorCode::BadDigest,
            Self::Sha256Mismatch => sha256_mismatch_code(),
            Self::ChunkSignature => S3ErrorCode::SignatureDoesNotMatch,
            Self::Framing(_) => S3ErrorCode::InvalidRequest,
            Self::Incomplete(_) | Self::Transport(_) => S3ErrorCode::IncompleteBody,
        }
    }
}

/// S3's `XAmzContentSHA256Mismatch` (400), which s3s has no variant for.
fn sha256_mismatch_code() -> S3ErrorCode {
    S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into())
}

impl From<BodyError> for S3Error {
    fn from(e: BodyError) -> Self {
        let code = e.code();
        let custom = matches!(code, S3ErrorCode::Custom(_));
        let mut error = S3Error::with_message(code, e.to_string());
        if custom {
            error.set_status_code(http::StatusCode::BAD_REQUEST);
        }
        error
    }
}

/// The S3 error of a failed body stream (the `io::Error` inside `ClientStream`).
fn client_stream_error(error: &std::io::Error) -> S3Error {
    match error.get_ref() {
        Some(inner) => BodyError::classify(inner).into(),
        None if error.kind() == std::io::ErrorKind::TimedOut => {
            S3Error::with_message(S3ErrorCode::RequestTimeout, error.to_string())
        }
        None => S3Error::with_message(S3ErrorCode::IncompleteBody, error.to_string()),
    }
}

/// The S3 error of a storage engine error (module docs).
#[allow(
    clippy::needless_pass_by_value,
    reason = "called as `.map_err(service_error)`"
)]
pub fn service_error(error: ServiceError) -> S3Error {
    let message = error.to_string();
    match &error {
        ServiceError::InvalidRequest(_) => {
            S3Error::with_message(S3ErrorCode::InvalidRequest, message)
        }
        ServiceError::ClientStream(io) => client_stream_error(io),
        ServiceError::TooLarge(_) => S3Error::with_message(S3ErrorCode::EntityTooLarge, message),
        ServiceError::NotFound(_) | ServiceError::Gone(_) => {
            S3Error::with_message(S3ErrorCode::NoSuchUpload, message)
        }
        ServiceError::PreconditionFailed(_) => {
            S3Error::with_message(S3ErrorCode::PreconditionFailed, message)
        }
        ServiceError::Conflict(_) => {
            S3Error::with_message(S3ErrorCode::ConditionalRequestConflict, message)
        }
        ServiceError::Unsupported { .. } => {
            S3Error::with_message(S3ErrorCode::NotImplemented, message)
        }
        ServiceError::Overloaded => S3Error::with_message(
            S3ErrorCode::SlowDown,
            "the storage service is at its concurrency limit; retry later",
        ),
        ServiceError::StorageFull { .. } => {
            tracing::error!(
                error = &error as &dyn std::error::Error,
                "S3 request failed: no space left"
            );
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("InsufficientStorage".into()),
                "the server has no space left to store this; nothing was stored",
            );
            e.set_status_code(http::StatusCode::INSUFFICIENT_STORAGE);
            e
        }
        _ => {
            tracing::error!(
                error = &error as &dyn std::error::Error,
                "S3 request failed in the storage engine"
            );
            S3Error::with_message(S3ErrorCode::InternalError, "internal error")
        }
    }
}

/// The S3 error of a bucket or key without an objectstore counterpart.
#[allow(
    clippy::needless_pass_by_value,
    reason = "called as `.map_err(name_error)`"
)]
pub fn name_error(error: NameError) -> S3Error {
    match error {
        NameError::Bucket(_) => {
            S3Error::with_message(S3ErrorCode::InvalidBucketName, error.to_string())
        }
        NameError::KeyTooLong(_) => {
            S3Error::with_message(S3ErrorCode::KeyTooLongError, error.to_string())
        }
        NameError::Key { .. } => {
            S3Error::with_message(S3ErrorCode::InvalidArgument, error.to_string())
        }
    }
}

/// `InvalidArgument` with a message.
pub fn invalid_argument(message: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message.into())
}

/// `NotImplemented` with a message saying what is missing.
pub fn not_implemented(message: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::NotImplemented, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_never_internal() {
        let errors = [
            ServiceError::InvalidRequest("x".into()),
            ServiceError::ClientStream(std::io::Error::other("gone")),
            ServiceError::TooLarge("x".into()),
            ServiceError::NotFound("x".into()),
            ServiceError::Gone("x".into()),
            ServiceError::Conflict("x".into()),
            ServiceError::PreconditionFailed("x".into()),
            ServiceError::Overloaded,
        ];
        for e in errors {
            let text = e.to_string();
            let s3 = service_error(e);
            let status = s3.status_code().unwrap();
            assert!(
                !status.is_server_error() || *s3.code() == S3ErrorCode::SlowDown,
                "{text}"
            );
            assert_ne!(*s3.code(), S3ErrorCode::InternalError, "{text}");
        }
        let internal = service_error(ServiceError::Internal("bug".into()));
        assert_eq!(*internal.code(), S3ErrorCode::InternalError);
        assert_eq!(
            internal.message(),
            Some("internal error"),
            "details stay in the log"
        );
    }

    #[test]
    fn a_full_disk_is_insufficient_storage() {
        let enospc = std::io::Error::from_raw_os_error(28);
        let full = service_error(ServiceError::backend("embedded", "commit", enospc));
        assert_eq!(
            *full.code(),
            S3ErrorCode::Custom("InsufficientStorage".into())
        );
        assert_eq!(
            full.status_code(),
            Some(http::StatusCode::INSUFFICIENT_STORAGE)
        );
        let response = full.to_http_response().unwrap();
        assert_eq!(response.status(), http::StatusCode::INSUFFICIENT_STORAGE);
    }

    #[test]
    fn conditional_write_errors_have_the_s3_codes() {
        let refused = service_error(ServiceError::PreconditionFailed("x".into()));
        assert_eq!(*refused.code(), S3ErrorCode::PreconditionFailed);
        assert_eq!(
            refused.status_code(),
            Some(http::StatusCode::PRECONDITION_FAILED)
        );
        let raced = service_error(ServiceError::Conflict("x".into()));
        assert_eq!(*raced.code(), S3ErrorCode::ConditionalRequestConflict);
        assert_eq!(raced.status_code(), Some(http::StatusCode::CONFLICT));
    }

    #[test]
    fn body_errors_keep_their_code_through_the_engine() {
        let cases = [
            (
                BodyError::ChecksumMismatch {
                    algorithm: "CRC32",
                    header: "x-amz-checksum-crc32",
                },
                S3ErrorCode::BadDigest,
            ),
            (BodyError::Sha256Mismatch, sha256_mismatch_code()),
            (
                BodyError::ChunkSignature,
                S3ErrorCode::SignatureDoesNotMatch,
            ),
            (BodyError::Framing("x".into()), S3ErrorCode::InvalidRequest),
            (
                BodyError::Idle(Duration::from_secs(1)),
                S3ErrorCode::RequestTimeout,
            ),
        ];
        for (body, code) in cases {
            let engine = ServiceError::ClientStream(body.into_io());
            assert_eq!(*service_error(engine).code(), code);
        }
    }

    #[test]
    fn s3s_stream_errors_are_classified_by_variant() {
        let e = std::io::Error::other("AwsChunkedStreamError: SignatureMismatch");
        assert!(matches!(BodyError::classify(&e), BodyError::ChunkSignature));
        let e = std::io::Error::other("AwsChunkedStreamError: FormatError");
        assert!(matches!(BodyError::classify(&e), BodyError::Framing(_)));
        let e = std::io::Error::other("UploadStreamError: Sha256Mismatch");
        assert!(matches!(BodyError::classify(&e), BodyError::Sha256Mismatch));
        let e = std::io::Error::other("connection reset");
        assert!(matches!(BodyError::classify(&e), BodyError::Transport(_)));
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let e: S3Error = Refusal::RateLimited {
            retry_after: Duration::from_millis(1500),
        }
        .into();
        assert_eq!(*e.code(), S3ErrorCode::SlowDown);
        assert_eq!(e.headers().unwrap()[http::header::RETRY_AFTER], "2");
        let e: S3Error = Refusal::Killswitched.into();
        assert_eq!(e.status_code().unwrap(), http::StatusCode::FORBIDDEN);
        let e: S3Error = Refusal::Busy.into();
        assert_eq!(
            e.status_code().unwrap(),
            http::StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
