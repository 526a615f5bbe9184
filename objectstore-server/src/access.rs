//! The request pipeline's access checks, as extractors and helpers the endpoints call:
//! authentication ([`Auth`]), authorization ([`Auth::require`]) and admission
//! ([`admit`]). The logic lives in [`crate::auth`] and [`crate::admission`]; this module
//! connects it to requests and maps its outcomes to [`ApiError`].
//!
//! Order (docs/http-api.md §3.1): authentication runs first (an extractor before the path), then
//! path parsing and [`admit`] (killswitch 403, bandwidth 429, throughput 429), then in the endpoint
//! input validation, usecase policy, and [`Auth::require`] with the operation's permission:
//!
//! | operation | permission |
//! |---|---|
//! | GET, HEAD, batch get/head | `object.read` |
//! | POST, PUT, PATCH, batch insert, multipart (all), resumable (all) | `object.write` |
//! | DELETE, batch delete | `object.delete` |

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;
use objectstore_types::{ObjectContext, Permission};

use crate::admission::{Rejection, downstream_service};
use crate::auth::{Grant, RequestCredentials};
use crate::error::ApiError;
use crate::metrics::RejectionReason;
use crate::state::AppState;

/// Extractor: the authenticated request's [`Grant`]. Failures are answered 400 (missing or
/// malformed credentials), 401 (invalid, expired, unknown key) as JSON `auth error: …`.
#[derive(Debug, Clone)]
pub(crate) struct Auth(pub Grant);

impl Auth {
    /// Checks that the request may perform an operation needing `permission` on objects of
    /// `context`; 403 otherwise.
    pub(crate) fn require(
        &self,
        permission: Permission,
        context: &ObjectContext,
    ) -> Result<(), ApiError> {
        self.0
            .authorize(permission, &context.usecase, &context.scopes)
            .map_err(ApiError::Auth)
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let credentials = RequestCredentials {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query(),
            headers: &parts.headers,
        };
        state
            .authenticator
            .authenticate(credentials, state.service.now())
            .map(Self)
            .map_err(ApiError::Auth)
    }
}

/// Admits a request for `context`: killswitches (403), then bandwidth and throughput limits
/// (429), as plain-text rejections.
pub(crate) fn admit(
    state: &AppState,
    context: &ObjectContext,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    state
        .admission
        .admit(context, downstream_service(headers))
        .map_err(|rejection| {
            crate::metrics::record_rejection(match rejection {
                Rejection::Killswitched => RejectionReason::Killswitch,
                Rejection::RateLimited { .. } => RejectionReason::RateLimit,
            });
            ApiError::Rejected(rejection)
        })
}
