//! [`S3Front`]: the S3 listener's request handling, a `tower::Service` the server runs on its
//! own accept loop (same header timeout and graceful shutdown as the objectstore API).
//!
//! For each request, in order:
//!
//! 1. A request id (`x-amz-request-id` on the response) and a `s3` tracing span
//!    (`request_id`, `method`, `path`; never the query, which may hold a signature).
//! 2. [`Hooks::request`]: the server's in-flight limit (503 `ServiceUnavailable`) and
//!    metrics scope.
//! 3. A plain `GET` or `HEAD` of an object (no body) is served here, without s3s
//!    ([`crate::fast`]), and goes to step 6; everything else goes on.
//! 4. The request body is counted and fails once silent for `body_timeout` ([`IdleBody`],
//!    400 `RequestTimeout`). Before s3s: browser `POST` uploads (`multipart/form-data`) are
//!    refused with `NotImplemented` before s3s would buffer them; without credentials
//!    signatures are removed and aws-chunked bodies decoded ([`crate::normalize`]); with
//!    credentials a SigV2 header's date is checked ([`crate::auth::check_sigv2_date`]).
//! 5. s3s: routing, signature checks, XML, then the operation ([`crate::handler`]). The
//!    operation's name is recorded in an [`OperationSlot`] for the metrics.
//! 6. Response: `server` and `x-amz-request-id`; metrics once the head is ready
//!    ([`RequestScope::responded`]); byte counts as the body streams; the scope (and the
//!    in-flight count) ends when the body is finished or dropped. A 5xx is logged at warn.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use http_body::{Frame, SizeHint};
use s3s::service::S3Service;
use s3s::{S3Error, S3ErrorCode, StdError};
use tracing::Instrument as _;

use crate::body::{IdleBody, Outgoing};
use crate::fast::PlainRead;
use crate::handler::Handler;
use crate::hooks::{Hooks, OperationSlot, RequestScope};

/// The S3 listener's service (module docs). Cheap to clone.
#[derive(Clone)]
pub struct S3Front {
    inner: Arc<Inner>,
}

struct Inner {
    s3s: S3Service,
    handler: Handler,
    hooks: Arc<dyn Hooks>,
    open: bool,
    body_timeout: Duration,
    max_xml_body: usize,
    path_style_only: bool,
}

impl std::fmt::Debug for S3Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Front")
            .field("open", &self.inner.open)
            .finish_non_exhaustive()
    }
}

/// The `server` header value.
const SERVER: &str = concat!("objectstore/", env!("CARGO_PKG_VERSION"));

