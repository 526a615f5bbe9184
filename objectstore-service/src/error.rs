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

    /// The backend's disk (or quota) is full: nothing was written. Retrying helps only once
    /// space is freed; reads keep working (HTTP 507).
    #[error("{backend} backend has no space left to {operation}")]
    StorageFull {
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
    /// A backend failure with its source: [`Error::StorageFull`] when the source says the
    /// disk or a quota is full ([`is_out_of_space`]), else [`Error::Backend`].
    pub fn backend(
        backend: &'static str,
        operation: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        let source = source.into();
        if is_out_of_space(source.as_ref()) {
            return Self::StorageFull {
                backend,
                operation,
                source,
            };
        }
        Self::Backend {
            backend,
            operation,
            source,
        }
    }

    /// This backend failure, told to another caller that shared its fate (the other jobs of
    /// a failed group commit): the same kind ([`Error::StorageFull`] stays one), this error's
    /// text as the source.
    pub fn restated(&self, backend: &'static str, operation: &'static str) -> Self {
        let source = self.to_string().into();
        match self {
            Self::StorageFull { .. } => Self::StorageFull {
                backend,
                operation,
                source,
            },
            _ => Self::Backend {
                backend,
                operation,
                source,
            },
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

/// Whether `error` or an error it wraps says that a disk or a quota is full: an I/O error
/// `ENOSPC` or `EDQUOT` (`StorageFull`, `QuotaExceeded`), SQLite's `SQLITE_FULL`, or
/// PostgreSQL's `disk_full` (SQLSTATE 53100).
pub fn is_out_of_space(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            ) {
                return true;
            }
            // An `io::Error` hides its payload from `source()`: look into it.
            if let Some(inner) = io.get_ref()
                && is_out_of_space(inner)
            {
                return true;
            }
        }
        if let Some(rusqlite::Error::SqliteFailure(failure, _)) =
            e.downcast_ref::<rusqlite::Error>()
            && failure.code == rusqlite::ErrorCode::DiskFull
        {
            return true;
        }
        #[cfg(feature = "postgres")]
        if let Some(sqlx::Error::Database(db)) = e.downcast_ref::<sqlx::Error>()
            && db.code().as_deref() == Some("53100")
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classified(source: impl Into<BoxError>) -> Error {
        Error::backend("test", "write", source)
    }

    #[test]
    fn a_full_disk_is_storage_full_wherever_it_is_said() {
        let enospc = || io::Error::from_raw_os_error(28);
        let sqlite_full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        for full in [
            classified(enospc()),
            classified(io::Error::from_raw_os_error(122)), // EDQUOT
            classified(io::Error::other(enospc())),
            classified(sqlite_full),
        ] {
            assert!(matches!(full, Error::StorageFull { .. }), "{full:?}");
            assert!(!full.is_retryable() && !full.is_client_error());
        }
        let other = classified(io::Error::from_raw_os_error(5)); // EIO
        assert!(matches!(other, Error::Backend { .. }), "{other:?}");
        assert!(matches!(classified("text"), Error::Backend { .. }));
    }

    #[test]
    fn a_restated_failure_keeps_its_kind() {
        let full = classified(io::Error::from_raw_os_error(28));
        let told = full.restated("embedded", "commit a group of writes");
        assert!(matches!(told, Error::StorageFull { .. }), "{told:?}");
        assert!(
            std::error::Error::source(&told)
                .unwrap()
                .to_string()
                .contains("no space left")
        );
        let failed = classified("broken pipe").restated("embedded", "commit");
        assert!(matches!(failed, Error::Backend { .. }), "{failed:?}");
    }
}
