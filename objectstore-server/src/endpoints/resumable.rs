//! Resumable uploads (docs/http-api.md §10): request classification and the four operations.
//!
//! # Classification (§10.2), on POST (collection), PUT and DELETE (object)
//!
//! 1. `session` present → an operation on an existing session (PUT: write a chunk, or
//!    query the offset when `Upload-Offset: *`; DELETE: cancel). `upload_type` is ignored.
//! 2. `upload_type=resumable` → create a session (POST: generated key; PUT: given key).
//! 3. `upload_type` with any other value → 400.
//! 4. Neither → the ordinary insert or delete.
//!
//! # Operations
//!
//! Input is validated here (`Upload-Length`, `Upload-Offset`, `Content-Length`, metadata,
//! usecase policy, permission `object.write`) before the storage engine is asked; the token
//! and the session protocol belong to [`objectstore_service::resumable`]. Its errors map as
//! everywhere ([`crate::error::service_status`]): malformed token 400, unknown, completed or
//! cancelled session 404, declined creation (empty object, no multipart support) 501.

use axum::Json;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, StatusCode};
use objectstore_service::resumable::ChunkOutcome;
use objectstore_types::{ObjectContext, ObjectId, ObjectKey, Permission};
use serde::{Deserialize, Serialize};

use super::KeyBody;
use crate::access::Auth;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{
    header_str, header_u64, insert_metadata, parse_digits, payload, required_content_length,
};
use crate::state::AppState;

/// Request header carrying the total length at creation.
pub(crate) const UPLOAD_LENGTH: &str = "upload-length";
/// Request and response header carrying a chunk's offset / the persisted offset.
pub(crate) const UPLOAD_OFFSET: &str = "upload-offset";

/// The query parameters that select a resumable operation; others are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UploadQuery {
    /// `resumable` to create a session.
    pub upload_type: Option<String>,
    /// The token of an existing session.
    pub session: Option<String>,
}

/// What a POST/PUT/DELETE on an object route asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UploadRequest {
    /// An ordinary insert or delete.
    Ordinary,
    /// Create a resumable upload session.
    Create,
    /// An operation on the session with this token.
    Session(String),
}

impl UploadQuery {
    /// Classifies the request (module docs, steps 1-4).
    pub(crate) fn classify(self) -> Result<UploadRequest, ApiError> {
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

/// Whether the request declares an empty body: no chunked encoding and no or a zero
/// `Content-Length`.
fn body_is_empty(headers: &HeaderMap) -> Result<bool, ApiError> {
    Ok(!headers.contains_key(TRANSFER_ENCODING)
        && header_u64(headers, CONTENT_LENGTH.as_str())?.unwrap_or(0) == 0)
}

#[derive(Debug, Serialize)]
struct CreatedBody {
    key: String,
    session: String,
    granularity: u64,
}

/// Creates a session (`?upload_type=resumable`): 200 + `{"key","session","granularity"}`,
/// or 501 when the storage engine declines (empty object, backend without sessions).
pub(crate) async fn create(
    state: &AppState,
    auth: &Auth,
    context: ObjectContext,
    key: Option<ObjectKey>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let total = header_u64(headers, UPLOAD_LENGTH)?
        .ok_or_else(|| ApiError::client("Upload-Length header is required"))?;
    if !body_is_empty(headers)? {
        return Err(ApiError::client(
            "a resumable upload is created with an empty body; send the bytes as chunks",
        ));
    }
    let metadata = insert_metadata(state, &context, headers)?;
    auth.require(Permission::Write, &context)?;
    let id = ObjectId::new(context, key.unwrap_or_else(ObjectKey::generate));
    let session = state.service.create_upload(id, metadata, total).await?;
    Ok(Json(CreatedBody {
        key: session.key.as_str().to_owned(),
        session: session.token,
        granularity: session.granularity,
    })
    .into_response())
}

fn with_offset(status: StatusCode, offset: u64) -> Response {
    let mut response = status.into_response();
    response
        .headers_mut()
        .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    response
}

/// Writes a chunk (`Upload-Offset: <n>`) or reports the persisted offset
/// (`Upload-Offset: *`): 204 + `upload-offset` while incomplete, 201 + `{"key"}` when the
/// chunk completed the object, 409 + `upload-offset` when the chunk does not start at the
/// persisted offset.
pub(crate) async fn write_or_query(
    state: &AppState,
    auth: &Auth,
    id: ObjectId,
    token: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Offset::At(at) = offset(headers)? else {
        // An offset query carries no body; `Content-Length: 0` is optional.
        if !body_is_empty(headers)? {
            return Err(ApiError::client(
                "an offset query (`Upload-Offset: *`) must have an empty body",
            ));
        }
        auth.require(Permission::Write, &id.context)?;
        let persisted = state.service.query_offset(id, &token).await?;
        return Ok(with_offset(StatusCode::NO_CONTENT, persisted));
    };
    let length = required_content_length(headers)?;
    auth.require(Permission::Write, &id.context)?;
    let key = id.key.as_str().to_owned();
    let body = payload(state, &id.context, body);
    let outcome = state
        .service
        .write_chunk(id, &token, at, length, body)
        .await?;
    Ok(match outcome {
        ChunkOutcome::Incomplete { offset } => with_offset(StatusCode::NO_CONTENT, offset),
        ChunkOutcome::Complete => (StatusCode::CREATED, Json(KeyBody { key })).into_response(),
        ChunkOutcome::OffsetMismatch { offset } => {
            let detail = format!(
                "client error: the chunk starts at {at} but the upload has persisted {offset} bytes; \
                 resend from {offset}"
            );
            let mut response = (
                StatusCode::CONFLICT,
                Json(ErrorBody {
                    detail,
                    causes: Vec::new(),
                }),
            )
                .into_response();
            response
                .headers_mut()
                .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
            response
        }
    })
}

/// Cancels a session: 204, or 404 when it is unknown, completed or cancelled.
pub(crate) async fn cancel(
    state: &AppState,
    auth: &Auth,
    id: ObjectId,
    token: String,
) -> Result<Response, ApiError> {
    auth.require(Permission::Write, &id.context)?;
    state.service.cancel_upload(id, &token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
}