impl S3Front {
    pub(crate) fn from_parts(
        s3s: S3Service,
        handler: Handler,
        hooks: Arc<dyn Hooks>,
        open: bool,
        config: &crate::FrontConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                s3s,
                handler,
                hooks,
                open,
                body_timeout: config.body_timeout,
                max_xml_body: config.max_xml_body,
                path_style_only: config.virtual_host_domain.is_none(),
            }),
        }
    }

    /// Whether requests are served without signature checks (zero-config).
    pub fn is_open(&self) -> bool {
        self.inner.open
    }

    /// Handles one request (module docs).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<FrontBody>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<StdError>,
    {
        let started = Instant::now();
        // From the thread's generator: `Uuid::new_v4` would ask the kernel on every request.
        let mut id = [0u8; uuid::fmt::Simple::LENGTH];
        let id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .simple()
            .encode_lower(&mut id);
        let span = tracing::info_span!(
            "s3",
            request_id = %id,
            method = %req.method(),
            path = %req.uri().path(),
        );
        let request_id = HeaderValue::from_str(id).ok();
        self.respond(req, started, request_id)
            .instrument(span)
            .await
    }

    async fn respond<B>(
        &self,
        req: Request<B>,
        started: Instant,
        request_id: Option<HeaderValue>,
    ) -> Response<FrontBody>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<StdError>,
    {
        let done = Done {
            started,
            request_id,
        };
        let scope = match self.inner.hooks.request(req.method()) {
            Ok(scope) => scope,
            Err(refusal) => {
                let response = error_response(refusal.into());
                return done.finish(response.map(Outgoing::S3s), None, "unknown", None);
            }
        };
        let (mut parts, body) = req.into_parts();
        let plain = PlainRead::of(
            &parts,
            &self.inner.handler.authority,
            self.inner.path_style_only,
            SystemTime::now(),
        );
        if let Some(plain) = plain {
            let response = plain
                .serve(&self.inner.handler)
                .await
                .unwrap_or_else(|e| error_response(e).map(Outgoing::S3s));
            return done.finish(response, Some(scope), plain.operation(), None);
        }
        let read = Arc::new(AtomicU64::new(0));
        let slot = OperationSlot::default();
        parts.extensions.insert(slot.clone());
        let body = Counted {
            inner: IdleBody::new(body, self.inner.body_timeout),
            read: read.clone(),
        };
        let mut req = Request::from_parts(parts, s3s::Body::http_body_unsync(body));
        let response = match self.before_s3s(&mut req).await {
            Err(e) => error_response(e),
            Ok(()) => match self.inner.s3s.call(req).await {
                Ok(response) => response,
                Err(e) => {
                    tracing::error!(error = ?e, "the S3 request failed outside any operation");
                    error_response(S3Error::with_message(
                        S3ErrorCode::InternalError,
                        "internal error",
                    ))
                }
            },
        };
        let response = response.map(Outgoing::S3s);
        done.finish(response, Some(scope), slot.get(), Some(read))
    }

    /// Step 4 of the module docs.
    async fn before_s3s(&self, req: &mut Request<s3s::Body>) -> Result<(), S3Error> {
        let form_post = req.method() == http::Method::POST
            && req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("multipart/form-data")
                });
        if form_post {
            return Err(crate::errors::not_implemented(
                "browser POST uploads (multipart/form-data) are not supported",
            ));
        }
        if self.inner.open {
            crate::normalize::strip_signature(req)?;
        } else {
            crate::auth::check_sigv2_date(req.headers(), SystemTime::now())?;
        }
        if self.is_xml_request(req) {
            self.buffer_xml(req).await?;
        }
        Ok(())
    }

    /// Requests whose body is an XML document s3s reads whole: every `POST`
    /// (`DeleteObjects`, `CompleteMultipartUpload`, …) and, in path style, bucket-level
    /// `PUT`s (`CreateBucket`).
    fn is_xml_request(&self, req: &Request<s3s::Body>) -> bool {
        match *req.method() {
            http::Method::POST => true,
            http::Method::PUT => {
                self.inner.path_style_only && !req.uri().path().trim_matches('/').contains('/')
            }
            _ => false,
        }
    }

    /// Reads an XML body here, bounded by `max_xml_body`: s3s reports an oversized streamed
    /// body as an internal error, and an idle one too; here they are
    /// `MaxMessageLengthExceeded` and `RequestTimeout`.
    async fn buffer_xml(&self, req: &mut Request<s3s::Body>) -> Result<(), S3Error> {
        let limit = self.inner.max_xml_body;
        let too_large = || {
            S3Error::with_message(
                S3ErrorCode::MaxMessageLengthExceeded,
                format!("the request body exceeds {limit} bytes"),
            )
        };
        let announced = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = std::mem::take(req.body_mut());
        let mut buffer = bytes::BytesMut::new();
        while let Some(chunk) = futures::StreamExt::next(&mut body).await {
            let chunk =
                chunk.map_err(|e| S3Error::from(crate::errors::BodyError::classify(e.as_ref())))?;
            if buffer.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buffer.extend_from_slice(&chunk);
        }
        *req.body_mut() = s3s::Body::from(buffer.freeze());
        Ok(())
    }
}

