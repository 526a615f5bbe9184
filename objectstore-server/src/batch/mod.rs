//! The batch endpoint, `POST /v1/objects:batch/{usecase}/{scopes}/` (docs/http-api.md §8).
//!
//! A request is a `multipart/form-data` body with one part per operation (get, head, insert,
//! delete). The response is `200` at once, followed by a streamed `multipart/form-data` body
//! with one part per operation, in completion order, correlated by
//! `x-sn-batch-operation-index`.
//!
//! # How a request flows
//!
//! 1. [`handle`] checks the request `content-type` (`multipart/form-data` with a boundary);
//!    otherwise it answers `400` plain text and nothing else happens.
//! 2. It answers `200` with a streamed body. Polling that body drives two things at once:
//!    * the *parser* (module `request`), which reads the request body part by part with
//!      `multer`, validates each part (kind, key, metadata, limits), asks the [`BatchGuard`],
//!      and either forwards a valid operation to the executor through a channel of capacity
//!      one, or yields an error part directly;
//!    * the *executor*, [`StorageService::batch`], which runs at most
//!      [`objectstore_service::batch::BATCH_WINDOW`] operations at once and yields their
//!      results as they complete.
//! 3. Both are merged into one stream of parts (module `response`), each framed as
//!    `--<boundary>\r\n<headers>\r\n<body>\r\n`, and the body ends with `--<boundary>--` once
//!    the parser has finished and every forwarded operation has completed.
//!
//! # Invariants
//!
//! * **Every index gets exactly one part**, for every part the parser saw: either an error
//!   part from the parser or the executor's result. (A multipart syntax error ends parsing;
//!   it yields one `400` part for the index being parsed, and later bytes are never read.)
//! * **Memory is bounded by the window, not the batch:** the parser runs ahead of the executor
//!   by at most one operation, `multer` reads at most a few 64 KiB slices ahead of the parser
//!   (module `intake`), insert payloads are buffered up to [`MAX_INSERT_SIZE`] and never
//!   beyond (a larger payload is skipped, not stored), and get payloads are streamed from the
//!   backend into the response. Both directions stream at once, so a client must read the
//!   response while it sends the request (the official clients do).
//! * Operations that reached the executor run to completion even if the client goes away
//!   (the storage service spawns each one); the parser stops reading once the response is
//!   dropped.
//! * A get payload that fails mid-stream aborts the whole response body (the part's `200`
//!   status is already on the wire, so truncating it silently would hand the client wrong
//!   bytes).
//!
//! # Keys
//!
//! Request key headers are percent-decoded (`%XX`, literal visible ASCII accepted, §8.2)
//! to UTF-8 and validated as an [`objectstore_types::ObjectKey`]. Response key headers use the
//! writer rule of §6.3 plus an escaped space (§8.5), which both client generations decode.
//!
//! # Limits (§8.3)
//!
//! | limit | outcome |
//! |---|---|
//! | more than [`MAX_OPERATIONS`] parts | each extra part: `413` part, not executed |
//! | insert payload over [`MAX_INSERT_SIZE`] | `413` part; payload skipped |
//! | request body over [`MAX_BODY_SIZE`] | `400` part for the current index; parsing stops |

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use objectstore_service::service::StorageService;
use objectstore_types::{Metadata, ObjectContext};

mod intake;
mod request;
mod response;
#[cfg(test)]
mod tests;

/// Most operations executed in one batch; further parts are answered with `413`.
pub(crate) const MAX_OPERATIONS: usize = 1000;
/// Largest insert payload accepted in a batch, in bytes (1 MiB).
pub(crate) const MAX_INSERT_SIZE: usize = 1024 * 1024;
/// Largest request body accepted, in bytes (1 GiB).
pub(crate) const MAX_BODY_SIZE: u64 = 1024 * 1024 * 1024;

/// The limits of docs/http-api.md §8.3 as one value, so tests can shrink them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// See [`MAX_OPERATIONS`].
    pub max_operations: usize,
    /// See [`MAX_INSERT_SIZE`].
    pub max_insert_size: usize,
    /// See [`MAX_BODY_SIZE`].
    pub max_body_size: u64,
}

