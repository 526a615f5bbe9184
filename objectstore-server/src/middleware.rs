//! HTTP middleware: the in-flight limit (spec 10.1) and connection hygiene.
//!
//! * [`limit_in_flight`] (middleware on object routes only): a request arriving while
//!   `http.max_requests` object requests are already in flight is answered 503 with an empty
//!   body. A request stays "in flight" until its response body has been sent or dropped, so
//!   streaming downloads count too.
//! * [`close_if_body_unread`] (middleware on every route): errors answered before the
//!   request body was read close the connection explicitly.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::CONNECTION;
use http::{HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};

use crate::app::AppState;
use crate::metrics::Metrics;

/// Middleware: refuses object requests beyond `http.max_requests` with an empty 503.
pub async fn limit_in_flight(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let metrics = state.metrics.clone();
    let before = metrics.enter();
    let guard = InFlight(metrics);
    if before >= state.config.http.max_requests {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let response = next.run(request).await;
    response.map(|inner| {
        Body::new(GuardedBody {
            inner,
            _guard: guard,
        })
    })
}

/// Leaves the in-flight gauge when dropped.
#[derive(Debug)]
struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct GuardedBody {
    inner: Body,
    _guard: InFlight,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware (outermost, every route): when an error is answered before the request body
/// was read to its end, the response carries `connection: close`.
///
/// Otherwise the server would have to drain an arbitrary amount of unread body to reuse the
/// connection; it closes it instead, and without the header a client that reuses the
/// connection (urllib3 does, and it never retries a request it already sent) would see the
/// next request fail with "connection closed". Success responses always consume the body
/// (or stream while consuming it, like batch), so they keep the connection.
pub async fn close_if_body_unread(request: Request, next: Next) -> Response {
    let has_body = !http_body::Body::is_end_stream(request.body());
    let finished = Arc::new(AtomicBool::new(!has_body));
    let flag = finished.clone();
    let request = request.map(|inner| {
        Body::new(TrackedBody {
            inner,
            finished: flag,
        })
    });
    let mut response = next.run(request).await;
    let unread = !finished.load(Ordering::Acquire);
    if unread && (response.status().is_client_error() || response.status().is_server_error()) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it has been read to its end.
struct TrackedBody {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Release);
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
