//! The response side of a batch: turns operation results and parser errors into multipart
//! parts and frames them into the streamed response body (docs/http-api.md §8.5).
//!
//! Framing: each part is `--<boundary>\r\n`, lowercase `name: value\r\n` header lines, a blank
//! line, the body and `\r\n`; the body ends with `--<boundary>--` (no trailing CRLF). Every
//! part carries `content-disposition: form-data; name=part`, the operation index and
//! `<code> <reason>` status; success parts add the key and kind; error parts carry a JSON
//! body `{"detail", "causes"}` (§3.2) and nothing else.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, Stream, StreamExt};
use http::header::{CONTENT_DISPOSITION, HeaderName};
use http::{HeaderValue, StatusCode};
use objectstore_service::Error;
use objectstore_service::backend::GetResponse;
use objectstore_service::batch::BatchOutcome;
use objectstore_service::stream::{self as payload, PayloadStream};
use objectstore_types::{Metadata, ObjectKey};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::{HEADER_INDEX, HEADER_KEY, HEADER_KIND, HEADER_STATUS, OpKind};
use crate::error::service_status;

/// Bytes escaped in response key headers: the writer rule of docs/http-api.md §6.3 (C0 controls,
/// DEL, `%`, non-ASCII) plus space, so that a key with a leading or trailing space survives the
/// whitespace trimming of header parsers. Both client generations percent-decode this header, so
/// any escaping that decodes to the key is accepted (§8.5).
const KEY_ESCAPES: &AsciiSet = &CONTROLS.add(b'%').add(b' ');

/// A fresh response boundary: `os-boundary-` and 32 lowercase hex digits.
pub(super) fn new_boundary() -> String {
    format!("os-boundary-{}", uuid::Uuid::new_v4().simple())
}

/// Escapes a key for the `x-sn-batch-operation-key` response header (see [`KEY_ESCAPES`]).
pub(super) fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_ESCAPES).to_string()
}

/// One response part before framing.
pub(super) struct Part {
    index: usize,
    status: StatusCode,
    /// Headers besides content-disposition, index and status.
    headers: Vec<(HeaderName, HeaderValue)>,
    body: PayloadStream,
}

impl Part {
    /// An error part with a JSON body.
    pub(super) fn error(
        index: usize,
        status: StatusCode,
        detail: String,
        causes: Vec<String>,
    ) -> Self {
        let mut json = serde_json::Map::new();
        json.insert("detail".into(), detail.into());
        if !causes.is_empty() {
            json.insert("causes".into(), causes.into());
        }
        Self {
            index,
            status,
            headers: Vec::new(),
            body: payload::single(serde_json::Value::Object(json).to_string()),
        }
    }

    /// The part for an operation the executor ran.
    pub(super) fn from_result(
        index: usize,
        result: objectstore_service::Result<BatchOutcome>,
    ) -> Self {
        match result {
            Ok(outcome) => Self::from_outcome(index, outcome),
            Err(error) => Self::service_error(index, &error),
        }
    }

    fn service_error(index: usize, error: &Error) -> Self {
        let prefix = if error.is_client_error() {
            "client error"
        } else {
            "service error"
        };
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(error);
        while let Some(e) = source {
            causes.push(e.to_string());
            source = e.source();
        }
        if service_status(error).is_server_error() {
            tracing::error!(
                error = error as &dyn std::error::Error,
                index,
                "batch operation failed"
            );
        }
        Self::error(
            index,
            service_status(error),
            format!("{prefix}: {error}"),
            causes,
        )
    }

