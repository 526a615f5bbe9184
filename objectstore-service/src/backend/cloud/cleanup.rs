//! Removal of abandoned multipart uploads ([`CloudBackend::cleanup_abandoned_uploads`]).
//!
//! An upload whose record is older than the cleanup age is aborted (natively, then its
//! bookkeeping); bookkeeping left behind by an upload that ended (entries without a record,
//! after a failed cleanup or a crash) is removed once its newest entry is that old. Ages
//! compare the store's modification times with the backend's clock, so the age should
//! dwarf any clock skew (hours, not seconds).
//!
//! [`CloudBackend::spawn_upload_cleanup`] runs it periodically (`uploads.cleanup_interval`,
//! age `uploads.abandoned_after`); the server starts it for every cloud store with a native
//! multipart API. A failed pass is logged and retried at the next tick; passes never
//! overlap.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use objectstore_types::ObjectId;

use super::{CloudBackend, codec};
use crate::error::Result;

/// What a listing says about one upload's bookkeeping.
#[derive(Default)]
struct Seen {
    /// When its record was written, if it has one.
    record: Option<SystemTime>,
    /// The newest modification of anything below it.
    newest: Option<SystemTime>,
}

impl CloudBackend {
    /// Starts the periodic cleanup of abandoned uploads on the current runtime: one pass
    /// right away, then one every `uploads.cleanup_interval`. Returns `None` (and starts
    /// nothing) when the store has no native multipart API or no runtime is current. The
    /// task ends when the handle is aborted or the runtime shuts down.
    pub fn spawn_upload_cleanup(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.native.as_ref()?;
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let backend = self.clone();
        Some(runtime.spawn(async move {
            let mut ticks = tokio::time::interval(backend.uploads.cleanup_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match backend
                    .cleanup_abandoned_uploads(backend.uploads.abandoned_after)
                    .await
                {
                    Ok(0) => {}
                    Ok(removed) => {
                        metrics::counter!("objectstore_lt_abandoned_uploads_removed_total")
                            .increment(removed as u64);
                        tracing::info!(
                            backend = backend.name,
                            removed,
                            "removed abandoned multipart uploads"
                        );
                    }
                    Err(e) => tracing::warn!(
                        backend = backend.name,
                        error = &e as &dyn std::error::Error,
                        "abandoned upload cleanup failed; retrying at the next interval"
                    ),
                }
            }
        }))
    }

    /// Removes multipart uploads started more than `age` ago (aborting them natively), and
    /// leftover bookkeeping of ended uploads. Returns how many uploads were removed.
    ///
    /// Uploads otherwise stay open indefinitely: standalone deployments call this
    /// periodically. (Behind the tiered layer, its deferred change records abort abandoned
    /// uploads.)
    pub async fn cleanup_abandoned_uploads(&self, age: Duration) -> Result<usize> {
        let native = self.native()?;
        let cutoff = self
            .clock
            .now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let metas: Vec<_> = self
            .store
            .list(Some(&codec::uploads_root()))
            .try_collect()
            .await
            .map_err(|e| self.fail("list multipart uploads", e))?;
        let mut uploads: BTreeMap<String, Seen> = BTreeMap::new();
        for meta in metas {
            // `.objectstore/multipart/<upload id>/upload` or `…/parts/<number>/<entry>`.
            let parts: Vec<_> = meta.location.parts().collect();
            let Some(upload_id) = parts.get(2) else {
                continue;
            };
            let modified = SystemTime::from(meta.last_modified);
            let seen = uploads.entry(upload_id.as_ref().to_owned()).or_default();
            if parts.len() == 4 && parts[3].as_ref() == "upload" {
                seen.record = Some(modified);
            }
            seen.newest = seen.newest.max(Some(modified));
        }
        let mut removed = 0;
        for (upload_id, seen) in uploads {
            match seen.record {
                Some(created) if created < cutoff => {
                    let record = match self.read_upload_record(&upload_id).await {
                        Ok(Some(record)) => record,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::warn!(
                                upload_id,
                                error = &e as &dyn std::error::Error,
                                "skipping an unreadable upload"
                            );
                            continue;
                        }
                    };
                    if let Some(id) = ObjectId::from_storage_path(&record.path) {
                        self.abort_native(native, &id, &record).await?;
                    }
                }
                None if seen.newest.is_some_and(|t| t < cutoff) => {}
                _ => continue,
            }
            self.remove_bookkeeping(&upload_id).await;
            removed += 1;
        }
        Ok(removed)
    }
}