fn error_response(error: S3Error) -> Response<s3s::Body> {
    error.to_http_response().unwrap_or_else(|_| {
        let mut response = Response::new(s3s::Body::empty());
        *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}

/// The request's start and id, for step 6 of the module docs.
struct Done {
    started: Instant,
    request_id: Option<HeaderValue>,
}

impl Done {
    /// Step 6 of the module docs: `Server` and `x-amz-request-id`, the log line, the
    /// metrics of `operation`, and the body wrapped to count its bytes (`read`: the request
    /// body's bytes as s3s read them; `None` when nothing read one).
    fn finish(
        self,
        response: Response<Outgoing>,
        scope: Option<Box<dyn RequestScope>>,
        operation: &str,
        read: Option<Arc<AtomicU64>>,
    ) -> Response<FrontBody> {
        let (mut parts, body) = response.into_parts();
        parts
            .headers
            .insert(http::header::SERVER, HeaderValue::from_static(SERVER));
        if let Some(id) = self.request_id {
            parts.headers.insert("x-amz-request-id", id);
        }
        let status = parts.status;
        let elapsed = self.started.elapsed();
        if status.is_server_error() {
            tracing::warn!(
                status = status.as_u16(),
                ?elapsed,
                operation,
                "S3 request failed"
            );
        } else {
            tracing::debug!(
                status = status.as_u16(),
                ?elapsed,
                operation,
                "S3 request served"
            );
        }
        let mut scope = scope;
        if let Some(scope) = &mut scope {
            scope.responded(operation, status, elapsed);
        }
        let repeated_declaration =
            status == http::StatusCode::OK && operation == "CompleteMultipartUpload";
        Response::from_parts(
            parts,
            FrontBody {
                inner: body,
                scope,
                read,
                repeated_declaration,
                sent_data: false,
            },
        )
    }
}

/// A request body that counts its bytes.
struct Counted<B> {
    inner: IdleBody<B>,
    read: Arc<AtomicU64>,
}

impl<B> http_body::Body for Counted<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<StdError>,
{
    type Data = Bytes;
    type Error = StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StdError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.read.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body: counts bytes and keeps the request's metrics scope until it is
/// finished or dropped.
///
/// It also repairs one s3s 0.14.1 defect: a `CompleteMultipartUpload` answered with
/// keep-alive whitespace starts its body with the XML declaration, and an error at the end
/// is serialized *with another declaration* (`<?xml …?>   <?xml …?><Error>…`), which no XML
/// parser accepts (boto3 then reports an unparsable 500 instead of `InvalidPart`). The
/// second declaration is dropped.
pub struct FrontBody {
    inner: Outgoing,
    scope: Option<Box<dyn RequestScope>>,
    read: Option<Arc<AtomicU64>>,
    repeated_declaration: bool,
    sent_data: bool,
}

/// `chunk` without a leading XML declaration.
fn strip_declaration(chunk: Bytes) -> Bytes {
    if chunk.starts_with(b"<?xml")
        && let Some(end) = chunk.windows(2).position(|w| w == b"?>")
    {
        return chunk.slice(end + 2..);
    }
    chunk
}

impl http_body::Body for FrontBody {
    type Data = Bytes;
    type Error = StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StdError>>> {
        let this = &mut *self;
        let mut polled = Pin::new(&mut this.inner).poll_frame(cx);
        if this.repeated_declaration
            && let Poll::Ready(Some(Ok(frame))) = &mut polled
            && let Some(data) = frame.data_mut()
        {
            if this.sent_data {
                *data = strip_declaration(std::mem::take(data));
            }
            this.sent_data = true;
        }
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
            && let Some(scope) = &mut this.scope
        {
            scope.response_bytes(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for FrontBody {
    fn drop(&mut self) {
        if let (Some(scope), Some(read)) = (&mut self.scope, &self.read) {
            scope.request_bytes(read.load(Ordering::Relaxed));
        }
    }
}

impl<B> tower::Service<Request<B>> for S3Front
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<StdError>,
{
    type Response = Response<FrontBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let front = self.clone();
        Box::pin(async move { Ok(front.handle(req).await) })
    }
}
