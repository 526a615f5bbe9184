//! Admission and policy settings: killswitches (spec 10.2), rate limits (10.3) and
//! per-usecase expiration rules (6.3, `usecases.*`).
//!
//! Killswitches and rate limits are parsed and validated here; the admission layer enforces
//! them. Usecase expiration rules are enforced on every insert path through
//! [`UsecaseConfig::check_policy`].

use std::collections::BTreeMap;
use std::time::Duration;

use objectstore_types::ExpirationPolicy;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// One killswitch: all given conditions must hold for it to match; an empty entry matches
/// every request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Killswitch {
    /// Usecase, compared exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usecase: Option<String>,
    /// Scopes that must be present in the request with these values.
    pub scopes: BTreeMap<String, String>,
    /// Glob over the normalized `x-downstream-service` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// `rate_limits.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimits {
    /// Request rate limits. Env `OS__RATE_LIMITS__THROUGHPUT__*`.
    pub throughput: ThroughputLimits,
    /// Byte rate limits. Env `OS__RATE_LIMITS__BANDWIDTH__*`.
    pub bandwidth: BandwidthLimits,
}

/// `rate_limits.throughput.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThroughputLimits {
    /// Requests per second over all usecases. Default none (unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_rps: Option<f64>,
    /// Extra requests a bucket may hold above `rps`. Default 0.
    pub burst: u32,
    /// Per-usecase share of `global_rps`, percent. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usecase_pct: Option<f64>,
    /// Per-scope-list share of `global_rps`, percent. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_pct: Option<f64>,
    /// Additional rules. Default none.
    pub rules: Vec<ThroughputRule>,
}

/// A throughput rule: matches on optional usecase plus scope pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThroughputRule {
    /// Usecase to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usecase: Option<String>,
    /// `[name, value]` pairs that must all be in the request's scopes.
    pub scopes: Vec<(String, String)>,
    /// Absolute limit in requests per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rps: Option<f64>,
    /// Limit as a percentage of `global_rps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pct: Option<f64>,
}

/// `rate_limits.bandwidth.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BandwidthLimits {
    /// Bytes per second over all usecases. Default none (unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_bps: Option<u64>,
    /// How far ahead of now a bucket's debt may run before requests are refused.
    /// Default 1000 ms.
    pub burst_ms: u64,
    /// Per-usecase share of `global_bps`, percent. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usecase_pct: Option<f64>,
    /// Per-scope-list share of `global_bps`, percent. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_pct: Option<f64>,
    /// Account but never refuse. Default false.
    pub report_only: bool,
}

impl Default for BandwidthLimits {
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

fn check_pct(key: &str, pct: Option<f64>) -> Result<(), ConfigError> {
    match pct {
        Some(p) if !(p > 0.0 && p <= 100.0) => Err(ConfigError::invalid(
            key,
            format!("{p} is not a percentage in (0, 100]"),
        )),
        _ => Ok(()),
    }
}

impl RateLimits {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.throughput;
        if let Some(rps) = t.global_rps
            && !(rps >= 0.0 && rps.is_finite())
        {
            return Err(ConfigError::invalid(
                "rate_limits.throughput.global_rps",
                "must be a non-negative number",
            ));
        }
        check_pct("rate_limits.throughput.usecase_pct", t.usecase_pct)?;
        check_pct("rate_limits.throughput.scope_pct", t.scope_pct)?;
        for (i, rule) in t.rules.iter().enumerate() {
            check_pct(&format!("rate_limits.throughput.rules[{i}].pct"), rule.pct)?;
            if rule.rps.is_none() && rule.pct.is_none() {
                return Err(ConfigError::invalid(
                    format!("rate_limits.throughput.rules[{i}]"),
                    "needs `rps`, `pct` or both",
                ));
            }
        }
        let b = &self.bandwidth;
        check_pct("rate_limits.bandwidth.usecase_pct", b.usecase_pct)?;
        check_pct("rate_limits.bandwidth.scope_pct", b.scope_pct)?;
        Ok(())
    }
}

/// `usecases.<name>.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsecaseConfig {
    /// Which expiration policies inserts of this usecase may use.
    pub expiration: ExpirationLimits,
}

/// `usecases.<name>.expiration.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpirationLimits {
    /// `manual` (no expiry). Default allowed.
    pub manual: PolicyKindLimit,
    /// `ttl:<d>`. Default allowed, no maximum.
    pub ttl: PolicyKindLimit,
    /// `tti:<d>`. Default allowed, no maximum.
    pub tti: PolicyKindLimit,
}

/// Whether one policy kind is allowed, and its longest duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyKindLimit {
    /// Default true.
    pub allowed: bool,
    /// Longest accepted duration (humantime, e.g. `90d`; equal is allowed). Default none.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
}

impl Default for PolicyKindLimit {
    fn default() -> Self {
        Self {
            allowed: true,
            max: None,
        }
    }
}

impl UsecaseConfig {
    pub(super) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if self.expiration.manual.max.is_some() {
            return Err(ConfigError::invalid(
                format!("usecases.{name}.expiration.manual.max"),
                "manual objects have no duration; remove `max`",
            ));
        }
        Ok(())
    }

    /// Checks an insert's policy against this usecase's rules; the error says why it is
    /// refused (answered 400).
    pub fn check_policy(&self, policy: &ExpirationPolicy) -> Result<(), String> {
        let (kind, limit, duration) = match policy {
            ExpirationPolicy::Manual => ("manual", &self.expiration.manual, None),
            ExpirationPolicy::TimeToLive(d) => ("ttl", &self.expiration.ttl, Some(*d)),
            ExpirationPolicy::TimeToIdle(d) => ("tti", &self.expiration.tti, Some(*d)),
        };
        if !limit.allowed {
            return Err(format!(
                "expiration policy `{kind}` is not allowed for this usecase"
            ));
        }
        if let (Some(max), Some(d)) = (limit.max, duration)
            && d > max
        {
            return Err(format!(
                "expiration policy `{policy}` exceeds this usecase's maximum {kind} of {}",
                objectstore_types::expiration::format_duration(max)
            ));
        }
        Ok(())
    }
}
