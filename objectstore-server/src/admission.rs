//! Admission control: what decides whether a request is served at all (spec section 10).
//!
//! * [`limit_in_flight`] (middleware on object routes only): a request arriving while
//!   `http.max_requests` object requests are already in flight is answered 503 with an empty
//!   body. A request stays "in flight" until its response body has been sent or dropped, so
//!   streaming downloads count too.
//! * [`Admission::admit`] (called by the path extractors once usecase and scopes are known):
//!   the slot for killswitches (403) and throughput/bandwidth limits (429). Today it only
//!   counts the request.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body::{Frame, SizeHint};
use objectstore_types::ObjectContext;

use crate::app::AppState;
use crate::error::ApiError;
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

/// The per-request admission checks that need the object's context.
#[derive(Debug)]
pub struct Admission;

impl Admission {
    /// Admits a request for `context`: killswitches (403) and rate limits (429) plug in
    /// here. Counts the admitted request.
    pub fn admit(
        state: &AppState,
        _context: &ObjectContext,
        _headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        state.metrics.add_request();
        Ok(())
    }
}
