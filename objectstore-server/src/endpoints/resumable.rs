//! Resumable uploads (spec 18.5): request classification and the four operations.
//!
//! # Classification (18.5.2), on POST (collection), PUT and DELETE (object)
//!
//! 1. `session` present → an operation on an existing session (PUT: write a chunk, or
//!    query the offset when `Upload-Offset: *`; DELETE: cancel). `upload_type` is ignored.
//! 2. `upload_type=resumable` → create a session (POST: generated key; PUT: given key).
//! 3. `upload_type` with any other value → 400.
//! 4. Neither → the ordinary insert or delete.
//!
//! # Operations
//!
//! Input is validated here (`Upload-Length`, `Upload-Offset`, `Content-Length`, the token's
//! form, metadata, usecase policy, permission `object.write`) before the storage engine is
//! asked. Until the storage service offers sessions, creation is declined with 501 (clients
//! then fall back to a regular upload) and every session operation answers 404 ("session
//! unavailable").

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, StatusCode};
use objectstore_types::{ObjectContext, ObjectId, ObjectKey, Permission};
use serde::Deserialize;

use super::objects::insert_metadata;
use crate::app::AppState;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{header_str, header_u64, parse_digits, required_content_length};

/// Request header carrying the total length at creation.
pub const UPLOAD_LENGTH: &str = "upload-length";
/// Request and response header carrying a chunk's offset / the persisted offset.
pub const UPLOAD_OFFSET: &str = "upload-offset";

/// The query parameters that select a resumable operation; others are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct UploadQuery {
    /// `resumable` to create a session.
    pub upload_type: Option<String>,
    /// The token of an existing session.
    pub session: Option<String>,
}

/// What a POST/PUT/DELETE on an object route asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadRequest {
    /// An ordinary insert or delete.
    Ordinary,
    /// Create a resumable upload session.
    Create,
    /// An operation on the session with this token.
    Session(String),
}

impl UploadQuery {
    /// Classifies the request (module docs, steps 1-4).
    pub fn classify(self) -> Result<UploadRequest, ApiError> {
        if let Some(token) = self.session {
            return Ok(UploadRequest::Session(token));
        }
        match self.upload_type.as_deref() {
            None => Ok(UploadRequest::Ordinary),
            Some("resumable") => Ok(UploadRequest::Create),
            Some(other) => Err(ApiError::client(format!(
                "unsupported upload_type {other:?}; the only upload type is `resumable`"
            ))),
        }
    }
}

/// Checks that a session token is canonical unpadded base64url (18.5.11); a malformed
/// token is a client error (400), a well-formed unknown one is answered 404 later.
fn check_token(token: &str) -> Result<Vec<u8>, ApiError> {
    let bad = || ApiError::client("malformed upload session token");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    if bytes.is_empty() || URL_SAFE_NO_PAD.encode(&bytes) != token {
        return Err(bad());
    }
    Ok(bytes)
}

/// The offset a chunk request names: a position, or `*` for "tell me the offset".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offset {
    At(u64),
    Query,
}

fn offset(headers: &HeaderMap) -> Result<Offset, ApiError> {
    let text = header_str(headers, UPLOAD_OFFSET)?
        .ok_or_else(|| ApiError::client("Upload-Offset header is required"))?;
    if text == "*" {
        return Ok(Offset::Query);
    }
    parse_digits(text)
        .map(Offset::At)
        .ok_or_else(|| ApiError::client("Upload-Offset must be decimal digits or `*`"))
}

fn unavailable() -> ApiError {
    ApiError::Service(objectstore_service::Error::NotFound(
        "unknown upload session".into(),
    ))
}

/// Creates a session (`?upload_type=resumable`): 200 + `{"key","session","granularity"}`,
/// or 501 when the storage engine declines.
pub async fn create(
    state: &AppState,
    auth: &Auth,
    context: ObjectContext,
    key: Option<ObjectKey>,
    headers: &HeaderMap,
    _body: Body,
) -> Result<Response, ApiError> {
    let total = header_u64(headers, UPLOAD_LENGTH)?
        .ok_or_else(|| ApiError::client("Upload-Length header is required"))?;
    if header_u64(headers, http::header::CONTENT_LENGTH.as_str())?.is_some_and(|n| n > 0) {
        return Err(ApiError::client(
            "a resumable upload is created with an empty body; send the bytes as chunks",
        ));
    }
    let _metadata = insert_metadata(state, &context, headers)?;
    auth.require(Permission::Write, &context)?;
    let _id = ObjectId::new(context, key.unwrap_or_else(ObjectKey::generate));
    tracing::debug!(
        total,
        "resumable upload declined: not supported by the storage service"
    );
    Ok((
        StatusCode::NOT_IMPLEMENTED,
        "resumable uploads are not supported by this server",
    )
        .into_response())
}

/// Writes a chunk (`Upload-Offset: <n>`) or reports the persisted offset
/// (`Upload-Offset: *`).
pub async fn write_or_query(
    _state: &AppState,
    auth: &Auth,
    id: ObjectId,
    token: String,
    headers: &HeaderMap,
    _body: Body,
) -> Result<Response, ApiError> {
    check_token(&token)?;
    let offset = offset(headers)?;
    let length = required_content_length(headers)?;
    if offset == Offset::Query && length > 0 {
        return Err(ApiError::client(
            "an offset query (`Upload-Offset: *`) must have an empty body",
        ));
    }
    auth.require(Permission::Write, &id.context)?;
    Err(unavailable())
}

/// Cancels a session: 204, or 404/410 when it is unknown or already finished.
pub async fn cancel(
    _state: &AppState,
    auth: &Auth,
    id: ObjectId,
    token: String,
) -> Result<Response, ApiError> {
    check_token(&token)?;
    auth.require(Permission::Write, &id.context)?;
    Err(unavailable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(upload_type: Option<&str>, session: Option<&str>) -> UploadQuery {
        UploadQuery {
            upload_type: upload_type.map(Into::into),
            session: session.map(Into::into),
        }
    }

    #[test]
    fn classification_follows_the_spec_order() {
        assert_eq!(q(None, None).classify().unwrap(), UploadRequest::Ordinary);
        assert_eq!(
            q(Some("resumable"), None).classify().unwrap(),
            UploadRequest::Create
        );
        assert_eq!(
            q(Some("resumable"), Some("abc")).classify().unwrap(),
            UploadRequest::Session("abc".into())
        );
        assert_eq!(
            q(Some("whatever"), Some("abc")).classify().unwrap(),
            UploadRequest::Session("abc".into())
        );
        assert!(q(Some("tus"), None).classify().is_err());
        assert!(q(Some(""), None).classify().is_err());
    }

    #[test]
    fn tokens_must_be_canonical_base64url() {
        assert!(check_token("Li4vb3BhcXVlICs_IMO8").is_ok());
        assert!(check_token("QQ").is_ok());
        for bad in ["", "a", "Li4v=", "Li4vb3BhcXVlICs/IMO8", "QR"] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
    }
}
