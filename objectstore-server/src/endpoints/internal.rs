//! Internal endpoints (spec section 11). They are exempt from the in-flight limit and need
//! no authentication.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};

use crate::app::AppState;
use crate::metrics::ServiceGauges;

/// `GET /health`: 200 `OK` while the process serves requests.
pub async fn health() -> &'static str {
    "OK"
}

/// `GET /ready`: 200 `OK`, or 503 `Shutting down` while the down marker file
/// (`http.down_marker`, created by `objectstore down`) exists.
pub async fn ready(State(state): State<AppState>) -> Response {
    let marker = state.config.http.down_marker.clone();
    let down = tokio::fs::try_exists(&marker).await.unwrap_or(false);
    if down {
        (StatusCode::SERVICE_UNAVAILABLE, "Shutting down").into_response()
    } else {
        "OK".into_response()
    }
}

/// `GET /keda`: Prometheus text of the server's gauges and counters.
pub async fn keda(State(state): State<AppState>) -> Response {
    let config = &state.config;
    let gauges = ServiceGauges {
        tasks_running: state.service.tasks_running() as u64,
        tasks_limit: state.service.tasks_limit() as u64,
    };
    let text = state.metrics.render(
        config.http.max_requests,
        gauges,
        config.rate_limits.bandwidth.global_bps,
        config.rate_limits.throughput.global_rps,
    );
    let mut response = text.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
