//! Throughput limits (docs/http-api.md §12.3, config `rate_limits.throughput`): requests per
//! second.
//!
//! Every admitted request takes one token from each applicable bucket, consulted in this
//! order:
//!
//! 1. global: `global_rps`;
//! 2. per usecase: `global_rps × usecase_pct / 100` (one bucket per usecase);
//! 3. per scopes list: `global_rps × scope_pct / 100`, keyed by the full ordered scope list,
//!    shared across usecases;
//! 4. every matching rule in config order, one bucket per rule: limit `rps`, or `pct`% of
//!    `global_rps`, the smaller when both are given. A rule matches when its `usecase` (if
//!    given) is equal and each listed `[name, value]` scope is present with that value.
//!
//! All buckets have capacity `limit + burst` and start full. The first empty bucket rejects
//! with [`Rejection::RateLimited`]; tokens already taken from earlier buckets are **not**
//! returned. Percentages round down; a percentage without `global_rps` (or a rule with
//! neither `rps` nor a usable `pct`) imposes no limit.

use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use objectstore_types::{ObjectContext, Scopes, Usecase};
use serde::{Deserialize, Serialize};

use super::buckets::{BoundedMap, TokenBucket, lock};
use super::rejection::Rejection;
use super::ticker::SharedTicker;

/// Config `rate_limits.throughput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThroughputConfig {
    /// Requests per second for the whole instance. Default: none (no throughput limits at
    /// all, since every other limit is relative or per rule). Env:
    /// `OS__RATE_LIMITS__THROUGHPUT__GLOBAL_RPS`.
    pub global_rps: Option<u64>,
    /// Extra tokens every bucket may hold above its per-second rate. Default: `0`.
    /// Env: `OS__RATE_LIMITS__THROUGHPUT__BURST`.
    pub burst: u64,
    /// Per-usecase limit as a percentage (0-100) of `global_rps`. Default: none.
    /// Env: `OS__RATE_LIMITS__THROUGHPUT__USECASE_PCT`.
    pub usecase_pct: Option<u8>,
    /// Per-scopes-list limit as a percentage (0-100) of `global_rps`. Default: none.
    /// Env: `OS__RATE_LIMITS__THROUGHPUT__SCOPE_PCT`.
    pub scope_pct: Option<u8>,
    /// Extra limits for matching requests. Default: `[]`.
    /// Env: `OS__RATE_LIMITS__THROUGHPUT__RULES=[{usecase="a",scopes=[["org","1"]],rps=5}]`.
    pub rules: Vec<ThroughputRule>,
}

/// One entry of `rate_limits.throughput.rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThroughputRule {
    /// Usecase that must be equal. Default: any.
    #[serde(default)]
    pub usecase: Option<String>,
    /// `[name, value]` pairs that must be present in the request (required, may be `[]`).
    /// Numeric values are accepted as their decimal text.
    #[serde(deserialize_with = "super::lenient::scope_pairs")]
    pub scopes: Vec<(String, String)>,
    /// Absolute limit in requests per second. Default: none.
    #[serde(default)]
    pub rps: Option<u64>,
    /// Limit as a percentage (0-100) of `global_rps`. Default: none.
    #[serde(default)]
    pub pct: Option<u8>,
}

impl ThroughputRule {
    /// Whether this rule applies to a request.
    pub(crate) fn matches(&self, context: &ObjectContext) -> bool {
        self.usecase
            .as_deref()
            .is_none_or(|u| u == context.usecase.as_str())
            && self
                .scopes
                .iter()
                .all(|(name, value)| context.scopes.get(name) == Some(value.as_str()))
    }
}

impl ThroughputConfig {
    /// Rejects percentages above 100.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let pcts = [
            ("usecase_pct", self.usecase_pct),
            ("scope_pct", self.scope_pct),
        ]
        .into_iter()
        .chain(self.rules.iter().map(|r| ("rules[].pct", r.pct)));
        for (name, pct) in pcts {
            if let Some(p) = pct
                && p > 100
            {
                return Err(format!("rate_limits.throughput.{name} is {p}, above 100"));
            }
        }
        Ok(())
    }

    fn pct_of_global(&self, pct: Option<u8>) -> Option<u64> {
        Some(pct_of(self.global_rps?, pct?))
    }

    /// The effective limit of a rule, if it has one.
    pub(crate) fn rule_rps(&self, rule: &ThroughputRule) -> Option<u64> {
        match (rule.rps, self.pct_of_global(rule.pct)) {
            (Some(r), Some(p)) => Some(r.min(p)),
            (r, p) => r.or(p),
        }
    }
}

