//! Test support: a service over the in-memory backend, a request body builder and a response
//! parser that checks the framing rules of docs/http-api.md §8.5 on every response.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures::stream;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use objectstore_service::backend::memory::MemoryBackend;
use objectstore_service::clock::ManualClock;
use objectstore_service::service::{ServiceConfig, StorageService};
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::batch::{AllowAll, BatchGuard, Limits, OpKind, OpRejection, handle, handle_with_limits};

/// The request boundary used by [`multipart`].
pub const BOUNDARY: &str = "XyZ";

/// A storage service over a fresh in-memory backend, and a handle to inspect the backend.
pub fn service() -> (StorageService, MemoryBackend) {
    let clock = ManualClock::new();
    let backend = MemoryBackend::new("memory", clock.clone());
    let service = StorageService::new(Arc::new(backend.clone()), clock, ServiceConfig::default());
    (service, backend)
}

/// The context every test batch runs in.
pub fn context() -> ObjectContext {
    ObjectContext {
        usecase: Usecase::new("attachments").unwrap(),
        scopes: Scopes::parse("org=17;project=42").unwrap(),
    }
}

/// The id of `key` in [`context`].
pub fn id(key: &str) -> ObjectId {
    ObjectId::new(context(), ObjectKey::new(key).unwrap())
}

/// One request part: raw header lines and a body.
#[derive(Debug, Clone)]
pub struct Op {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Op {
    /// A part of `kind` with the key header set verbatim (already escaped), if any.
    pub fn raw(kind: &str, key: Option<&str>) -> Self {
        let mut headers = vec![(
            "x-sn-batch-operation-kind".to_owned(),
            kind.as_bytes().to_vec(),
        )];
        if let Some(key) = key {
            headers.push((
                "x-sn-batch-operation-key".to_owned(),
                key.as_bytes().to_vec(),
            ));
        }
        Self {
            headers,
            body: Vec::new(),
        }
    }

    /// A part for a logical key, escaped like the Rust 0.3.0 client (docs/http-api.md §8.2).
    pub fn new(kind: &str, key: &str) -> Self {
        Self::raw(kind, Some(&escape_v3(key)))
    }

    pub fn get(key: &str) -> Self {
        Self::new("get", key)
    }

    pub fn head(key: &str) -> Self {
        Self::new("head", key)
    }

    pub fn delete(key: &str) -> Self {
        Self::new("delete", key)
    }

    pub fn insert(key: &str, payload: impl Into<Vec<u8>>) -> Self {
        Self::new("insert", key).body(payload)
    }

    /// An insert without a key (server-generated).
    pub fn insert_unkeyed(payload: impl Into<Vec<u8>>) -> Self {
        Self::raw("insert", None).body(payload)
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// The key escaping of the Rust 0.3.0 client: the free-form writer rule.
pub fn escape_v3(key: &str) -> String {
    objectstore_types::metadata::encode_free_form(key)
}

/// The key escaping of the 0.2 clients: every non-alphanumeric byte.
pub fn escape_v2(key: &str) -> String {
    utf8_percent_encode(key, NON_ALPHANUMERIC).to_string()
}

/// A `multipart/form-data` body with boundary [`BOUNDARY`].
pub fn multipart(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        out.extend_from_slice(b"content-disposition: form-data; name=\"part\"\r\n");
        for (name, value) in &op.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&op.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// Request headers declaring a multipart body with [`BOUNDARY`].
pub fn multipart_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
    );
    h
}

/// `bytes` as a request body delivered in chunks of `chunk` bytes (exercises incremental
/// parsing across chunk boundaries).
pub fn chunked(bytes: &[u8], chunk: usize) -> Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(stream::iter(chunks))
}

/// A guard built from a closure.
pub struct FnGuard<F>(pub F);

impl<F> BatchGuard for FnGuard<F>
where
    F: Fn(OpKind, Option<&Metadata>) -> Result<(), OpRejection> + Send + Sync + 'static,
{
    fn check(&self, kind: OpKind, metadata: Option<&Metadata>) -> Result<(), OpRejection> {
        (self.0)(kind, metadata)
    }
}

/// One parsed response part.
#[derive(Debug)]
pub struct RespPart {
    pub index: usize,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RespPart {
    /// The decoded key header.
    pub fn key(&self) -> Option<String> {
        let raw = self.headers.get("x-sn-batch-operation-key")?;
        Some(
            percent_encoding::percent_decode(raw.as_bytes())
                .decode_utf8()
                .unwrap()
                .into_owned(),
        )
    }

    pub fn kind(&self) -> Option<&str> {
        self.headers
            .get("x-sn-batch-operation-kind")
            .map(|v| v.to_str().unwrap())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The JSON `detail` of an error part.
    pub fn detail(&self) -> String {
        let json: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("error body of part {} is not JSON: {e}", self.index));
        json["detail"].as_str().unwrap().to_owned()
    }
}

/// The parts of a batch response, by index.
#[derive(Debug)]
pub struct Parts {
    pub by_index: BTreeMap<usize, RespPart>,
    /// Indexes in the order the parts arrived.
    pub order: Vec<usize>,
    pub raw: Bytes,
}

impl Parts {
    pub fn get(&self, index: usize) -> &RespPart {
        self.by_index
            .get(&index)
            .unwrap_or_else(|| panic!("no part for index {index}"))
    }

    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Asserts the parts are exactly indexes `0..n`.
    pub fn assert_indexes(&self, n: usize) {
        let want: Vec<usize> = (0..n).collect();
        let got: Vec<usize> = self.by_index.keys().copied().collect();
        assert_eq!(got, want);
    }