    fn from_outcome(index: usize, outcome: BatchOutcome) -> Self {
        match outcome {
            BatchOutcome::Get { key, response } => match response {
                GetResponse::NotFound => {
                    Self::success(index, StatusCode::NOT_FOUND, OpKind::Get, &key)
                }
                GetResponse::Found { metadata, body, .. } => {
                    let mut part = Self::success(index, StatusCode::OK, OpKind::Get, &key);
                    part.add_metadata(&metadata);
                    part.body = body;
                    part
                }
                GetResponse::RangeNotSatisfiable(_) => Self::service_error(
                    index,
                    &Error::Internal(
                        "batch get without a range returned `range not satisfiable`".into(),
                    ),
                ),
            },
            BatchOutcome::Head { key, metadata } => match metadata {
                None => Self::success(index, StatusCode::NOT_FOUND, OpKind::Head, &key),
                Some(metadata) => {
                    let mut part = Self::success(index, StatusCode::NO_CONTENT, OpKind::Head, &key);
                    part.add_metadata(&metadata);
                    part
                }
            },
            BatchOutcome::Insert { key } => {
                Self::success(index, StatusCode::CREATED, OpKind::Insert, &key)
            }
            BatchOutcome::Delete { key } => {
                Self::success(index, StatusCode::NO_CONTENT, OpKind::Delete, &key)
            }
        }
    }

    /// A part with key and kind headers and an empty body.
    fn success(index: usize, status: StatusCode, kind: OpKind, key: &ObjectKey) -> Self {
        let mut headers = Vec::with_capacity(12);
        if let Ok(value) = HeaderValue::from_str(&encode_key(key.as_str())) {
            headers.push((HeaderName::from_static(HEADER_KEY), value));
        }
        headers.push((
            HeaderName::from_static(HEADER_KIND),
            HeaderValue::from_static(kind.as_str()),
        ));
        Self {
            index,
            status,
            headers,
            body: payload::empty(),
        }
    }

    /// Adds the object's metadata headers, except `content-disposition`: the part's own
    /// `form-data` disposition takes its place (the filename stays in `x-sn-filename`).
    fn add_metadata(&mut self, metadata: &Metadata) {
        self.headers.extend(
            metadata
                .to_headers()
                .into_iter()
                .filter_map(|(name, value)| Some((name?, value)))
                .filter(|(name, _)| *name != CONTENT_DISPOSITION),
        );
    }

    /// The header block of the part, delimiter included.
    fn head(&self, boundary: &str) -> Bytes {
        let mut head = BytesMut::with_capacity(256);
        head.extend_from_slice(b"--");
        head.extend_from_slice(boundary.as_bytes());
        head.extend_from_slice(b"\r\ncontent-disposition: form-data; name=part\r\n");
        let status = format!(
            "{}: {}\r\n{}: {} {}\r\n",
            HEADER_INDEX,
            self.index,
            HEADER_STATUS,
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or("Unknown"),
        );
        head.extend_from_slice(status.as_bytes());
        for (name, value) in &self.headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        head.freeze()
    }

    /// The framed part: header block, body, CRLF.
    fn into_stream(self, boundary: &str) -> impl Stream<Item = io::Result<Bytes>> + Send + use<> {
        let head = self.head(boundary);
        stream::once(async move { Ok(head) })
            .chain(self.body)
            .chain(stream::once(async { Ok(Bytes::from_static(b"\r\n")) }))
    }
}

/// The response body: parts of `results` and `errors` as they come, framed, then the closing
/// delimiter. Ends early with an error if a get payload fails mid-stream (see module docs of
/// [`super`]).
pub(super) fn body(
    boundary: String,
    results: impl Stream<Item = (usize, objectstore_service::Result<BatchOutcome>)> + Send + 'static,
    errors: impl Stream<Item = Part> + Send + 'static,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let parts = stream::select(
        results.map(|(index, result)| Part::from_result(index, result)),
        errors,
    );
    let closing = Bytes::from(format!("--{boundary}--"));
    parts
        .flat_map(move |part| part.into_stream(&boundary))
        .chain(stream::once(async move { Ok(closing) }))
        .scan(false, |failed, chunk| {
            let item = if *failed {
                None
            } else {
                *failed = chunk.is_err();
                Some(chunk)
            };
            futures::future::ready(item)
        })
}
