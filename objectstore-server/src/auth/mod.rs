//! Authentication and authorization (docs/http-api.md §11).
//!
//! `Authenticator::authenticate` turns a request's credentials into a `Grant`;
//! `Grant::authorize` decides each operation (a batch asks once per part).
//!
//! * **Activation:** auth is active when `enforce` is true or any key is configured. Inactive:
//!   every request is allowed and credentials are ignored. Active but not enforcing
//!   (report-only, `enforce: false` with keys): credentials are verified and authorized
//!   exactly as when enforcing, but every failure (a missing or invalid credential, or a
//!   valid one that does not allow the operation) is logged at warn and the request proceeds,
//!   so turning enforcement on later refuses exactly what was logged.
//!   `enforce: true` without keys is a configuration error.
//! * **Which credential:** a raw query with a parameter named exactly `os_sig` selects the
//!   pre-signed path (`presign`). Otherwise the JWT comes from `x-os-auth`, else
//!   `Authorization` (only the first present is looked at; it must start with `Bearer `,
//!   case-insensitively), else the `os_auth` query parameter. No token → 400.
//! * **Authorization of a token:** the permission is in the effective set, the token's
//!   usecase equals the request's, and every scope of the request path has a token entry of
//!   the same name whose value is equal or `*` → else 403.
//! * **Secrets:** tokens, signatures and key material never appear in logs or error texts.

#[cfg(test)]
mod hostile_props;
mod jwt;
mod keys;
mod presign;
#[cfg(test)]
mod tests;

use std::time::SystemTime;

use http::HeaderMap;
use objectstore_types::{Permission, Scopes, Usecase};
use percent_encoding::percent_decode_str;

pub use keys::KeyConfig;
pub(crate) use keys::KeyDirectory;

/// Why a request is not authenticated or not allowed. The HTTP layer maps `BadRequest` to
/// 400, `Unauthorized` to 401 and `Forbidden` to 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    /// Credentials are missing or malformed in a way the client must fix.
    #[error("{0}")]
    BadRequest(String),
    /// Credentials are invalid, expired or unknown.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials that do not allow this operation.
    #[error("{0}")]
    Forbidden(String),
}

/// What an authenticated request may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Everything (auth inactive, or a failed credential in report-only mode).
    All,
    /// What a verified token allows.
    Token(jwt::TokenGrant),
    /// Reads of exactly the signed path.
    Presigned,
    /// A verified credential in report-only mode: operations are checked as for the inner
    /// grant, but one it does not allow is logged and allowed.
    Unenforced(Box<Grant>),
}

impl Grant {
    /// Checks one operation on `usecase`/`scopes` that needs `permission`.
    pub(crate) fn authorize(
        &self,
        permission: Permission,
        usecase: &Usecase,
        scopes: &Scopes,
    ) -> Result<(), AuthError> {
        let denied = || Err(AuthError::Forbidden("operation not allowed".into()));
        match self {
            Self::All => Ok(()),
            Self::Unenforced(inner) => {
                if let Err(e) = inner.authorize(permission, usecase, scopes) {
                    tracing::warn!(
                        error = %e,
                        permission = permission.as_str(),
                        usecase = usecase.as_str(),
                        "authorization failed (not enforced)"
                    );
                }
                Ok(())
            }
            Self::Presigned if permission == Permission::Read => Ok(()),
            Self::Presigned => denied(),
            Self::Token(grant) => {
                if !grant.permissions.contains(permission) || grant.usecase != usecase.as_str() {
                    return denied();
                }
                let scopes_ok = scopes.iter().all(|s| {
                    grant
                        .scopes
                        .get(s.name())
                        .is_some_and(|v| v == "*" || v == s.value())
                });
                if scopes_ok { Ok(()) } else { denied() }
            }
        }
    }
}

/// How auth behaves, from `auth.enforce` and the configured keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Inactive,
    ReportOnly,
    Enforce,
}

/// Verifies credentials against the configured keys.
#[derive(Debug, Clone)]
pub(crate) struct Authenticator {
    keys: KeyDirectory,
    mode: Mode,
}

/// The parts of a request authentication looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestCredentials<'a> {
    /// The method, uppercase.
    pub(crate) method: &'a str,
    /// The path exactly as on the wire.
    pub(crate) raw_path: &'a str,
    /// The query exactly as on the wire.
    pub(crate) raw_query: Option<&'a str>,
    /// The request headers.
    pub(crate) headers: &'a HeaderMap,
}

/// An invalid auth configuration.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthConfigError {
    /// `auth.enforce: true` with no key.
    #[error(
        "auth.enforce is true but auth.keys is empty: configure a key or set auth.enforce: false"
    )]
    EnforceWithoutKeys,
}

impl Authenticator {
    /// Builds the authenticator; `enforce` without keys is rejected.
    pub(crate) fn new(enforce: bool, keys: KeyDirectory) -> Result<Self, AuthConfigError> {
        let mode = match (enforce, keys.is_empty()) {
            (true, true) => return Err(AuthConfigError::EnforceWithoutKeys),
            (true, false) => Mode::Enforce,
            (false, false) => Mode::ReportOnly,
            (false, true) => Mode::Inactive,
        };
        Ok(Self { keys, mode })
    }

    /// Authenticates a request at `now`.
    pub(crate) fn authenticate(
        &self,
        request: RequestCredentials<'_>,
        now: SystemTime,
    ) -> Result<Grant, AuthError> {
        if self.mode == Mode::Inactive {
            return Ok(Grant::All);
        }
        let result = self.verify(request, now);
        match (result, self.mode) {
            (Ok(grant), Mode::ReportOnly) => Ok(Grant::Unenforced(Box::new(grant))),
            (Ok(grant), _) => Ok(grant),
            (Err(e), Mode::ReportOnly) => {
                tracing::warn!(error = %e, "auth failed (not enforced)");
                Ok(Grant::All)
            }
            (Err(e), _) => Err(e),
        }
    }

    fn verify(&self, request: RequestCredentials<'_>, now: SystemTime) -> Result<Grant, AuthError> {
        if presign::is_presigned(request.raw_query) {
            let query = request.raw_query.unwrap_or("");
            presign::verify(request.method, request.raw_path, query, &self.keys, now)?;
            return Ok(Grant::Presigned);
        }
        let token = bearer_token(request.headers)
            .or_else(|| query_token(request.raw_query))
            .ok_or_else(|| AuthError::BadRequest("No authorization token provided".into()))?;
        jwt::verify(&token, &self.keys, now).map(Grant::Token)
    }
}

/// The token of `x-os-auth`, else `Authorization`; only the first present header counts, and
/// only with a `Bearer ` prefix.
fn bearer_token(headers: &HeaderMap) -> Option<String> {
    const X_OS_AUTH: http::HeaderName = http::HeaderName::from_static("x-os-auth");
    let value = headers
        .get(&X_OS_AUTH)
        .or_else(|| headers.get(http::header::AUTHORIZATION))?;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case("bearer ")
        .then(|| token.trim().to_owned())
}

/// The `os_auth` query parameter, percent-decoded.
fn query_token(raw_query: Option<&str>) -> Option<String> {
    raw_query?
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "os_auth")
        .and_then(|(_, v)| percent_decode_str(v).decode_utf8().ok())
        .map(|s| s.into_owned())
}
