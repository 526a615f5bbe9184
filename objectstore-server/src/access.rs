//! Authentication and authorization slot of the request pipeline (spec section 9).
//!
//! * [`Auth`] is the extractor that authenticates a request (JWT from `x-os-auth` /
//!   `Authorization` / `os_auth`, or a pre-signed URL) and yields an [`Authorization`].
//! * Every endpoint calls [`Authorization::require`] with the [`Permission`] its operation
//!   needs and the object's context, after validating its input and before touching storage.
//!
//! Today authentication is a no-op: every request is [`Authorization::unrestricted`]. When
//! token verification lands, only this module changes; the call sites already state the
//! permission each route needs:
//!
//! | operation | permission |
//! |---|---|
//! | GET, HEAD, batch get/head | `object.read` |
//! | POST, PUT, PATCH, batch insert, multipart (all), resumable (all) | `object.write` |
//! | DELETE, batch delete | `object.delete` |

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;
use objectstore_types::{ObjectContext, Permission, Permissions};

use crate::app::AppState;
use crate::error::ApiError;

/// What an authenticated request may do.
#[derive(Debug, Clone)]
pub struct Authorization {
    permissions: Permissions,
    /// `None`: any usecase and scopes (auth inactive).
    restricted_to: Option<ObjectContext>,
}

impl Authorization {
    /// Everything is allowed (auth inactive).
    pub fn unrestricted() -> Self {
        Self {
            permissions: Permissions::ALL,
            restricted_to: None,
        }
    }

    /// Checks that this request may perform an operation needing `permission` on objects
    /// of `context`; 403 otherwise.
    pub fn require(&self, permission: Permission, context: &ObjectContext) -> Result<(), ApiError> {
        let allowed = self.permissions.contains(permission)
            && self
                .restricted_to
                .as_ref()
                .is_none_or(|granted| granted == context);
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden("operation not allowed".into()))
        }
    }
}

/// Extractor: authenticates the request.
#[derive(Debug, Clone)]
pub struct Auth(pub Authorization);

impl std::ops::Deref for Auth {
    type Target = Authorization;

    fn deref(&self) -> &Authorization {
        &self.0
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Token and pre-signed URL verification (spec 9.2-9.5) plug in here.
        Ok(Self(Authorization::unrestricted()))
    }
}

/// The per-request admission checks that need the object's context.
#[derive(Debug)]
pub struct Admission;

impl Admission {
    /// Admits a request for `context`: killswitches (403) and rate limits (429) plug in
    /// here. Counts the admitted request.
    pub fn admit(
        state: &AppState,
        _context: &ObjectContext,
        _headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        state.metrics.add_request();
        Ok(())
    }
}