    pub fn statuses(&self) -> Vec<u16> {
        self.by_index.values().map(|p| p.status).collect()
    }
}

/// Runs `ops` through [`handle`] with [`AllowAll`].
pub async fn run(service: &StorageService, ops: &[Op]) -> Parts {
    run_with(service, ops, Arc::new(AllowAll)).await
}

/// Runs `ops` through [`handle`] with `guard`, the body in 7-byte chunks.
pub async fn run_with(service: &StorageService, ops: &[Op], guard: Arc<dyn BatchGuard>) -> Parts {
    let response = handle(
        service.clone(),
        context(),
        &multipart_headers(),
        chunked(&multipart(ops), 7),
        guard,
    )
    .await;
    parse_response(response).await
}

/// Runs `ops` with other limits (and [`AllowAll`]).
pub async fn run_limited(service: &StorageService, ops: &[Op], limits: Limits) -> Parts {
    let response = handle_with_limits(
        service.clone(),
        context(),
        &multipart_headers(),
        chunked(&multipart(ops), 7),
        Arc::new(AllowAll),
        limits,
    )
    .await;
    parse_response(response).await
}

/// Runs a raw request body through [`handle`].
pub async fn run_raw(service: &StorageService, body: Vec<u8>) -> Parts {
    let response = handle(
        service.clone(),
        context(),
        &multipart_headers(),
        Body::from(body),
        Arc::new(AllowAll),
    )
    .await;
    parse_response(response).await
}

/// Parses a batch response, asserting the framing of docs/http-api.md §8.5: status 200, quoted
/// `os-boundary-<32 hex>` boundary, lowercase part headers, index and status on every part,
/// `content-disposition: form-data; name=part`, no index twice, closing delimiter last
/// without a trailing CRLF.
pub async fn parse_response(response: axum::response::Response) -> Parts {
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=\"")
        .and_then(|b| b.strip_suffix('"'))
        .unwrap_or_else(|| panic!("unexpected content type {content_type:?}"))
        .to_owned();
    let hex = boundary.strip_prefix("os-boundary-").unwrap();
    assert_eq!(hex.len(), 32);
    assert!(hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    assert_eq!(multer::parse_boundary(&content_type).unwrap(), boundary);

    let raw = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        raw.ends_with(format!("\r\n--{boundary}--").as_bytes())
            || raw == format!("--{boundary}--").as_bytes(),
        "response must end with the closing delimiter"
    );
    check_lowercase_headers(&raw, &boundary);

    let mut multipart = multer::Multipart::new(
        stream::once(async { Ok::<_, std::io::Error>(raw.clone()) }),
        boundary,
    );
    let mut parts = Parts {
        by_index: BTreeMap::new(),
        order: Vec::new(),
        raw: raw.clone(),
    };
    while let Some(field) = multipart.next_field().await.unwrap() {
        let headers = field.headers().clone();
        let body = field.bytes().await.unwrap();
        assert_eq!(headers["content-disposition"], "form-data; name=part");
        let index: usize = headers["x-sn-batch-operation-index"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let status_line = headers["x-sn-batch-operation-status"].to_str().unwrap();
        let (code, reason) = status_line.split_once(' ').unwrap();
        let status: u16 = code.parse().unwrap();
        assert_eq!(
            Some(reason),
            StatusCode::from_u16(status).unwrap().canonical_reason()
        );
        let part = RespPart {
            index,
            status,
            headers,
            body,
        };
        if status >= 400 && status != 404 {
            // Error parts: JSON body, no key or kind.
            let _ = part.detail();
            assert!(part.kind().is_none(), "error part {index} carries a kind");
        }
        parts.order.push(index);
        assert!(
            parts.by_index.insert(index, part).is_none(),
            "index {index} appears twice"
        );
    }
    parts
}

/// Every header name in the raw response is lowercase.
fn check_lowercase_headers(raw: &[u8], boundary: &str) {
    let text = String::from_utf8_lossy(raw);
    let delimiter = format!("--{boundary}\r\n");
    for block in text.split(&delimiter).skip(1) {
        let head = block.split("\r\n\r\n").next().unwrap();
        for line in head.lines() {
            let name = line.split(':').next().unwrap();
            assert_eq!(name, name.to_ascii_lowercase(), "header {line:?}");
        }
    }
}
