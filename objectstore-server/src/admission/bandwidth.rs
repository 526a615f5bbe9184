//! Bandwidth limits (docs/http-api.md §12.4, config `rate_limits.bandwidth`): bytes per second.
//!
//! GCRA debt buckets ([`Gcra`]): a global one (`global_bps`), one per usecase
//! (`global_bps × usecase_pct / 100`) and one per scopes list (`global_bps × scope_pct /
//! 100`, keyed by the full ordered list across usecases).
//!
//! 1. **Admission** ([`BandwidthLimiter::admit`], once per request, before the throughput
//!    check): rejected with [`Rejection::RateLimited`] if any applicable bucket's theoretical
//!    arrival time is more than `burst_ms` ahead of now. Nothing is charged here. The
//!    `retry_after` is the longest wait among the over-limit buckets (the request would be
//!    rejected until all of them recover).
//! 2. **Charging** while bytes flow: [`BandwidthLimiter::meter`] wraps a [`PayloadStream`]
//!    (request bodies of inserts and parts, response bodies of GETs, batch payloads) and
//!    charges every chunk to the buckets of the request's context as it passes;
//!    [`BandwidthLimiter::charge`] does the same for a byte count known up front. A stream is
//!    never cut off mid-way: debt only affects later admissions.
//! 3. **`report_only: true`:** admission never rejects (would-be rejections are counted and
//!    logged at debug level); charging is unchanged.
//!
//! Without `global_bps` nothing is limited, but bytes are still counted for
//! `objectstore_bytes_total`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use objectstore_service::stream::PayloadStream;
use objectstore_types::{ObjectContext, Scopes, Usecase};
use serde::{Deserialize, Serialize};

use super::buckets::{BoundedMap, Gcra, NEVER_RETRY_AFTER, nanos};
use super::rejection::Rejection;
use super::throughput::pct_of;
use super::ticker::SharedTicker;

/// Config `rate_limits.bandwidth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BandwidthConfig {
    /// Bytes per second for the whole instance. Default: none (no bandwidth limits).
    /// Env: `OS__RATE_LIMITS__BANDWIDTH__GLOBAL_BPS`.
    pub global_bps: Option<u64>,
    /// How far (milliseconds) a bucket's debt may run ahead of now before new requests are
    /// rejected. Default: `1000`. Env: `OS__RATE_LIMITS__BANDWIDTH__BURST_MS`.
    pub burst_ms: u64,
    /// Per-usecase limit as a percentage (0-100) of `global_bps`. Default: none.
    /// Env: `OS__RATE_LIMITS__BANDWIDTH__USECASE_PCT`.
    pub usecase_pct: Option<u8>,
    /// Per-scopes-list limit as a percentage (0-100) of `global_bps`. Default: none.
    /// Env: `OS__RATE_LIMITS__BANDWIDTH__SCOPE_PCT`.
    pub scope_pct: Option<u8>,
    /// Account and report, but never reject. Default: `false`.
    /// Env: `OS__RATE_LIMITS__BANDWIDTH__REPORT_ONLY`.
    pub report_only: bool,
}

impl Default for BandwidthConfig {
    fn default() -> Self {
        Self {
            global_bps: None,
            burst_ms: 1000,
            usecase_pct: None,
            scope_pct: None,
            report_only: false,
        }
    }
}

impl BandwidthConfig {
    /// Rejects percentages above 100.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, pct) in [
            ("usecase_pct", self.usecase_pct),
            ("scope_pct", self.scope_pct),
        ] {
            if let Some(p) = pct
                && p > 100
            {
                return Err(format!("rate_limits.bandwidth.{name} is {p}, above 100"));
            }
        }
        Ok(())
    }

    fn pct_of_global(&self, pct: Option<u8>) -> Option<u64> {
        Some(pct_of(self.global_bps?, pct?))
    }
}

/// The bandwidth limiter.
#[derive(Debug)]
pub(crate) struct BandwidthLimiter {
    config: BandwidthConfig,
    burst: Duration,
    ticker: SharedTicker,
    /// GCRA times are nanoseconds since this instant.
    origin: Instant,
    global: Option<Arc<Gcra>>,
    usecase_bps: Option<u64>,
    usecases: BoundedMap<Usecase, Arc<Gcra>>,
    scope_bps: Option<u64>,
    scopes: BoundedMap<Scopes, Arc<Gcra>>,
    bytes_total: Arc<AtomicU64>,
    reported: AtomicU64,
}

impl BandwidthLimiter {
    /// Builds the limiter; at most `max_keys` usecases and scope lists are tracked at a time.
    pub(crate) fn new(config: BandwidthConfig, max_keys: usize, ticker: SharedTicker) -> Self {
        let origin = ticker.now();
        Self {
            burst: Duration::from_millis(config.burst_ms),
            global: config.global_bps.map(|bps| Arc::new(Gcra::new(bps))),
            usecase_bps: config.pct_of_global(config.usecase_pct),
            usecases: BoundedMap::new(max_keys),
            scope_bps: config.pct_of_global(config.scope_pct),
            scopes: BoundedMap::new(max_keys),
            bytes_total: Arc::new(AtomicU64::new(0)),
            reported: AtomicU64::new(0),
            ticker,
            origin,
            config,
        }
    }

    fn now(&self) -> (Instant, u64) {
        let now = self.ticker.now();
        (now, nanos(now.saturating_duration_since(self.origin)))
    }

