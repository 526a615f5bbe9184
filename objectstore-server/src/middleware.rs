//! HTTP middleware: everything that happens to every request around its handler, in one
//! layer ([`envelope`]), so a request pays for one boxed future and at most one body wrapper
//! each way (profiles of the earlier five-layer stack: `docs/benchmarks/`).
//!
//! For each request, in order:
//!
//! 1. **Request id and span**: the client's `x-request-id` when acceptable, else a generated
//!    UUID ([`crate::logging::request_id`]); the request runs in a `request` span
//!    (`request_id`, `method`, `path`, never the query) and, when Sentry is enabled, with its
//!    own hub ([`crate::error_reporting::request_hub`]).
//! 2. **Metrics**: the all-routes in-flight gauge goes up; request body bytes are counted as
//!    they stream. Metric handles are resolved once per route template and outcome
//!    ([`crate::metrics::RouteMetrics`]), not looked up per request.
//! 3. **Object routes only** (route templates under `/v1/`; the internal routes `/health`,
//!    `/ready`, `/keda` and `/metrics` skip this): a request arriving while
//!    `http.max_requests` object requests are in flight is answered 503 with an empty body;
//!    otherwise its body fails once silent for `http.body_timeout` or slower than
//!    `http.min_body_rate` ([`crate::idle`]). A
//!    request stays "in flight" until its response body has been sent or dropped, so
//!    streaming downloads count too.
//! 4. The handler.
//! 5. **Response**: `server` and `x-request-id` headers; `connection: close` when an error is
//!    answered before the request body was read to its end (otherwise the server would have
//!    to drain an arbitrary amount of unread body to reuse the connection, and a client that
//!    reuses it, urllib3 does and never retries a request it already sent, would see its
//!    next request fail); the request is counted exactly once by method, route and status,
//!    with its latency until the response head is ready; response bytes are counted as they
//!    stream; both in-flight gauges go down when the response body is finished or dropped.
//! 6. **Log line**: a 5xx whose error was not already logged ([`ErrorLogged`]) at warn,
//!    anything else at debug, so every failure appears exactly once at warn or error.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONNECTION, SERVER};
use http::{HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};
use metrics::{Counter, Gauge};
use tracing::Instrument as _;

use crate::logging::{ErrorLogged, REQUEST_ID_HEADER, request_id};
use crate::metrics::{Metrics, RouteMetrics};
use crate::state::AppState;

/// The `server` header value.
fn server_header() -> HeaderValue {
    HeaderValue::from_static(concat!("objectstore/", env!("CARGO_PKG_VERSION")))
}

/// Middleware (every route the axum router serves): the request life cycle of the module
/// docs, the route taken from the router's match.
pub(crate) async fn envelope(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = state.metrics.route(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    around(state, route, started, request, |request| next.run(request))
        .await
        .map(Body::new)
}

/// The request life cycle of the module docs around `handler`, for a request on `route`
/// that arrived at `started` (the object routes the hand-written router serves call this
/// directly, [`envelope`] for the others).
pub(crate) async fn around<F, Fut>(
    state: AppState,
    route: Arc<RouteMetrics>,
    started: Instant,
    request: Request,
    handler: F,
) -> http::Response<ResponseBody>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let id = request_id(request.headers());
    let id_text = id.to_str().unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %id_text,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let hub = crate::error_reporting::request_hub(id_text, request.method().as_str());
    let handled = async move {
        let mut response = handle(&state, &route, started, request, handler).await;
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        if response.status().is_server_error()
            && response.extensions().get::<ErrorLogged>().is_none()
        {
            tracing::warn!(status, ?elapsed, "request failed");
        } else {
            tracing::debug!(status, ?elapsed, "request served");
        }
        response
    }
    .instrument(span);
    match hub {
        Some(hub) => {
            use sentry::SentryFutureExt as _;
            handled.bind_hub(hub).await
        }
        None => handled.await,
    }
}

