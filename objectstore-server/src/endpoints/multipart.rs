//! Multipart uploads (docs/http-api.md §9): initiate, upload part, list parts, abort, and the
//! streamed complete. Every operation needs `object.write`.
//!
//! # Complete (§9.6)
//!
//! 1. Extraction: `upload_id` query (400 plain text when missing), JSON body (415 without a
//!    JSON content type, 400 on syntax errors, 422 on a wrong shape or a zero part number,
//!    413 over 2 MiB), permission (403). Failures here are real HTTP statuses.
//! 2. The server answers `200 OK`, `content-type: application/json`, at once, and starts the
//!    assembly in the storage engine (which finishes it even if the client goes away).
//! 3. While the assembly runs, one ASCII space is sent every second, keeping proxies and
//!    clients from timing out.
//! 4. Then exactly one JSON document ends the body: `{"key": ...}` on success, or
//!    `{"error": {"code": ..., "message": ...}}`. A rejection by the backend (missing part,
//!    ETag mismatch) keeps its code (`InvalidPart`); other failures get a code derived from
//!    the error (`NoSuchUpload`, `InvalidRequest`, `SlowDown`, `NotImplemented`, otherwise
//!    `internal error` as in the reference server).

use std::num::NonZeroU32;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use objectstore_service::backend::CompletedPart;
use objectstore_types::{ObjectContext, ObjectId, ObjectKey, Permission, time};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::Auth;
use crate::error::{ApiError, service_status};
use crate::extract::{ContextPath, ObjectPath, insert_metadata, payload, required_content_length};
use crate::state::AppState;

/// How often the complete response sends a keep-alive space.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);

/// `?upload_id=`.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadIdQuery {
    /// The upload.
    pub upload_id: String,
}

/// `?upload_id=&part_number=`.
#[derive(Debug, Deserialize)]
pub(crate) struct PartQuery {
    /// The upload.
    pub upload_id: String,
    /// The part, >= 1.
    pub part_number: NonZeroU32,
}

/// `?upload_id=[&max_parts=][&part_number_marker=]`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    /// The upload.
    pub upload_id: String,
    /// Page size.
    pub max_parts: Option<u32>,
    /// List parts after this number.
    pub part_number_marker: Option<NonZeroU32>,
}

/// Upload ids are opaque, non-empty and made of `[A-Za-z0-9_-]` (backend contract); other
/// values are refused before reaching storage.
fn upload_id(id: String) -> Result<String, ApiError> {
    let valid = !id.is_empty()
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(id)
    } else {
        Err(ApiError::client(format!("invalid upload_id {id:?}")))
    }
}

#[derive(Debug, Serialize)]
struct InitiateBody {
    key: String,
    upload_id: String,
}

async fn initiate_at(
    state: &AppState,
    auth: &Auth,
    context: ObjectContext,
    key: ObjectKey,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let metadata = insert_metadata(state, &context, headers)?;
    auth.require(Permission::Write, &context)?;
    let id = ObjectId::new(context, key.clone());
    let upload_id = state.service.initiate_multipart(id, metadata).await?;
    Ok(Json(InitiateBody {
        key: key.as_str().to_owned(),
        upload_id,
    })
    .into_response())
}

/// `POST /v1/objects:multipart/{usecase}/{scopes}[/]`: initiate under a generated key.
pub(crate) async fn initiate_generated(
    State(state): State<AppState>,
    auth: Auth,
    ContextPath(context): ContextPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    initiate_at(&state, &auth, context, ObjectKey::generate(), &headers).await
}

/// `PUT /v1/objects:multipart/{usecase}/{scopes}/{*key}`: initiate at a key.
pub(crate) async fn initiate(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    initiate_at(&state, &auth, id.context, id.key, &headers).await
}