    /// Step 1: rejects if any applicable bucket is more than `burst_ms` in debt.
    pub(crate) fn admit(&self, context: &ObjectContext) -> Result<(), Rejection> {
        if self.global.is_none() && self.usecase_bps.is_none() && self.scope_bps.is_none() {
            return Ok(());
        }
        let (_, now) = self.now();
        let check = |b: &Arc<Gcra>| b.check(now, self.burst).err();
        // Per-key buckets exist only when their limit is configured.
        let waits = [
            self.global.as_ref().and_then(check),
            self.usecase_bps
                .and_then(|_| self.usecases.peek(&context.usecase, check).flatten()),
            self.scope_bps
                .and_then(|_| self.scopes.peek(&context.scopes, check).flatten()),
        ];
        // An untracked per-key bucket has no debt, but a rate-0 one never admits.
        let zero_rate = [self.usecase_bps, self.scope_bps]
            .contains(&Some(0))
            .then_some(NEVER_RETRY_AFTER);
        let Some(retry_after) = waits.into_iter().chain([zero_rate]).flatten().max() else {
            return Ok(());
        };
        if self.config.report_only {
            self.reported.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(usecase = %context.usecase, ?retry_after, "bandwidth limit exceeded (report only)");
            return Ok(());
        }
        Err(Rejection::RateLimited { retry_after })
    }

    /// The buckets a transfer in `context` is charged to (creating per-key ones).
    fn buckets(&self, context: &ObjectContext) -> Vec<Arc<Gcra>> {
        // Without limits (the default) the list stays empty and allocates nothing.
        let mut buckets = Vec::new();
        if self.usecase_bps.is_none() && self.scope_bps.is_none() {
            buckets.extend(self.global.clone());
            return buckets;
        }
        let (now, _) = self.now();
        buckets.extend(self.global.clone());
        if let Some(bps) = self.usecase_bps {
            let make = || Arc::new(Gcra::new(bps));
            buckets.push(
                self.usecases
                    .with(&context.usecase, now, self.origin, make, Arc::clone),
            );
        }
        if let Some(bps) = self.scope_bps {
            let make = || Arc::new(Gcra::new(bps));
            buckets.push(
                self.scopes
                    .with(&context.scopes, now, self.origin, make, Arc::clone),
            );
        }
        buckets
    }

    #[cfg(test)]
    /// Step 2 for a byte count known up front (e.g. a buffered batch insert).
    pub(crate) fn charge(&self, context: &ObjectContext, bytes: u64) {
        self.meter_for(context).charge(bytes);
    }

    /// Step 2 for a stream: every chunk is charged as it passes. Errors pass through
    /// unchanged.
    pub(crate) fn meter(&self, context: &ObjectContext, stream: PayloadStream) -> PayloadStream {
        Box::pin(Metered {
            inner: stream,
            meter: self.meter_for(context),
        })
    }

    /// Step 2 for a body that charges its chunks itself (one wrapper instead of two for
    /// object bodies): the buckets of `context`, resolved now.
    pub(crate) fn meter_for(&self, context: &ObjectContext) -> Meter {
        Meter {
            buckets: self.buckets(context),
            ticker: Arc::clone(&self.ticker),
            origin: self.origin,
            bytes_total: Arc::clone(&self.bytes_total),
        }
    }

    /// Bytes charged so far (`objectstore_bytes_total`).
    pub(crate) fn bytes_total(&self) -> u64 {
        self.bytes_total.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    /// Admissions that would have been rejected under `report_only`.
    pub(crate) fn reported_rejections(&self) -> u64 {
        self.reported.load(Ordering::Relaxed)
    }

    /// The configured `global_bps` (`objectstore_bandwidth_limit`).
    pub(crate) fn global_bps(&self) -> Option<u64> {
        self.config.global_bps
    }

    #[cfg(test)]
    /// Usecases and scope lists currently tracked.
    pub(crate) fn tracked_keys(&self) -> (usize, usize) {
        (self.usecases.len(), self.scopes.len())
    }
}

/// The buckets one transfer is charged to, and the byte total.
#[derive(Debug)]
pub(crate) struct Meter {
    buckets: Vec<Arc<Gcra>>,
    ticker: SharedTicker,
    origin: Instant,
    bytes_total: Arc<AtomicU64>,
}

impl Meter {
    /// Charges `len` bytes that just flowed.
    pub(crate) fn charge(&self, len: u64) {
        if !self.buckets.is_empty() {
            let now = nanos(self.ticker.now().saturating_duration_since(self.origin));
            for bucket in &self.buckets {
                bucket.charge(now, len);
            }
        }
        self.bytes_total.fetch_add(len, Ordering::Relaxed);
    }

    /// Charges a polled chunk (errors and empty chunks charge nothing).
    pub(crate) fn charge_polled(&self, polled: &Poll<Option<io::Result<Bytes>>>) {
        if let Poll::Ready(Some(Ok(chunk))) = polled
            && !chunk.is_empty()
        {
            self.charge(chunk.len() as u64);
        }
    }
}

/// A payload stream that charges its chunks to bandwidth buckets.
struct Metered {
    inner: PayloadStream,
    meter: Meter,
}

impl Stream for Metered {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = this.inner.as_mut().poll_next(cx);
        this.meter.charge_polled(&polled);
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}
