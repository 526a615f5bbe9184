//! The storage engine's error type, named by what the caller should do.
//!
//! The HTTP layer maps each variant to exactly one status in one place; backends never pick
//! HTTP statuses. Variants carry the context a user or operator needs; backend failures keep
//! their source for the log.

use std::io;

/// Result alias for the storage engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Boxed source error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, grouped by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is invalid; the client must change it (HTTP 400).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The client's body stream failed mid-upload; nothing was committed (HTTP 400).
    #[error("request body failed: {0}")]
    ClientStream(#[source] io::Error),

    /// The request or one of its parts exceeds a size or count limit (HTTP 413).
    #[error("too large: {0}")]
    TooLarge(String),

    /// The named upload, session or revision does not exist (HTTP 404).
    #[error("not found: {0}")]
    NotFound(String),

    /// The resource existed but is terminated for good: completed, cancelled or expired
    /// session (HTTP 410).
    #[error("gone: {0}")]
    Gone(String),

    /// A concurrent change got in the way; the client may reload and retry (HTTP 409).
    #[error("conflict: {0}")]
    Conflict(String),

    /// The object's current state does not meet the request's precondition (`If-Match`,
    /// `If-None-Match: *` on a write); nothing was written. The client must not retry as is
    /// (HTTP 412).
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),

    /// The configured backend cannot do this (HTTP 501).
    #[error("not supported by the {backend} backend: {operation}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// What was asked.
        operation: &'static str,
    },

    /// Too much concurrent work; retry later (HTTP 429).
    #[error("concurrency limit reached")]
    Overloaded,

    /// A backend call failed (HTTP 500). May succeed on retry.
    #[error("{backend} backend failed to {operation}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What the backend was doing.
        operation: &'static str,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },

    /// A bug or an impossible state, including a panicked operation (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A backend failure with its source.
    pub fn backend(
        backend: &'static str,
        operation: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::Backend {
            backend,
            operation,
            source: source.into(),
        }
    }

    /// A failed body stream: the client's fault ([`Error::ClientStream`]), unless the stream
    /// is a read of our own long-term store that failed its integrity check (the source of a
    /// copy), which is the server's: a backend failure of the long-term store (HTTP 500).
    pub fn body(error: io::Error) -> Self {
        if crate::integrity::IntegrityError::find(&error).is_none() {
            return Self::ClientStream(error);
        }
        match error
            .into_inner()
            .map(|inner| inner.downcast::<crate::integrity::IntegrityError>())
        {
            Some(Ok(integrity)) => integrity.into_error("long_term"),
            Some(Err(other)) => Self::backend("long_term", "return an object intact", other),
            None => Self::Internal("a body stream failed its integrity check".into()),
        }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Backend { .. } | Self::Overloaded | Self::Conflict(_)
        )
    }

    /// Whether the client caused this (as opposed to the server or a backend).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidRequest(_)
                | Self::ClientStream(_)
                | Self::NotFound(_)
                | Self::Gone(_)
                | Self::Conflict(_)
                | Self::PreconditionFailed(_)
        )
    }
}

impl From<objectstore_types::id::InvalidId> for Error {
    fn from(e: objectstore_types::id::InvalidId) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}
