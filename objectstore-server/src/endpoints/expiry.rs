//! `PATCH /v1/objects/{usecase}/{scopes}/{*key}`: extend an object's expiry (docs/http-api.md §7).
//!
//! Body: exactly one member `extend_expiry` holding `{"at": <RFC 3339 UTC>}` or
//! `{"after": <duration>, "from": "now" | "creation"}`. JSON syntax errors → 400, a body of
//! another shape (unknown or missing members, mixed shapes, bad values) → 422, no JSON
//! content type → 415 (the framework's JSON rejections, plain text).
//!
//! Outcomes: 204 when the deadline is (now) at least the requested one, 404 (empty body)
//! when the object is absent or expired, 409 when it has no deadline to extend or changed
//! concurrently. "From now" is resolved at request start.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use objectstore_service::backend::{ExpiryTarget, ExtendOutcome};
use objectstore_types::{Permission, expiration, time};
use serde::Deserialize;

use crate::access::Auth;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ObjectPath;
use crate::state::AppState;

/// The PATCH body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchBody {
    /// The requested minimum deadline.
    pub extend_expiry: ExtendExpiry,
}

/// A validated `extend_expiry` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ExtendWire")]
pub(crate) struct ExtendExpiry(pub ExpiryTarget);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendWire {
    at: Option<String>,
    after: Option<String>,
    from: Option<From>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum From {
    Now,
    Creation,
}

impl TryFrom<ExtendWire> for ExtendExpiry {
    type Error = String;

    fn try_from(wire: ExtendWire) -> Result<Self, String> {
        match wire {
            ExtendWire {
                at: Some(at),
                after: None,
                from: None,
            } => time::parse(&at)
                .map(|t| Self(ExpiryTarget::At(t)))
                .map_err(|e| e.to_string()),
            ExtendWire {
                at: None,
                after: Some(after),
                from: Some(from),
            } => {
                let d = expiration::parse_duration(&after)
                    .map_err(|why| format!("invalid `after` {after:?}: {why}"))?;
                Ok(Self(match from {
                    From::Now => ExpiryTarget::AfterNow(d),
                    From::Creation => ExpiryTarget::AfterCreation(d),
                }))
            }
            _ => Err(
                "extend_expiry needs exactly {\"at\": ...} or {\"after\": ..., \"from\": \"now\" | \"creation\"}"
                    .into(),
            ),
        }
    }
}

/// Handles `PATCH` with an `extend_expiry` body.
pub(crate) async fn patch_object(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    Json(body): Json<PatchBody>,
) -> Result<Response, ApiError> {
    let now = state.service.now();
    let target = body.extend_expiry.0;
    state.admission.check_extension(&id.context, &target, now)?;
    auth.require(Permission::Write, &id.context)?;
    let outcome = state.service.extend_expiry(id, target, now).await?;
    let conflict = |detail: &str| {
        let body = ErrorBody {
            detail: format!("client error: {detail}"),
            causes: Vec::new(),
        };
        (StatusCode::CONFLICT, Json(body)).into_response()
    };
    Ok(match outcome {
        ExtendOutcome::Satisfied => StatusCode::NO_CONTENT.into_response(),
        ExtendOutcome::NotFound => StatusCode::NOT_FOUND.into_response(),
        ExtendOutcome::Rejected => conflict("the object has no expiry deadline to extend"),
        ExtendOutcome::Conflict => conflict("the object changed concurrently; retry"),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parse(json: &str) -> Result<ExpiryTarget, serde_json::Error> {
        serde_json::from_str::<PatchBody>(json).map(|b| b.extend_expiry.0)
    }

    #[test]
    fn accepts_the_three_shapes() {
        assert_eq!(
            parse(r#"{"extend_expiry":{"after":"30d","from":"now"}}"#).unwrap(),
            ExpiryTarget::AfterNow(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            parse(r#"{"extend_expiry":{"after":"1d 2h","from":"creation"}}"#).unwrap(),
            ExpiryTarget::AfterCreation(Duration::from_secs(86_400 + 7200))
        );
        let at = parse(r#"{"extend_expiry":{"at":"2026-10-16T12:00:00.250000+00:00"}}"#).unwrap();
        assert_eq!(
            at,
            ExpiryTarget::At(time::parse("2026-10-16T12:00:01Z").unwrap())
        );
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            r#"{}"#,
            r#"{"extend_expiry":{}}"#,
            r#"{"extend_expiry":{"after":"1d"}}"#,
            r#"{"extend_expiry":{"after":"1d","from":"later"}}"#,
            r#"{"extend_expiry":{"at":"2026-10-16T12:00:00Z","after":"1d","from":"now"}}"#,
            r#"{"extend_expiry":{"at":"2026-10-16T12:00:00+02:00"}}"#,
            r#"{"extend_expiry":{"after":"soon","from":"now"}}"#,
            r#"{"extend_expiry":{"at":"2026-10-16T12:00:00Z","extra":1}}"#,
            r#"{"extend_expiry":{"at":"2026-10-16T12:00:00Z"},"other":1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
