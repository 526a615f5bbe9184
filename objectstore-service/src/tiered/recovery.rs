//! Crash recovery and the background loop (lease renewal, periodic recovery, sweeps).
//!
//! **Invariants**
//!
//! * Recovery processes a record exactly like a guard's cleanup with an unknown outcome: it
//!   reads the current tombstone and deletes exactly the blobs it does not reference (never
//!   a revision owned by a live deferred multipart record).
//! * Records are taken over only through [`ChangeLog::claim_records`], which is atomic:
//!   a record of a live instance (lease not expired) is never processed by another one, and
//!   no record is handed to two claimants with live leases.
//! * This instance never claims its own records (they may belong to operations in flight);
//!   it retries its own *failed* cleanups from an in-memory retry set instead.
//!
//! [`ChangeLog::claim_records`]: crate::backend::ChangeLog::claim_records

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};

use super::Inner;
use super::changes::Outcome;
use crate::backend::{ChangeRecord, Claim};
use crate::error::Result;

/// What one recovery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Records taken over through `claim_records` (other instances' and due deferred ones).
    pub claimed: usize,
    /// This instance's earlier failed cleanups retried.
    pub retried: usize,
    /// Records fully processed and removed.
    pub cleaned: usize,
    /// Records whose processing failed again (they stay, owned by this instance).
    pub failed: usize,
}

impl Inner {
    /// One recovery pass. See [`super::TieredStorage::recover_now`]. Counts the pass in
    /// `objectstore_tiered_recovery_passes_total` by outcome.
    pub(crate) async fn recover(self: &Arc<Self>, ignore_leases: bool) -> Result<RecoveryReport> {
        let result = self.recover_pass(ignore_leases).await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("objectstore_tiered_recovery_passes_total", "outcome" => outcome)
            .increment(1);
        result
    }

    async fn recover_pass(self: &Arc<Self>, ignore_leases: bool) -> Result<RecoveryReport> {
        self.renew_lease().await?;
        let mut report = RecoveryReport::default();

        // 1. This instance's failed cleanups (their operations are over).
        let retry: Vec<uuid::Uuid> = std::mem::take(&mut *self.retry_set()).into_iter().collect();
        let mut mine = Vec::new();
        for (i, change_id) in retry.iter().enumerate() {
            match self.log.get_record(change_id).await {
                Ok(Some(record)) if record.owner == self.instance_id() => mine.push(record),
                Ok(_) => {} // Done, or taken over by another instance.
                Err(error) => {
                    let mut set = self.retry_set();
                    set.extend(&retry[i..]);
                    set.extend(mine.iter().map(|r: &ChangeRecord| r.change_id));
                    return Err(error);
                }
            }
        }
        report.retried = mine.len();
        let mut oldest = oldest_record_age(&mine, self.clock.now());
        self.process_all(mine, &mut report).await;

        // 2. Due records of others (and due deferred records of anyone).
        let batch = self.config.recovery_batch.max(1);
        loop {
            let now = self.clock.now();
            let claimed = self
                .log
                .claim_records(&Claim::new(self.instance_id(), now, ignore_leases, batch))
                .await?;
            let full = claimed.len() >= batch;
            report.claimed += claimed.len();
            oldest = oldest.max(oldest_record_age(&claimed, now));
            self.process_all(claimed, &mut report).await;
            // Failed records now belong to this instance and are not handed out again, so
            // the loop ends.
            if !full {
                break;
            }
        }
        if report.claimed + report.retried > 0 {
            tracing::info!(?report, "tiered: recovery pass");
        }
        metrics::gauge!("objectstore_tiered_recovery_oldest_record_age_seconds")
            .set(oldest.as_secs_f64());
        metrics::counter!("objectstore_tiered_recovery_records_total", "result" => "cleaned")
            .increment(report.cleaned as u64);
        metrics::counter!("objectstore_tiered_recovery_records_total", "result" => "failed")
            .increment(report.failed as u64);
        // Sampled once per pass: records still waiting for cleanup or recovery.
        match self.log.count_records().await {
            Ok(depth) => {
                metrics::gauge!("objectstore_tiered_change_log_depth").set(depth as f64);
            }
            Err(error) => tracing::debug!(%error, "tiered: cannot sample the change-log depth"),
        }
        Ok(report)
    }

    async fn process_all(
        self: &Arc<Self>,
        records: Vec<ChangeRecord>,
        report: &mut RecoveryReport,
    ) {
        let concurrency = self.config.cleanup_concurrency.max(1);
        let results: Vec<bool> = futures::stream::iter(records)
            .map(|record| async move { self.cleanup(&record, Outcome::Unknown).await })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for done in results {
            if done {
                report.cleaned += 1;
            } else {
                report.failed += 1;
            }
        }
    }

    /// The background loop: start-up recovery (with `ignore_leases` when the high-volume
    /// backend is exclusive), then lease renewals, recovery passes and sweeps until
    /// shutdown.
    pub(crate) async fn run_background(self: Arc<Self>) {
        if let Err(error) = self.recover(self.log.is_exclusive()).await {
            tracing::warn!(%error, "tiered: start-up recovery failed; retrying periodically");
        }
        let config = &self.config;
        let mut renew = every(config.lease_renew_interval);
        let mut recover = every(config.recovery_interval);
        let mut sweep = every(config.sweep_interval);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = renew.tick() => {
                    if let Err(error) = self.renew_lease().await {
                        tracing::warn!(%error, "tiered: lease renewal failed");
                    }
                }
                _ = recover.tick() => {
                    if let Err(error) = self.recover(false).await {
                        tracing::warn!(%error, "tiered: recovery pass failed");
                    }
                }
                _ = sweep.tick() => {
                    if let Err(error) = self.sweep().await {
                        tracing::warn!(%error, "tiered: expiry sweep failed");
                    }
                }
            }
        }
    }
}

/// An interval whose first tick is one period from now.
fn every(period: Duration) -> tokio::time::Interval {
    let period = period.max(Duration::from_millis(1));
    let mut interval = tokio::time::interval_at(Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// How long ago the oldest of `records` was created (change ids are UUID v7, which carry
/// their creation time); zero for none. Feeds the change-log age gauge.
fn oldest_record_age(records: &[ChangeRecord], now: std::time::SystemTime) -> Duration {
    records
        .iter()
        .filter_map(|r| r.change_id.get_timestamp())
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            std::time::UNIX_EPOCH + Duration::new(secs, nanos)
        })
        .filter_map(|created| now.duration_since(created).ok())
        .max()
        .unwrap_or_default()
}