/// `DELETE /v1/objects:multipart/{usecase}/{scopes}/{*key}?upload_id=`: 204, also for an
/// unknown upload.
pub(crate) async fn abort(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    Query(query): Query<UploadIdQuery>,
) -> Result<Response, ApiError> {
    let upload_id = upload_id(query.upload_id)?;
    auth.require(Permission::Write, &id.context)?;
    state.service.abort_multipart(id, upload_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /v1/objects:multipart:parts/...?upload_id=&part_number=`: stores a part, which must
/// carry `Content-Length`; 200 + `{"etag"}`.
pub(crate) async fn upload_part(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    Query(query): Query<PartQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let upload_id = upload_id(query.upload_id)?;
    let length = required_content_length(&headers)?;
    auth.require(Permission::Write, &id.context)?;
    let body = payload(&state, &id.context, body);
    let etag = state
        .service
        .upload_part(id, upload_id, query.part_number.get(), length, body)
        .await?;
    Ok(Json(json!({ "etag": etag })).into_response())
}

#[derive(Debug, Serialize)]
struct PartBody {
    part_number: u32,
    etag: String,
    last_modified: String,
    size: u64,
}

#[derive(Debug, Serialize)]
struct PartsBody {
    parts: Vec<PartBody>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_part_number_marker: Option<u32>,
}

/// `GET /v1/objects:multipart:parts/...?upload_id=[&max_parts=][&part_number_marker=]`.
pub(crate) async fn list_parts(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let upload_id = upload_id(query.upload_id)?;
    auth.require(Permission::Write, &id.context)?;
    let page = state
        .service
        .list_parts(
            id,
            upload_id,
            query.max_parts,
            query.part_number_marker.map(NonZeroU32::get),
        )
        .await?;
    let body = PartsBody {
        parts: page
            .parts
            .into_iter()
            .map(|p| PartBody {
                part_number: p.part_number,
                etag: p.etag,
                last_modified: time::format(p.last_modified),
                size: p.size,
            })
            .collect(),
        is_truncated: page.next_marker.is_some(),
        next_part_number_marker: page.next_marker,
    };
    Ok(Json(body).into_response())
}

/// The complete request body.
#[derive(Debug, Deserialize)]
pub(crate) struct CompleteBody {
    /// The parts to assemble, in order.
    pub parts: Vec<CompletePart>,
}

/// One part of a complete request.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletePart {
    /// Part number, >= 1 (0 → 422).
    pub part_number: NonZeroU32,
    /// The ETag the upload returned.
    pub etag: String,
}

/// The error code reported for a failed completion (module docs, step 4).
fn complete_error_code(error: &objectstore_service::Error) -> &'static str {
    match service_status(error) {
        StatusCode::NOT_FOUND | StatusCode::GONE => "NoSuchUpload",
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "InvalidRequest",
        StatusCode::TOO_MANY_REQUESTS => "SlowDown",
        StatusCode::NOT_IMPLEMENTED => "NotImplemented",
        _ => "internal error",
    }
}

/// `POST /v1/objects:multipart:complete/...?upload_id=`: the streamed completion.
pub(crate) async fn complete(
    State(state): State<AppState>,
    auth: Auth,
    ObjectPath(id): ObjectPath,
    Query(query): Query<UploadIdQuery>,
    Json(body): Json<CompleteBody>,
) -> Result<Response, ApiError> {
    let upload_id = upload_id(query.upload_id)?;
    auth.require(Permission::Write, &id.context)?;
    let parts: Vec<CompletedPart> = body
        .parts
        .into_iter()
        .map(|p| CompletedPart {
            part_number: p.part_number.get(),
            etag: p.etag,
        })
        .collect();
    let key = id.key.as_str().to_owned();
    let service = state.service.clone();
    let work = async move {
        let document = match service.complete_multipart(id, upload_id, parts).await {
            Ok(None) => json!({ "key": key }),
            Ok(Some(rejection)) => {
                json!({ "error": { "code": rejection.code, "message": rejection.message } })
            }
            Err(e) => {
                if service_status(&e).is_server_error() {
                    tracing::error!(
                        error = &e as &dyn std::error::Error,
                        "multipart complete failed"
                    );
                }
                json!({ "error": { "code": complete_error_code(&e), "message": e.to_string() } })
            }
        };
        Bytes::from(document.to_string())
    };
    let stream = keepalive(work, KEEPALIVE_INTERVAL).map(Ok::<_, std::convert::Infallible>);
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// A stream that yields one space per `interval` while `work` runs, then `work`'s output,
/// then ends. The first space comes after one full interval.
pub(crate) fn keepalive<F>(
    work: F,
    interval: Duration,
) -> impl Stream<Item = Bytes> + Send + 'static
where
    F: Future<Output = Bytes> + Send + 'static,
{
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Some((Box::pin(work), ticker));
    futures::stream::unfold(state, |state| async move {
        let (mut work, mut ticker) = state?;
        tokio::select! {
            biased;
            done = &mut work => Some((done, None)),
            _ = ticker.tick() => Some((Bytes::from_static(b" "), Some((work, ticker)))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keepalive_sends_a_space_per_interval_then_the_document() {
        let (tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
        let work = async move { rx.await.unwrap_or_default() };
        let mut stream = Box::pin(keepalive(work, Duration::from_secs(1)));
        for _ in 0..3 {
            assert_eq!(stream.next().await.unwrap(), Bytes::from_static(b" "));
        }
        tx.send(Bytes::from_static(b"{\"key\":\"k\"}")).unwrap();
        assert_eq!(
            stream.next().await.unwrap(),
            Bytes::from_static(b"{\"key\":\"k\"}")
        );
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn keepalive_sends_no_space_when_work_is_quick() {
        let stream = keepalive(
            async { Bytes::from_static(b"done") },
            Duration::from_secs(1),
        );
        let all: Vec<Bytes> = stream.collect().await;
        assert_eq!(all, vec![Bytes::from_static(b"done")]);
    }

    #[test]
    fn upload_ids_are_checked() {
        assert!(upload_id("0192-abc_DEF".into()).is_ok());
        for bad in ["", "../x", "a/b", "a b", "a.b"] {
            assert!(upload_id(bad.into()).is_err(), "{bad}");
        }
    }
}
