//! The expiry sweeper: deletes expired rows in the background, at a bounded rate.
//!
//! Expired rows already read as absent; the sweeper reclaims their space. One pass walks
//! [`HighVolumeBackend::scan_expired`] with a cursor (so rows it cannot delete do not stall
//! it) in batches of at most `sweep_rows_per_second`, pausing after each batch so that the
//! pass handles at most that many rows per second.
//!
//! Per row:
//!
//! * Inline object: [`HighVolumeBackend::delete_if_expired`] (atomic: a row rewritten or
//!   bumped since the scan is kept).
//! * Tombstone (the protocol):
//!   1. Append a record `{old: target}` (durable) and check ownership.
//!   2. `delete_if_expired`: the commit point.
//!      * Deleted the tombstone of `target` → cleanup deletes the blob (unless a deferred
//!        multipart record still owns it).
//!      * Nothing deleted (bumped, extended, rewritten, gone) → `Lost`: nothing to delete
//!        (a writer that replaced the tombstone cleans its blob).
//!      * Error → the guard's cleanup reads the tombstone and deletes the blob only if no
//!        tombstone references it.
//! * A row that turned from inline into an expired tombstone between scan and delete (a
//!   large write whose deadline had already passed) is deleted without a prior record; a
//!   record is appended right after and cleaned at once. A crash in between leaks that one
//!   blob: the only unrecorded window, documented in the module docs.
//!
//! [`HighVolumeBackend::scan_expired`]: crate::backend::HighVolumeBackend::scan_expired
//! [`HighVolumeBackend::delete_if_expired`]: crate::backend::HighVolumeBackend::delete_if_expired

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Inner;
use super::changes::Outcome;
use crate::backend::{ExpiredRow, ExpiryCursor, Tombstone};
use crate::error::Result;

/// What one sweep pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired rows seen.
    pub scanned: usize,
    /// Inline objects deleted.
    pub objects: usize,
    /// Tombstones deleted (their blobs are cleaned in the background).
    pub tombstones: usize,
    /// Rows whose deletion failed (retried by the next pass).
    pub failed: usize,
}

impl Inner {
    /// One sweep pass. See the module docs. Counts the pass in
    /// `objectstore_tiered_sweep_passes_total` by outcome and its rows in
    /// `objectstore_tiered_sweep_rows_total` by result.
    pub(crate) async fn sweep(self: &Arc<Self>) -> Result<SweepReport> {
        let result = self.sweep_pass().await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("objectstore_tiered_sweep_passes_total", "outcome" => outcome)
            .increment(1);
        if let Ok(report) = &result {
            for (kind, n) in [
                ("scanned", report.scanned),
                ("object_deleted", report.objects),
                ("tombstone_deleted", report.tombstones),
                ("failed", report.failed),
            ] {
                metrics::counter!("objectstore_tiered_sweep_rows_total", "result" => kind)
                    .increment(n as u64);
            }
        }
        result
    }

    async fn sweep_pass(self: &Arc<Self>) -> Result<SweepReport> {
        let rate = self.config.sweep_rows_per_second.max(1);
        let batch = rate.min(1000) as usize;
        let mut report = SweepReport::default();
        let mut cursor: Option<ExpiryCursor> = None;
        loop {
            let now = self.clock.now();
            let rows = self.hv.scan_expired(now, cursor.as_ref(), batch).await?;
            for row in &rows {
                report.scanned += 1;
                match self.sweep_row(row, now).await {
                    Ok(Swept::Object) => report.objects += 1,
                    Ok(Swept::Tombstone) => report.tombstones += 1,
                    Ok(Swept::Nothing) => {}
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(%error, id = %row.id.as_storage_path(), "tiered: sweep of an expired row failed");
                    }
                }
            }
            let Some(last) = rows.last() else { break };
            if rows.len() < batch {
                break;
            }
            cursor = Some((last.expires, last.id.as_storage_path()));
            let pause = Duration::from_secs_f64(rows.len() as f64 / f64::from(rate));
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.shutdown.cancelled() => break,
            }
        }
        Ok(report)
    }

    pub(crate) async fn sweep_row(
        self: &Arc<Self>,
        row: &ExpiredRow,
        now: SystemTime,
    ) -> Result<Swept> {
        let Some(tombstone) = &row.tombstone else {
            return Ok(match self.hv.delete_if_expired(&row.id, now).await? {
                None => Swept::Object,
                Some(surprise) => {
                    self.record_after_the_fact(row, surprise).await?;
                    Swept::Tombstone
                }
            });
        };
        let target = tombstone.target.clone();
        let mut guard = self
            .begin(self.new_record(&row.id, Some(target.clone()), None))
            .await?;
        guard.ensure_owned().await?;
        let (hv, id) = (self.hv.clone(), row.id.clone());
        let deleted = guard
            .step(async move { hv.delete_if_expired(&id, now).await })
            .await?;
        match deleted {
            None => {
                guard.finish(Outcome::Lost);
                Ok(Swept::Nothing)
            }
            Some(gone) if gone.target == target => {
                guard.finish(Outcome::Committed);
                Ok(Swept::Tombstone)
            }
            Some(other) => {
                // Rewritten since the scan, and expired again: ours is unreferenced too.
                guard.finish(Outcome::Unknown);
                self.record_after_the_fact(row, other).await?;
                Ok(Swept::Tombstone)
            }
        }
    }

    /// Records and cleans a tombstone that `delete_if_expired` removed unannounced.
    async fn record_after_the_fact(
        self: &Arc<Self>,
        row: &ExpiredRow,
        gone: Tombstone,
    ) -> Result<()> {
        let guard = self
            .begin(self.new_record(&row.id, Some(gone.target), None))
            .await?;
        guard.finish(Outcome::Committed);
        Ok(())
    }
}

/// What happened to one expired row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Swept {
    /// Nothing (no longer expired, or gone).
    Nothing,
    /// An inline row (deleted, or found no longer expired).
    Object,
    /// A tombstone deleted; its blob is being cleaned.
    Tombstone,
}
