//! Internal endpoints (docs/http-api.md §13): `/health`, `/ready`, `/keda` and `/metrics`. They
//! are exempt from the in-flight limit and need no authentication.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};

use crate::metrics::{
    KedaSnapshot, OBJECT_IN_FLIGHT, OBJECT_LIMIT, TASKS_LIMIT, TASKS_RUNNING, install_recorder,
};
use crate::state::AppState;

/// `GET /health`: 200 `OK` while the process serves requests.
pub(crate) async fn health() -> &'static str {
    "OK"
}

/// `GET /ready`: 200 `OK`, or 503 `Shutting down` while the down marker file
/// (`http.down_marker`, created by `objectstore down`) exists.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let marker = state.config.http.down_marker.clone();
    let down = tokio::fs::try_exists(&marker).await.unwrap_or(false);
    if down {
        (StatusCode::SERVICE_UNAVAILABLE, "Shutting down").into_response()
    } else {
        "OK".into_response()
    }
}

/// `GET /keda`: Prometheus text of the server's gauges and counters.
pub(crate) async fn keda(State(state): State<AppState>) -> Response {
    let limits = state.admission.rate_limiter();
    let snapshot = KedaSnapshot {
        bytes_total: limits.bytes_total(),
        requests_total: limits.requests_admitted(),
        requests_in_flight: state.metrics.in_flight() as u64,
        requests_limit: state.config.http.max_requests as u64,
        tasks_running: state.service.tasks_running() as u64,
        tasks_limit: state.service.tasks_limit() as u64,
        bandwidth_limit: limits.global_bps(),
        throughput_limit: limits.global_rps(),
    };
    let mut response = snapshot.render().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET /metrics`: the Prometheus text exposition (format 0.0.4) of every metric recorded
/// through the `metrics` facade. The gauges that mirror `/keda` are set just before.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let handle = install_recorder();
    metrics::gauge!(OBJECT_IN_FLIGHT).set(state.metrics.in_flight() as f64);
    metrics::gauge!(OBJECT_LIMIT).set(state.config.http.max_requests as f64);
    metrics::gauge!(TASKS_RUNNING).set(state.service.tasks_running() as f64);
    metrics::gauge!(TASKS_LIMIT).set(state.service.tasks_limit() as f64);
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
