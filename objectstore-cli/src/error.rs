//! Client-side failures and the process exit codes scripts rely on.
//!
//! Every failure is classified once, where it happens, into an [`Exit`] kind; the message is
//! printed exactly once by [`super::main`] (text or, with `--json`, a JSON object on stderr).
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other error (I/O, malformed response, multipart completion refused, ...) |
//! | 2 | usage: bad arguments, or the server rejected the request as malformed (400, 413, 422) |
//! | 3 | not found (404, 410) |
//! | 4 | authentication or permission (401, 403, a 400 `auth error` such as a missing token, unreadable key file) |
//! | 5 | conflict or precondition (409, 412, 416) |
//! | 6 | server error or unavailable (5xx, 429, connection failure, timeout) |

use std::fmt;

/// The exit code class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: anything not covered below.
    Other = 1,
    /// 2: bad command line or a request the server found malformed.
    Usage = 2,
    /// 3: the object (or upload) does not exist.
    NotFound = 3,
    /// 4: credentials missing, invalid or insufficient.
    Auth = 4,
    /// 5: conflict or failed precondition (including an unsatisfiable range).
    Conflict = 5,
    /// 6: the server failed or could not be reached.
    Unavailable = 6,
}

impl Exit {
    /// The exit code class of an HTTP error status.
    pub(crate) fn from_status(status: u16) -> Self {
        match status {
            400 | 411 | 413 | 414 | 415 | 422 => Self::Usage,
            401 | 403 => Self::Auth,
            404 | 410 => Self::NotFound,
            409 | 412 | 416 => Self::Conflict,
            408 | 429 | 500..=599 => Self::Unavailable,
            _ => Self::Other,
        }
    }

    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}

/// A failure of a client command: its class, the HTTP status if a response caused it, and a
/// message for people (including the server's own error text when it sent one).
#[derive(Debug)]
pub(crate) struct ClientError {
    /// Exit code class.
    pub(crate) exit: Exit,
    /// HTTP status of the failing response, if any.
    pub(crate) status: Option<u16>,
    /// What went wrong.
    pub(crate) message: String,
}

impl ClientError {
    /// A failure of the given class without an HTTP status.
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            status: None,
            message: message.into(),
        }
    }

    /// A usage error (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Any other error (exit 1).
    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::new(Exit::Other, message)
    }

    /// Adds context in front of the message.
    #[must_use]
    pub(crate) fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The JSON form printed with `--json`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "exit_code": self.exit.code(),
                "status": self.status,
                "message": self.message,
            }
        })
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        let exit = if e.is_connect() || e.is_timeout() {
            Exit::Unavailable
        } else if let Some(status) = e.status() {
            Exit::from_status(status.as_u16())
        } else if e.is_request() || e.is_body() {
            Exit::Unavailable
        } else {
            Exit::Other
        };
        // The source chain carries the useful part ("connection refused").
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        Self {
            exit,
            status: e.status().map(|s| s.as_u16()),
            message,
        }
    }
}

/// An I/O failure on a local file (exit 1), naming the file.
pub(crate) fn io_error(what: impl fmt::Display, e: &std::io::Error) -> ClientError {
    ClientError::other(format!("{what}: {e}"))
}

/// Result of client operations.
pub(crate) type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_documented_codes() {
        assert_eq!(Exit::from_status(400).code(), 2);
        assert_eq!(Exit::from_status(401).code(), 4);
        assert_eq!(Exit::from_status(403).code(), 4);
        assert_eq!(Exit::from_status(404).code(), 3);
        assert_eq!(Exit::from_status(410).code(), 3);
        assert_eq!(Exit::from_status(409).code(), 5);
        assert_eq!(Exit::from_status(416).code(), 5);
        assert_eq!(Exit::from_status(429).code(), 6);
        assert_eq!(Exit::from_status(503).code(), 6);
        assert_eq!(Exit::from_status(501).code(), 6);
        assert_eq!(Exit::from_status(418).code(), 1);
    }
}
