//! Object endpoints (docs/http-api.md §4, §5 and §6): POST/PUT insert, GET (optionally
//! ranged), HEAD, DELETE. Inserts answer with the stored object's `etag`; GET and HEAD
//! honour `If-Match` (412) and `If-None-Match` (304) against it (§4.6).
//!
//! POST (collection), PUT and DELETE first classify the query (§10.2): `session` or
//! `upload_type` turn them into resumable-upload operations, handled by
//! [`super::resumable`]; only requests with neither are ordinary inserts and deletes, so a
//! resumable request can never store or delete an object by accident.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT_RANGES, CONTENT_RANGE, ETAG};
use http::{HeaderMap, HeaderValue, StatusCode};
use objectstore_service::backend::GetResponse;
use objectstore_types::conditional::Precondition;
use objectstore_types::{Metadata, ObjectId, ObjectKey, Permission};

use super::KeyBody;
use super::resumable::{self, UploadQuery, UploadRequest};
use crate::access::Auth;
use crate::body::stream_body;
use crate::error::ApiError;
use crate::extract::{
    Conditions, ContextPath, ObjectPath, RequestedRange, insert_metadata, payload,
};
use crate::state::AppState;

/// Writes the response headers of a found object into `headers`: its metadata (lowercase
/// names, `x-sn-size`, `content-disposition`) and `accept-ranges`. The map is sized once for
/// them and the headers the envelope adds (instead of growing past its first 6 entries).
pub(crate) fn write_object_headers(metadata: &Metadata, headers: &mut HeaderMap) {
    headers.reserve(12 + metadata.custom.len());
    metadata.write_headers(headers);
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
}

/// A header value the server formatted itself.
pub(crate) fn header_value(text: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::try_from(text).map_err(|e| ApiError::Internal(format!("bad header value: {e}")))
}

/// An insert's answer: `status` with `{"key"}` and the stored object's `etag`.
struct Inserted {
    key: String,
    etag: Option<String>,
}

impl Inserted {
    fn respond(self, status: StatusCode) -> Response {
        let mut response = (status, Json(KeyBody { key: self.key })).into_response();
        if let Some(etag) = self.etag.and_then(|e| HeaderValue::try_from(e).ok()) {
            response.headers_mut().insert(ETAG, etag);
        }
        response
    }
}

async fn insert(
    state: &AppState,
    auth: &Auth,
    id: ObjectId,
    headers: &HeaderMap,
    body: Body,
) -> Result<Inserted, ApiError> {
    let metadata = insert_metadata(state, &id.context, headers)?;
    auth.require(Permission::Write, &id.context)?;
    let key = id.key.as_str().to_owned();
    let body = payload(state, &id.context, body);
    let stored = state.service.put(id, metadata, body).await?;
    Ok(Inserted {
        key,
        etag: stored.quoted_etag(),
    })
}

/// What `If-Match` / `If-None-Match` make of a read of the object with `metadata`:
/// `Some(answer)` when a condition decides it (304 with the object's headers, or 412).
fn precondition(
    conditions: &Conditions,
    metadata: &Metadata,
) -> Option<Result<Response, ApiError>> {
    if conditions.is_empty() {
        return None;
    }
    match conditions.evaluate(metadata.etag.as_deref()) {
        Precondition::Proceed => None,
        Precondition::NotModified => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            write_object_headers(metadata, response.headers_mut());
            Some(Ok(response))
        }
        Precondition::Failed => Some(Err(ApiError::PreconditionFailed(format!(
            "If-Match does not match the object's ETag ({})",
            metadata.quoted_etag().unwrap_or_else(|| "none".into())
        )))),
    }
}

