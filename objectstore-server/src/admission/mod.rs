//! Admission control: killswitches, rate limits and usecase expiration policies
//! (docs/http-api.md §3.1, §6.10, §12.2, §12.3-§12.4, §7.2).
//!
//! # How the server uses it
//!
//! Build one [`Admission`] at start-up from the `killswitches`, `rate_limits` and `usecases`
//! config sections ([`Killswitch`], [`RateLimitsConfig`], [`UsecasesConfig`]) and share it in
//! the app state. Then, in the order of §3.1:
//!
//! 1. (web concurrency limit and authentication happen before, elsewhere)
//! 2. **After path parsing**, for every object, batch and multipart request:
//!    [`Admission::admit`]`(&context, downstream_service)` runs the killswitch check (403),
//!    then the bandwidth check (429), then the throughput check (429). Turn the
//!    [`Rejection`] into the response with `IntoResponse` (plain text, plus `retry-after`
//!    for 429). `downstream_service` is the raw `x-downstream-service` header, as returned
//!    by `downstream_service``(&headers)`; it is normalized inside.
//! 3. **Bytes:** wrap request bodies of inserts/parts and response bodies of GETs with
//!    `Admission::meter`; for a payload already in memory call `Admission::charge`.
//! 4. **Handler:** after parsing metadata, `Admission::check_policy` on every insert path
//!    (POST/PUT, batch insert, multipart initiate, resumable create) and
//!    `Admission::check_extension` for PATCH `extend_expiry`; a `PolicyViolation` is a
//!    400 JSON `client error: …`.
//! 5. **Batch**, per operation (§8.4): `Admission::admit_batch_op` (throughput only;
//!    → 429 part), permission check, `Admission::check_policy` for inserts (→ 400 part),
//!    `Admission::charge` / `Admission::meter` for insert and get payloads.
//! 6. **Reload:** `watch_config` with a closure that re-reads the config file and calls
//!    `admission.killswitches().replace(new_list)`; keep the returned [`ConfigWatcher`]
//!    alive for the life of the server.
//! 7. **`/keda`:** `RateLimiter::requests_admitted`, `RateLimiter::bytes_total`,
//!    `RateLimiter::global_rps`, `RateLimiter::global_bps`.
//!
//! # Invariants
//!
//! * A check never panics on input and never blocks on I/O; locks are held only for a
//!   bucket update.
//! * Tokens taken by a rejected request are not refunded; bandwidth is charged only for
//!   bytes that actually flowed.
//! * Memory is bounded: at most `MAX_TRACKED_KEYS` usecases and as many scope lists are
//!   tracked per limiter (see `buckets` for eviction).
//! * All rate-limit time comes from a `Ticker` (module `ticker`); tests use a manual one.

mod bandwidth;
mod buckets;
mod killswitch;
mod lenient;
mod rejection;
mod reload;
mod throughput;
mod ticker;
mod usecases;

#[cfg(test)]
mod tests;

use std::time::SystemTime;

use objectstore_service::backend::ExpiryTarget;
use objectstore_service::stream::PayloadStream;
use objectstore_types::{ExpirationPolicy, ObjectContext};
use serde::{Deserialize, Serialize};

pub use bandwidth::BandwidthConfig;
pub(crate) use bandwidth::{BandwidthLimiter, Meter};
pub use killswitch::Killswitch;
pub(crate) use killswitch::{Killswitches, downstream_service};
pub use rejection::Rejection;
pub use reload::{ConfigWatcher, ReloadCause, ReloadStatus};
pub(crate) use reload::{WatchOptions, watch_config};
pub(crate) use throughput::ThroughputLimiter;
pub use throughput::{ThroughputConfig, ThroughputRule};
pub(crate) use ticker::SharedTicker;
pub(crate) use usecases::PolicyViolation;
pub use usecases::{
    DurationPolicyConfig, ExpirationConfig, PolicyConfig, UsecaseConfig, UsecasesConfig,
};

/// How many usecases (and, separately, scope lists) each limiter tracks at most.
pub(crate) const MAX_TRACKED_KEYS: usize = 10_000;

/// Config `rate_limits`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitsConfig {
    /// Requests per second. Default: no limits.
    pub throughput: ThroughputConfig,
    /// Bytes per second. Default: no limits.
    pub bandwidth: BandwidthConfig,
}

impl RateLimitsConfig {
    /// Rejects invalid values (percentages above 100) with a message for the operator.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.throughput.validate()?;
        self.bandwidth.validate()
    }
}

/// Both rate limiters.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    bandwidth: BandwidthLimiter,
    throughput: ThroughputLimiter,
}

impl RateLimiter {
    /// Builds both limiters, all buckets full.
    pub(crate) fn new(config: RateLimitsConfig, ticker: SharedTicker) -> Self {
        Self::with_max_keys(config, MAX_TRACKED_KEYS, ticker)
    }