impl Limits {
    /// The limits of the contract (docs/http-api.md §8.3).
    pub(crate) const SPEC: Self = Self {
        max_operations: MAX_OPERATIONS,
        max_insert_size: MAX_INSERT_SIZE,
        max_body_size: MAX_BODY_SIZE,
    };
}

/// The part header naming the operation kind.
pub(crate) const HEADER_KIND: &str = "x-sn-batch-operation-kind";
/// The part header carrying the percent-escaped key.
pub(crate) const HEADER_KEY: &str = "x-sn-batch-operation-key";
/// The response part header carrying the operation's index.
pub(crate) const HEADER_INDEX: &str = "x-sn-batch-operation-index";
/// The response part header carrying `<code> <reason>`.
pub(crate) const HEADER_STATUS: &str = "x-sn-batch-operation-status";

/// The kind of a batch operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OpKind {
    /// Read an object.
    Get,
    /// Read an object's metadata.
    Head,
    /// Store an object.
    Insert,
    /// Delete an object.
    Delete,
}

impl OpKind {
    /// The wire name (`get`, `head`, `insert`, `delete`).
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Head => "head",
            Self::Insert => "insert",
            Self::Delete => "delete",
        }
    }

    /// Parses a wire name, case-insensitively.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        [Self::Get, Self::Head, Self::Insert, Self::Delete]
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(name))
    }
}

/// Why a [`BatchGuard`] refused an operation: becomes an error part with this status and
/// `message` as the JSON `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpRejection {
    /// The part's status (403 permission, 429 rate limit, 400 expiration policy, ...).
    pub status: StatusCode,
    /// Text for the user, e.g. `auth error: operation not allowed`.
    pub message: String,
}

/// The per-operation admission check of docs/http-api.md §8.4 (rate limit, permission, usecase
/// expiration policy), called once for every well-formed operation before it executes.
pub(crate) trait BatchGuard: Send + Sync + 'static {
    /// Admits or rejects one operation. `metadata` is the parsed client metadata of an
    /// insert, `None` for the other kinds.
    fn check(&self, kind: OpKind, metadata: Option<&Metadata>) -> Result<(), OpRejection>;
}

/// A guard that admits everything (no auth, no limits).
#[derive(Debug, Clone, Copy, Default)]
#[cfg(test)]
pub(crate) struct AllowAll;

#[cfg(test)]
impl BatchGuard for AllowAll {
    fn check(&self, _kind: OpKind, _metadata: Option<&Metadata>) -> Result<(), OpRejection> {
        Ok(())
    }
}

/// Serves one batch request. See the module docs for the flow and its invariants.
///
/// Returns `400` plain text when `headers` carry no `multipart/form-data` content type with a
/// boundary; otherwise `200` with the streamed multipart response.
pub(crate) async fn handle(
    service: StorageService,
    context: ObjectContext,
    headers: &HeaderMap,
    body: Body,
    guard: Arc<dyn BatchGuard>,
) -> Response {
    handle_with_limits(service, context, headers, body, guard, Limits::SPEC).await
}

/// [`handle`] with other limits.
pub(crate) async fn handle_with_limits(
    service: StorageService,
    context: ObjectContext,
    headers: &HeaderMap,
    body: Body,
    guard: Arc<dyn BatchGuard>,
    limits: Limits,
) -> Response {
    let Some(request_boundary) = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
    else {
        return (
            StatusCode::BAD_REQUEST,
            "Invalid `boundary` for `multipart/form-data` request",
        )
            .into_response();
    };

    let (ops, errors) = request::parse(body, request_boundary, guard, limits);
    let results = service.batch(context, ops);
    let boundary = response::new_boundary();
    let content_type =
        HeaderValue::from_str(&format!("multipart/form-data; boundary=\"{boundary}\""));
    let Ok(content_type) = content_type else {
        // The boundary is generated from hex digits, so this cannot happen.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let stream = response::body(boundary, results, errors);
    (
        StatusCode::OK,
        [(CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response()
}
