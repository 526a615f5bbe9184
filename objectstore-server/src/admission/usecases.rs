//! Usecase expiration policy limits (docs/http-api.md §6.10, §7.2; config
//! `usecases.<name>.expiration`).
//!
//! * **Inserts** ([`UsecasesConfig::check_policy`], every insert path: POST/PUT, batch insert,
//!   multipart initiate, resumable create): the policy kind must be allowed for the usecase,
//!   and a ttl/tti duration must not exceed the usecase's cap for that kind (equal is
//!   allowed). The cap of a kind is the smaller of `<kind>.max` and the shared `max`.
//! * **Extensions** ([`UsecasesConfig::check_extension`], PATCH `extend_expiry`): the
//!   resulting lifetime must not exceed the cap. The lifetime is measured from the request
//!   time for `at` (rounded up to a second) and `after … from now`, and is the total lifetime
//!   since creation (`after`) for `from: creation`. The handler does not know the object's
//!   policy kind, so the larger of the ttl and tti caps applies.
//! * Unconfigured usecases, and configured ones without caps, accept everything.
//!
//! Violations are client errors: the handler answers 400 JSON `client error: …` with the
//! [`PolicyViolation`] text.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use objectstore_service::backend::ExpiryTarget;
use objectstore_types::expiration::format_duration;
use objectstore_types::{ExpirationPolicy, Usecase, time};
use serde::{Deserialize, Serialize};

/// Config `usecases`: per-usecase settings, keyed by usecase name. Default: `{}`.
///
/// ```yaml
/// usecases:
///   attachments:
///     expiration:
///       manual: { allowed: false }
///       ttl: { max: 90d }
///       max: 400d
/// ```
///
/// Env: `OS__USECASES={attachments={expiration={manual={allowed=false},max="90d"}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UsecasesConfig(pub BTreeMap<String, UsecaseConfig>);

/// Config `usecases.<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsecaseConfig {
    /// Expiration policy constraints. Default: everything allowed, no caps.
    pub expiration: ExpirationConfig,
}

/// Config `usecases.<name>.expiration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpirationConfig {
    /// The `manual` policy. Default: allowed.
    pub manual: PolicyConfig,
    /// The `ttl:` policy. Default: allowed, no cap.
    pub ttl: DurationPolicyConfig,
    /// The `tti:` policy. Default: allowed, no cap.
    pub tti: DurationPolicyConfig,
    /// Cap (humantime, e.g. `90d`) shared by ttl and tti. Default: none.
    #[serde(with = "humantime_serde")]
    pub max: Option<Duration>,
}

/// Config of a policy kind without a duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Whether the kind may be used. Default: `true`.
    pub allowed: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self { allowed: true }
    }
}

/// Config of a policy kind with a duration (`ttl`, `tti`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DurationPolicyConfig {
    /// Whether the kind may be used. Default: `true`.
    pub allowed: bool,
    /// Longest allowed duration (humantime, e.g. `90d`); equal is allowed. Default: none.
    #[serde(with = "humantime_serde")]
    pub max: Option<Duration>,
}

impl Default for DurationPolicyConfig {
    fn default() -> Self {
        Self {
            allowed: true,
            max: None,
        }
    }
}

/// A usecase's policy does not allow what the request asks for (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PolicyViolation {
    /// The policy kind is not allowed for the usecase.
    #[error("expiration policy `{kind}` is not allowed for usecase `{usecase}`")]
    NotAllowed {
        /// The usecase.
        usecase: String,
        /// `manual`, `ttl` or `tti`.
        kind: &'static str,
    },
    /// The duration or resulting lifetime is above the usecase's cap.
    #[error("expiration of {requested} exceeds the maximum of {max} for usecase `{usecase}`")]
    TooLong {
        /// The usecase.
        usecase: String,
        /// The requested duration, in wire format.
        requested: String,
        /// The cap, in wire format.
        max: String,
    },
}

fn min_cap(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl ExpirationConfig {
    /// The cap of ttl and tti: the smaller of the kind's `max` and the shared `max`.
    pub(crate) fn caps(&self) -> (Option<Duration>, Option<Duration>) {
        (
            min_cap(self.ttl.max, self.max),
            min_cap(self.tti.max, self.max),
        )
    }
}

impl UsecasesConfig {
    fn expiration(&self, usecase: &Usecase) -> Option<&ExpirationConfig> {
        self.0.get(usecase.as_str()).map(|c| &c.expiration)
    }

    /// Checks the policy of an insert.
    pub(crate) fn check_policy(
        &self,
        usecase: &Usecase,
        policy: &ExpirationPolicy,
    ) -> Result<(), PolicyViolation> {
        let Some(config) = self.expiration(usecase) else {
            return Ok(());
        };
        let (ttl_cap, tti_cap) = config.caps();
        let (kind, allowed, cap) = match policy {
            ExpirationPolicy::Manual => ("manual", config.manual.allowed, None),
            ExpirationPolicy::TimeToLive(_) => ("ttl", config.ttl.allowed, ttl_cap),
            ExpirationPolicy::TimeToIdle(_) => ("tti", config.tti.allowed, tti_cap),
        };
        if !allowed {
            return Err(PolicyViolation::NotAllowed {
                usecase: usecase.to_string(),
                kind,
            });
        }
        match (policy.duration(), cap) {
            (Some(d), Some(max)) if d > max => Err(too_long(usecase, d, max)),
            _ => Ok(()),
        }
    }

    /// Checks the lifetime an expiry extension would result in; `now` is the request-start
    /// time.
    pub(crate) fn check_extension(
        &self,
        usecase: &Usecase,
        target: &ExpiryTarget,
        now: SystemTime,
    ) -> Result<(), PolicyViolation> {
        let Some(config) = self.expiration(usecase) else {
            return Ok(());
        };
        let cap = match config.caps() {
            (Some(ttl), Some(tti)) => ttl.max(tti),
            _ => return Ok(()),
        };
        let lifetime = match *target {
            ExpiryTarget::At(at) => time::ceil_to_second(at)
                .duration_since(time::ceil_to_second(now))
                .unwrap_or_default(),
            ExpiryTarget::AfterNow(d) | ExpiryTarget::AfterCreation(d) => d,
        };
        if lifetime > cap {
            return Err(too_long(usecase, lifetime, cap));
        }
        Ok(())
    }
}

fn too_long(usecase: &Usecase, requested: Duration, max: Duration) -> PolicyViolation {
    PolicyViolation::TooLong {
        usecase: usecase.to_string(),
        requested: format_duration(requested),
        max: format_duration(max),
    }
}