/// `POST /v1/objects/{usecase}/{scopes}[/]`: insert under a generated key (201), or create
/// a resumable upload (`?upload_type=resumable`).
pub(crate) async fn post_object(
    State(state): State<AppState>,
    auth: Auth,
    ContextPath(context): ContextPath,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    match query.classify()? {
        UploadRequest::Ordinary => {
            let id = ObjectId::new(context, ObjectKey::generate());
            let inserted = insert(&state, &auth, id, &headers, body).await?;
            Ok(inserted.respond(StatusCode::CREATED))
        }
        UploadRequest::Create => resumable::create(&state, &auth, context, None, &headers).await,
        UploadRequest::Session(_) => Err(ApiError::client(
            "a resumable upload session is addressed by its object key: PUT or DELETE \
             /v1/objects/{usecase}/{scopes}/{key}?session=...",
        )),
    }
}

/// `PUT /v1/objects/{usecase}/{scopes}/{*key}`: insert or overwrite (200), or a resumable
/// upload operation (create, write chunk, query offset).
pub(crate) async fn put_object(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    match query.classify()? {
        UploadRequest::Ordinary => {
            let inserted = insert(&state, &auth, id, &headers, body).await?;
            Ok(inserted.respond(StatusCode::OK))
        }
        UploadRequest::Create => {
            resumable::create(&state, &auth, id.context, Some(id.key), &headers).await
        }
        UploadRequest::Session(token) => {
            resumable::write_or_query(&state, &auth, id, token, &headers, body).await
        }
    }
}

/// `GET /v1/objects/{usecase}/{scopes}/{*key}`: the object (200), a range of it (206, 416),
/// 304 / 412 by its conditions, or 404 with an empty body.
pub(crate) async fn get_object(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    RequestedRange(range): RequestedRange,
    conditions: Conditions,
) -> Result<Response, ApiError> {
    auth.require(Permission::Read, &id.context)?;
    let meter = state.admission.meter_for(&id.context);
    let response = state.service.get(id, range).await?;
    if let GetResponse::Found { metadata, .. } | GetResponse::RangeNotSatisfiable(metadata) =
        &response
        && let Some(answer) = precondition(&conditions, metadata)
    {
        return answer;
    }
    match response {
        GetResponse::NotFound => Err(ApiError::NotFound),
        GetResponse::RangeNotSatisfiable(metadata) => {
            let total = metadata.size.unwrap_or(0);
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            let headers = response.headers_mut();
            headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            headers.insert(CONTENT_RANGE, header_value(format!("bytes */{total}"))?);
            Ok(response)
        }
        GetResponse::Found {
            metadata,
            range,
            body,
        } => {
            let (status, len) = match range {
                Some(r) => (StatusCode::PARTIAL_CONTENT, Some(r.len())),
                None => (StatusCode::OK, metadata.size),
            };
            let mut response = Response::new(stream_body(body, len, meter));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            write_object_headers(&metadata, headers);
            if let Some(r) = range {
                headers.insert(CONTENT_RANGE, header_value(r.to_string())?);
            }
            Ok(response)
        }
    }
}

/// `HEAD /v1/objects/{usecase}/{scopes}/{*key}`: 204 with the metadata headers, 304 / 412
/// by its conditions, or 404. `Range` is ignored.
pub(crate) async fn head_object(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    conditions: Conditions,
) -> Result<Response, ApiError> {
    auth.require(Permission::Read, &id.context)?;
    let Some(metadata) = state.service.head(id).await? else {
        return Err(ApiError::NotFound);
    };
    if let Some(answer) = precondition(&conditions, &metadata) {
        return answer;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    write_object_headers(&metadata, response.headers_mut());
    Ok(response)
}

/// `DELETE /v1/objects/{usecase}/{scopes}/{*key}`: 204, also for a missing object; or the
/// cancellation of a resumable upload (`?session=`).
pub(crate) async fn delete_object(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    Query(query): Query<UploadQuery>,
) -> Result<Response, ApiError> {
    match query.classify()? {
        UploadRequest::Ordinary => {
            auth.require(Permission::Delete, &id.context)?;
            state.service.delete(id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        UploadRequest::Create => Err(ApiError::client(
            "`upload_type=resumable` creates an upload with POST or PUT; \
             to cancel one, DELETE with `?session=`",
        )),
        UploadRequest::Session(token) => resumable::cancel(&state, &auth, id, token).await,
    }
}
