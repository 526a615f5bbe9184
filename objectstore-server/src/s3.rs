//! The S3 listener in this process (config `s3.*`, crate `objectstore-s3`): the front is
//! built over the same [`AppState`] (storage service, admission control, metrics) as the
//! objectstore API, and served by [`crate::server`] next to it, with the same shutdown.
//!
//! [`ServerHooks`] is the front's view of the server:
//!
//! * **In-flight limit**: S3 requests count toward `http.max_requests` together with
//!   object requests of the objectstore API (and `/keda`'s in-flight value); beyond it:
//!   503 `ServiceUnavailable`.
//! * **Admission**: the same killswitches (403 `AccessDenied`), rate limits (`SlowDown`)
//!   and usecase expiration rules (400 `InvalidArgument`); rejections are counted in
//!   `objectstore_admission_rejections_total` like the objectstore API's.
//! * **Metrics**: the same `objectstore_http_*` metrics, with `route="s3:<Operation>"`
//!   (`s3:GetObject`, …; `s3:unknown` for requests refused before routing): a bounded label
//!   set, since operation names are s3s's fixed list.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http::{Method, StatusCode};
use objectstore_s3::{Hooks, Refusal, RequestScope, S3Front};
use objectstore_service::stream::PayloadStream;
use objectstore_types::{ExpirationPolicy, ObjectContext};
use tokio::net::TcpListener;

use crate::admission::Rejection;
use crate::config::Config;
use crate::metrics::{RejectionReason, RouteMetrics, record_rejection};
use crate::state::AppState;

/// Admission control and metrics of the server, for the S3 front (module docs).
#[derive(Debug, Clone)]
pub(crate) struct ServerHooks {
    state: AppState,
}

fn refusal(rejection: Rejection) -> Refusal {
    match rejection {
        Rejection::Killswitched => {
            record_rejection(RejectionReason::Killswitch);
            Refusal::Killswitched
        }
        Rejection::RateLimited { retry_after } => {
            record_rejection(RejectionReason::RateLimit);
            Refusal::RateLimited { retry_after }
        }
    }
}

impl Hooks for ServerHooks {
    fn request(&self, method: &Method) -> Result<Box<dyn RequestScope>, Refusal> {
        let scope = Scope::enter(self.state.clone(), method.clone());
        if scope.before >= self.state.config.http.max_requests {
            record_rejection(RejectionReason::InFlight);
            let mut scope = scope;
            scope.responded("unknown", StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO);
            return Err(Refusal::Busy);
        }
        Ok(Box::new(scope))
    }

    fn admit(
        &self,
        context: &ObjectContext,
        downstream_service: Option<&str>,
    ) -> Result<(), Refusal> {
        self.state
            .admission
            .admit(context, downstream_service)
            .map_err(refusal)
    }

    fn admit_batch_op(
        &self,
        context: &ObjectContext,
        downstream_service: Option<&str>,
    ) -> Result<(), Refusal> {
        self.state
            .admission
            .killswitches()
            .check(context, downstream_service)
            .and_then(|()| self.state.admission.admit_batch_op(context))
            .map_err(refusal)
    }

    fn meter(&self, context: &ObjectContext, body: PayloadStream) -> PayloadStream {
        self.state.admission.meter(context, body)
    }

    fn check_policy(
        &self,
        context: &ObjectContext,
        policy: &ExpirationPolicy,
    ) -> Result<(), String> {
        self.state
            .admission
            .check_policy(context, policy)
            .map_err(|violation| violation.to_string())
    }
}

/// One S3 request's share of the in-flight counts and its metrics.
struct Scope {
    state: AppState,
    method: Method,
    before: usize,
    route: Option<Arc<RouteMetrics>>,
}

impl Scope {
    fn enter(state: AppState, method: Method) -> Self {
        let before = state.metrics.enter();
        state.metrics.http_in_flight().increment(1.0);
        Self {
            state,
            method,
            before,
            route: None,
        }
    }
}

impl RequestScope for Scope {
    fn responded(&mut self, operation: &str, status: StatusCode, elapsed: Duration) {
        let route = self.state.metrics.s3_route(operation);
        let outcome = route.outcome(&self.method, status);
        outcome.requests.increment(1);
        outcome.duration.record(elapsed.as_secs_f64());
        self.route = Some(route);
    }

    fn request_bytes(&mut self, n: u64) {
        if let Some(route) = &self.route {
            route.request_bytes.increment(n);
        }
    }

    fn response_bytes(&mut self, n: u64) {
        if let Some(route) = &self.route {
            route.response_bytes.increment(n);
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.state.metrics.leave();
        self.state.metrics.http_in_flight().decrement(1.0);
    }
}

/// Builds the S3 front over the server's state. Logs how requests are authenticated.
pub(crate) fn front(state: &AppState) -> anyhow::Result<S3Front> {
    let config = &state.config;
    let buckets = config.usecases.0.keys().cloned().collect();
    let front_config = config.s3.front_config(config.http.body_timeout, buckets);
    let hooks = Arc::new(ServerHooks {
        state: state.clone(),
    });
    let front = objectstore_s3::build(state.service.clone(), hooks, &front_config)
        .context("cannot start the S3 listener")?;
    if front.is_open() {
        tracing::warn!(
            "S3 listener without credentials: every request is served, whatever it is signed \
             with (configure `s3.credentials` to require signatures)"
        );
    } else {
        tracing::info!(
            credentials = config.s3.credentials.len(),
            "S3 listener requires SigV4 or SigV2 signatures"
        );
    }
    Ok(front)
}

/// Binds `s3.addr` when the S3 listener is enabled (`SO_REUSEADDR`, backlog 1024).
pub(crate) fn bind(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    if !config.s3.enabled {
        return Ok(None);
    }
    crate::server::bind_addr(config.s3.addr, "s3.addr").map(Some)
}
