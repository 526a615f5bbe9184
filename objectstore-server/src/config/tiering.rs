//! Settings of the tiered layout's consistency machinery (`storage.lease_duration`, ...):
//! instance leases, recovery, the expiry sweeper and the multipart retry window, see
//! [`objectstore_service::tiered::TieredConfig`].
//!
//! The keys sit beside `high_volume` and `long_term` in a `storage: {type: tiered}` section;
//! every key is optional and defaults to the engine's production default. Invariants checked
//! at start-up (each error names its key):
//!
//! * `lease_renew_interval` < `lease_duration`, so a live instance never lets its lease lapse
//!   between renewals and another instance's recovery never takes over its running work;
//! * every interval and duration is non-zero, and counts are at least 1.

use std::time::Duration;

use objectstore_service::tiered::TieredConfig;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `storage.*` settings of the tiered layout. Unknown keys are rejected (a misspelt lease
/// setting must not silently fall back to the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TieredSettings {
    /// How long a lease keeps this instance's change-log records away from other
    /// instances' recovery. A killed instance's leftovers are cleaned up this long after
    /// its last renewal. Default `30s`. Env `OS__STORAGE__LEASE_DURATION`.
    #[serde(with = "humantime_serde")]
    pub lease_duration: Duration,
    /// How often the lease is renewed; must be below `lease_duration`. Default `10s`.
    /// Env `OS__STORAGE__LEASE_RENEW_INTERVAL`.
    #[serde(with = "humantime_serde")]
    pub lease_renew_interval: Duration,
    /// How often recovery runs (records of dead instances, due multipart records, this
    /// instance's failed cleanups). Default `60s`. Env `OS__STORAGE__RECOVERY_INTERVAL`.
    #[serde(with = "humantime_serde")]
    pub recovery_interval: Duration,
    /// Change-log records claimed per recovery batch. Default 100.
    /// Env `OS__STORAGE__RECOVERY_BATCH`.
    pub recovery_batch: usize,
    /// How often expired rows are swept. Default `60s`. Env `OS__STORAGE__SWEEP_INTERVAL`.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Upper bound of expired rows swept per second. Default 1000.
    /// Env `OS__STORAGE__SWEEP_ROWS_PER_SECOND`.
    pub sweep_rows_per_second: u32,
    /// How long after initiation a multipart upload accepts parts and completion.
    /// Default `24h`. Env `OS__STORAGE__MULTIPART_DEADLINE`.
    #[serde(with = "humantime_serde")]
    pub multipart_deadline: Duration,
    /// Extra time after `multipart_deadline` before an unfinished upload is cleaned up;
    /// must exceed the clock skew between instances plus the longest high-volume call.
    /// Default `1h`. Env `OS__STORAGE__MULTIPART_GRACE`.
    #[serde(with = "humantime_serde")]
    pub multipart_grace: Duration,
    /// Background cleanups running at once. Default 16.
    /// Env `OS__STORAGE__CLEANUP_CONCURRENCY`.
    pub cleanup_concurrency: usize,
}

impl Default for TieredSettings {
    fn default() -> Self {
        let d = TieredConfig::default();
        Self {
            lease_duration: d.lease_duration,
            lease_renew_interval: d.lease_renew_interval,
            recovery_interval: d.recovery_interval,
            recovery_batch: d.recovery_batch,
            sweep_interval: d.sweep_interval,
            sweep_rows_per_second: d.sweep_rows_per_second,
            multipart_deadline: d.multipart_deadline,
            multipart_grace: d.multipart_grace,
            cleanup_concurrency: d.cleanup_concurrency,
        }
    }
}

impl TieredSettings {
    /// The engine configuration: these settings over the engine's defaults (threshold,
    /// a fresh instance id, background work on).
    pub fn to_tiered_config(&self) -> TieredConfig {
        TieredConfig {
            lease_duration: self.lease_duration,
            lease_renew_interval: self.lease_renew_interval,
            recovery_interval: self.recovery_interval,
            recovery_batch: self.recovery_batch,
            sweep_interval: self.sweep_interval,
            sweep_rows_per_second: self.sweep_rows_per_second,
            multipart_deadline: self.multipart_deadline,
            multipart_grace: self.multipart_grace,
            cleanup_concurrency: self.cleanup_concurrency,
            ..TieredConfig::default()
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let durations = [
            ("storage.lease_duration", self.lease_duration),
            ("storage.lease_renew_interval", self.lease_renew_interval),
            ("storage.recovery_interval", self.recovery_interval),
            ("storage.sweep_interval", self.sweep_interval),
            ("storage.multipart_deadline", self.multipart_deadline),
            ("storage.multipart_grace", self.multipart_grace),
        ];
        for (key, value) in durations {
            if value.is_zero() {
                return Err(ConfigError::invalid(key, "must be greater than zero"));
            }
        }
        let counts = [
            ("storage.recovery_batch", self.recovery_batch),
            (
                "storage.sweep_rows_per_second",
                self.sweep_rows_per_second as usize,
            ),
            ("storage.cleanup_concurrency", self.cleanup_concurrency),
        ];
        for (key, value) in counts {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if self.lease_renew_interval >= self.lease_duration {
            return Err(ConfigError::invalid(
                "storage.lease_renew_interval",
                "must be shorter than storage.lease_duration",
            ));
        }
        Ok(())
    }
}