    /// Like [`RateLimiter::new`] with a different bound on tracked keys.
    pub(crate) fn with_max_keys(
        config: RateLimitsConfig,
        max_keys: usize,
        ticker: SharedTicker,
    ) -> Self {
        Self {
            bandwidth: BandwidthLimiter::new(config.bandwidth, max_keys, ticker.clone()),
            throughput: ThroughputLimiter::new(config.throughput, max_keys, ticker),
        }
    }

    /// Bandwidth check, then throughput (docs/http-api.md §12.4, §12.3).
    pub(crate) fn admit(&self, context: &ObjectContext) -> Result<(), Rejection> {
        self.bandwidth.admit(context)?;
        self.throughput.admit(context)
    }

    /// `objectstore_requests_total`: requests admitted by the throughput limiter.
    pub(crate) fn requests_admitted(&self) -> u64 {
        self.throughput.admitted()
    }

    /// `objectstore_bytes_total`: bytes charged.
    pub(crate) fn bytes_total(&self) -> u64 {
        self.bandwidth.bytes_total()
    }

    /// `objectstore_throughput_limit`, emitted only when set.
    pub(crate) fn global_rps(&self) -> Option<u64> {
        self.throughput.global_rps()
    }

    /// `objectstore_bandwidth_limit`, emitted only when set.
    pub(crate) fn global_bps(&self) -> Option<u64> {
        self.bandwidth.global_bps()
    }
}

/// Everything admission control needs, built once per server.
#[derive(Debug)]
pub struct Admission {
    killswitches: std::sync::Arc<Killswitches>,
    limits: RateLimiter,
    usecases: UsecasesConfig,
}

impl Admission {
    /// Builds admission control with the real monotonic clock.
    pub(crate) fn new(
        killswitches: Vec<Killswitch>,
        rate_limits: RateLimitsConfig,
        usecases: UsecasesConfig,
    ) -> Self {
        Self::with_ticker(killswitches, rate_limits, usecases, ticker::system())
    }

    /// Builds admission control on a given clock (tests pass a manual one).
    pub(crate) fn with_ticker(
        killswitches: Vec<Killswitch>,
        rate_limits: RateLimitsConfig,
        usecases: UsecasesConfig,
        ticker: SharedTicker,
    ) -> Self {
        Self {
            killswitches: std::sync::Arc::new(Killswitches::new(killswitches)),
            limits: RateLimiter::new(rate_limits, ticker),
            usecases,
        }
    }

    /// The killswitch holder; clone the `Arc` into a reload closure.
    pub(crate) fn killswitches(&self) -> &std::sync::Arc<Killswitches> {
        &self.killswitches
    }

    /// The rate limiters (for metrics).
    pub(crate) fn rate_limiter(&self) -> &RateLimiter {
        &self.limits
    }

    /// docs/http-api.md §3.1 step 5 for a whole request: killswitch (403), bandwidth (429),
    /// throughput (429). `downstream_service` is the raw `x-downstream-service` header.
    pub fn admit(
        &self,
        context: &ObjectContext,
        downstream_service: Option<&str>,
    ) -> Result<(), Rejection> {
        self.killswitches.check(context, downstream_service)?;
        self.limits.admit(context)
    }

    /// docs/http-api.md §8.4 step 1 for one batch operation: a throughput token.
    pub(crate) fn admit_batch_op(&self, context: &ObjectContext) -> Result<(), Rejection> {
        self.limits.throughput.admit(context)
    }

    /// Wraps a request or response body so that its bytes are charged as they flow.
    pub(crate) fn meter(&self, context: &ObjectContext, stream: PayloadStream) -> PayloadStream {
        self.limits.bandwidth.meter(context, stream)
    }

    /// The bandwidth [`Meter`] of a transfer in `context`, for a body that charges its
    /// chunks itself.
    pub(crate) fn meter_for(&self, context: &ObjectContext) -> Meter {
        self.limits.bandwidth.meter_for(context)
    }

    #[cfg(test)]
    /// Charges a payload whose size is known up front.
    pub(crate) fn charge(&self, context: &ObjectContext, bytes: u64) {
        self.limits.bandwidth.charge(context, bytes);
    }

    /// The usecase's expiration policy limits for an insert.
    pub(crate) fn check_policy(
        &self,
        context: &ObjectContext,
        policy: &ExpirationPolicy,
    ) -> Result<(), PolicyViolation> {
        self.usecases.check_policy(&context.usecase, policy)
    }

    /// The usecase's expiration cap for an extension; `now` is the request-start time.
    pub(crate) fn check_extension(
        &self,
        context: &ObjectContext,
        target: &ExpiryTarget,
        now: SystemTime,
    ) -> Result<(), PolicyViolation> {
        self.usecases.check_extension(&context.usecase, target, now)
    }
}