/// `value × pct / 100`, rounded down.
pub(super) fn pct_of(value: u64, pct: u8) -> u64 {
    u64::try_from(u128::from(value) * u128::from(pct) / 100).unwrap_or(u64::MAX)
}

/// The throughput limiter.
#[derive(Debug)]
pub(crate) struct ThroughputLimiter {
    config: ThroughputConfig,
    ticker: SharedTicker,
    origin: Instant,
    global: Option<Mutex<TokenBucket>>,
    usecase_rps: Option<u64>,
    usecases: BoundedMap<Usecase, Mutex<TokenBucket>>,
    scope_rps: Option<u64>,
    scopes: BoundedMap<Scopes, Mutex<TokenBucket>>,
    /// One bucket per rule that has a limit, in config order.
    rules: Vec<(ThroughputRule, Mutex<TokenBucket>)>,
    admitted: AtomicU64,
}

impl ThroughputLimiter {
    /// Builds the buckets (all full now); at most `max_keys` usecases and scope lists are
    /// tracked at a time.
    pub(crate) fn new(config: ThroughputConfig, max_keys: usize, ticker: SharedTicker) -> Self {
        let now = ticker.now();
        let bucket = |rps: u64| Mutex::new(TokenBucket::new(rps, config.burst, now));
        let rules = config
            .rules
            .iter()
            .filter_map(|rule| Some((rule.clone(), bucket(config.rule_rps(rule)?))))
            .collect();
        Self {
            global: config.global_rps.map(bucket),
            usecase_rps: config.pct_of_global(config.usecase_pct),
            scope_rps: config.pct_of_global(config.scope_pct),
            usecases: BoundedMap::new(max_keys),
            scopes: BoundedMap::new(max_keys),
            rules,
            origin: now,
            ticker,
            admitted: AtomicU64::new(0),
            config,
        }
    }

    /// Takes a token from every applicable bucket in order; the first empty one rejects.
    pub(crate) fn admit(&self, context: &ObjectContext) -> Result<(), Rejection> {
        let unlimited = self.global.is_none()
            && self.usecase_rps.is_none()
            && self.scope_rps.is_none()
            && self.rules.is_empty();
        if unlimited {
            self.admitted.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let now = self.ticker.now();
        let limited = |retry_after| Rejection::RateLimited { retry_after };
        if let Some(global) = &self.global {
            lock(global).try_acquire(now).map_err(limited)?;
        }
        if let Some(rps) = self.usecase_rps {
            self.acquire_keyed(&self.usecases, &context.usecase, rps, now)
                .map_err(limited)?;
        }
        if let Some(rps) = self.scope_rps {
            self.acquire_keyed(&self.scopes, &context.scopes, rps, now)
                .map_err(limited)?;
        }
        for (rule, bucket) in &self.rules {
            if rule.matches(context) {
                lock(bucket).try_acquire(now).map_err(limited)?;
            }
        }
        self.admitted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Takes a token from the bucket of `key` in `buckets`, made full at `rps` if `key` is
    /// not tracked yet; `Err` is the time until the bucket has a token again.
    fn acquire_keyed<K: Eq + Hash + Clone>(
        &self,
        buckets: &BoundedMap<K, Mutex<TokenBucket>>,
        key: &K,
        rps: u64,
        now: Instant,
    ) -> Result<(), Duration> {
        let make = || Mutex::new(TokenBucket::new(rps, self.config.burst, now));
        buckets.with(key, now, self.origin, make, |b| lock(b).try_acquire(now))
    }

    /// Requests admitted so far (`objectstore_requests_total`).
    pub(crate) fn admitted(&self) -> u64 {
        self.admitted.load(Ordering::Relaxed)
    }

    /// The configured `global_rps` (`objectstore_throughput_limit`).
    pub(crate) fn global_rps(&self) -> Option<u64> {
        self.config.global_rps
    }

    #[cfg(test)]
    /// Usecases and scope lists currently tracked.
    pub(crate) fn tracked_keys(&self) -> (usize, usize) {
        (self.usecases.len(), self.scopes.len())
    }
}