/// Steps 2 to 5 of the module docs.
async fn handle<Fut: Future<Output = Response>>(
    state: &AppState,
    route: &RouteMetrics,
    started: Instant,
    request: Request,
    handler: impl FnOnce(Request) -> Fut,
) -> http::Response<ResponseBody> {
    let method = request.method().clone();
    // A bodyless request (most GETs) needs no wrapper: nothing to count, nothing unread.
    let has_body = !http_body::Body::is_end_stream(request.body());
    let gauges = InFlight::enter(state, route.is_object());
    if route.is_object() && gauges.object_before >= state.config.http.max_requests {
        crate::metrics::record_rejection(crate::metrics::RejectionReason::InFlight);
        return finish(
            StatusCode::SERVICE_UNAVAILABLE.into_response(),
            route,
            &method,
            started,
            gauges,
            !has_body,
        );
    }

    let finished = has_body.then(|| Arc::new(AtomicBool::new(false)));
    let request = match &finished {
        None => request,
        Some(flag) => {
            let limits = crate::idle::BodyLimits::from_config(&state.config.http);
            let object = route.is_object();
            let bytes = route.request_bytes.clone();
            let flag = flag.clone();
            request.map(|inner| {
                let body = Body::new(RequestBody {
                    inner,
                    bytes,
                    companion: flag,
                });
                // Outermost, so its timed-out error reaches the handler with its kind (408).
                if object {
                    crate::idle::limit(body, limits)
                } else {
                    body
                }
            })
        }
    };
    let response = handler(request).await;
    let read_to_end = finished.is_none_or(|flag| flag.load(Ordering::Acquire));
    finish(response, route, &method, started, gauges, read_to_end)
}

/// Step 5 of the module docs.
fn finish(
    mut response: Response,
    route: &RouteMetrics,
    method: &http::Method,
    started: Instant,
    gauges: InFlight,
    read_to_end: bool,
) -> http::Response<ResponseBody> {
    let status = response.status();
    let headers = response.headers_mut();
    headers.insert(SERVER, server_header());
    if !read_to_end && (status.is_client_error() || status.is_server_error()) {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    let outcome = route.outcome(method, status);
    outcome.requests.increment(1);
    outcome.duration.record(started.elapsed().as_secs_f64());
    let bytes = route.response_bytes.clone();
    response.map(|inner| ResponseBody {
        inner,
        bytes,
        companion: gauges,
    })
}

/// The two in-flight gauges of one request: the all-routes metric and, for object routes,
/// the count behind `http.max_requests` and `/keda`. Both go down when this is dropped.
pub(crate) struct InFlight {
    http: Gauge,
    object: Option<Arc<Metrics>>,
    /// Object requests in flight before this one.
    object_before: usize,
}

impl InFlight {
    fn enter(state: &AppState, object: bool) -> Self {
        let http = state.metrics.http_in_flight().clone();
        http.increment(1.0);
        let (object, object_before) = if object {
            (Some(state.metrics.clone()), state.metrics.enter())
        } else {
            (None, 0)
        };
        Self {
            http,
            object,
            object_before,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.http.decrement(1.0);
        if let Some(metrics) = &self.object {
            metrics.leave();
        }
    }
}

/// What a [`CountedBody`] carries along with its body: told when the body has reached its
/// end, dropped with it.
pub(crate) trait Companion: Send + Unpin + 'static {
    fn at_end(&self) {}
}

/// A request body's companion: the flag, read after the handler, saying whether the body
/// was read to its end.
impl Companion for Arc<AtomicBool> {
    fn at_end(&self) {
        self.store(true, Ordering::Release);
    }
}

/// A response body's companion: the request's in-flight gauges, down when it is dropped.
impl Companion for InFlight {}

/// A body that counts its data bytes in `bytes` and tells its companion when it has been
/// read to its end.
pub(crate) struct CountedBody<C> {
    inner: Body,
    bytes: Counter,
    companion: C,
}

/// A request body that counts its data bytes and records when it has been read to its end.
type RequestBody = CountedBody<Arc<AtomicBool>>;

/// A response body that counts its data bytes and keeps its request's in-flight gauges up
/// until it is finished or dropped.
pub(crate) type ResponseBody = CountedBody<InFlight>;

impl<C: Companion> http_body::Body for CountedBody<C> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = http_body::Body::poll_frame(Pin::new(&mut this.inner), cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes.increment(data.len() as u64);
                }
            }
            Poll::Ready(None) => this.companion.at_end(),
            _ => {}
        }
        if this.inner.is_end_stream() {
            this.companion.at_end();
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
