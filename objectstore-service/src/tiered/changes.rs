//! The change manager: durable change records, the per-operation [`ChangeGuard`], and the
//! cleanup that every record ends with (from a guard or from recovery).
//!
//! **Invariants**
//!
//! * A record is durable ([`ChangeLog::append_record`] returned) before the operation
//!   causes any long-term side effect, and it names every blob the operation may leave
//!   unreferenced (`old`, `new`).
//! * A record is removed only after its cleanup succeeded; a failed cleanup leaves it for
//!   the next recovery pass (this instance's retry set, or another instance after this
//!   one's lease expired).
//! * Cleanup deletes a blob only if it is unreferenced *and stays so*: a revision that a
//!   tombstone stopped referencing is never referenced again, with one exception, the
//!   revision of an open multipart upload, which a retried complete may commit. Such a
//!   revision is owned by its deferred record and deleted only by that record's own
//!   cleanup, after the upload's deadline and grace (see `multipart`).
//! * A protocol step that may still be running when the caller's future is dropped runs in
//!   its own task; the cleanup triggered by the drop first waits for it to settle, so it
//!   never reads the state "before" a write that lands "after" it.
//!
//! [`ChangeLog::append_record`]: crate::backend::ChangeLog::append_record

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use objectstore_types::ObjectId;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::Inner;
use crate::backend::{ChangeRecord, TieredMetadata, TieredWrite};
use crate::error::{Error, Result};

/// What the commit step of an operation did, as far as the operation knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The commit applied: the tombstone referenced `new` (or, with no `new`, `old` was
    /// removed). `old` is unreferenced for good.
    Committed,
    /// The commit did not apply (a concurrent writer won): `new` was never referenced;
    /// `old` belongs to whoever replaced it.
    Lost,
    /// Unknown (error, cancellation, or recovery): read the current tombstone.
    Unknown,
}

/// The UUID suffix of a revision key `{key}/{uuid}`, if the id looks like a revision.
pub(crate) fn revision_uuid(revision: &ObjectId) -> Option<uuid::Uuid> {
    let (_, suffix) = revision.key.as_str().rsplit_once('/')?;
    uuid::Uuid::try_parse(suffix).ok()
}

impl Inner {
    /// A fresh (not deferred) record of this instance.
    pub(crate) fn new_record(
        &self,
        id: &ObjectId,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
    ) -> ChangeRecord {
        ChangeRecord {
            change_id: uuid::Uuid::now_v7(),
            owner: self.instance_id().to_owned(),
            id: id.clone(),
            old,
            new,
            upload_id: None,
            not_before: None,
        }
    }

    /// The revision the row of `id` references now (`None`: no tombstone).
    pub(crate) async fn current_target(&self, id: &ObjectId) -> Result<Option<ObjectId>> {
        Ok(match self.hv.head(id).await? {
            TieredMetadata::Tombstone(t) => Some(t.target),
            TieredMetadata::NotFound | TieredMetadata::Object(_) => None,
        })
    }

    /// Durably appends `record` and returns the guard that ends it. If the append fails,
    /// the returned error is the append's and the (dropped) guard still cleans up, since
    /// the append may have landed.
    pub(crate) async fn begin(self: &Arc<Self>, record: ChangeRecord) -> Result<ChangeGuard> {
        self.ensure_lease().await?;
        let mut guard = ChangeGuard {
            inner: self.clone(),
            record: Some(record.clone()),
            inflight: None,
            _token: self.tracker.token(),
        };
        let log = self.log.clone();
        guard
            .step(async move { log.append_record(&record).await })
            .await?;
        Ok(guard)
    }

    /// Whether the lease is known to be held for at least another third of its duration.
    fn lease_is_comfortable(&self) -> bool {
        let margin = self.config.lease_duration / 3;
        let now = self.clock.now();
        self.lease_until().is_some_and(|until| until > now + margin)
    }

    /// Renews the lease unless it is comfortably held, so that no record is appended (and
    /// no commit made) by an instance whose records others may already take over.
    async fn ensure_lease(&self) -> Result<()> {
        if self.lease_is_comfortable() {
            return Ok(());
        }
        self.renew_lease().await
    }

    /// Renews this instance's lease for `lease_duration` from now.
    pub(crate) async fn renew_lease(&self) -> Result<()> {
        let now = self.clock.now();
        let until = now + self.config.lease_duration;
        self.log.renew_lease(self.instance_id(), until).await?;
        self.set_lease_until(Some(until));
        Ok(())
    }

    /// Runs the cleanup of `record` in the background (after `inflight` settled). Without a
    /// runtime (a guard dropped after shutdown), leaves the record for recovery.
    fn spawn_cleanup(
        self: &Arc<Self>,
        record: ChangeRecord,
        outcome: Outcome,
        inflight: Option<JoinHandle<()>>,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                change_id = %record.change_id,
                "tiered: no runtime to clean up a change; left for recovery"
            );
            return;
        };
        let inner = self.clone();
        self.tracker.spawn_on(
            async move {
                if let Some(step) = inflight {
                    // Settle first; a panicked step is as good as a failed one.
                    let _ = step.await;
                }
                let _permit = inner.cleanup_permits.clone().acquire_owned().await;
                let cleanup = AssertUnwindSafe(inner.cleanup(&record, outcome)).catch_unwind();
                if cleanup.await.is_err() {
                    tracing::error!(change_id = %record.change_id, "tiered: cleanup panicked");
                    inner.retry_set().insert(record.change_id);
                }
            },
            &runtime,
        );
    }

    /// Processes `record`; on failure keeps it in the retry set. Returns whether it is done.
    pub(crate) async fn cleanup(&self, record: &ChangeRecord, outcome: Outcome) -> bool {
        match self.process(record, outcome).await {
            Ok(()) => {
                metrics::counter!("objectstore_tiered_cleanups_total", "outcome" => "ok")
                    .increment(1);
                self.retry_set().remove(&record.change_id);
                true
            }
            Err(error) => {
                metrics::counter!("objectstore_tiered_cleanups_total", "outcome" => "failed")
                    .increment(1);
                tracing::warn!(
                    change_id = %record.change_id,
                    id = %record.id.as_storage_path(),
                    %error,
                    "tiered: cleanup failed; the change record stays for recovery"
                );
                self.retry_set().insert(record.change_id);
                false
            }
        }
    }

    /// The cleanup of one record:
    ///
    /// 1. Determine the referenced revision: from the outcome, or (unknown) by reading the
    ///    current tombstone of `record.id`.
    /// 2. Delete `old` and `new` unless referenced, skipping a revision owned by another
    ///    (deferred multipart) record.
    /// 3. Abort the record's multipart upload, if any (unknown uploads succeed).
    /// 4. Remove the record.
    ///
    /// Idempotent: every step may be repeated after a failure or a crash.
    pub(crate) async fn process(&self, record: &ChangeRecord, outcome: Outcome) -> Result<()> {
        let referenced = match outcome {
            Outcome::Committed => record.new.clone(),
            Outcome::Lost => record.old.clone(),
            Outcome::Unknown => self.current_target(&record.id).await?,
        };
        let mut blobs: Vec<&ObjectId> = record.old.iter().chain(record.new.iter()).collect();
        blobs.dedup();
        for blob in blobs {
            if Some(blob) == referenced.as_ref() || self.owned_elsewhere(blob, record).await? {
                continue;
            }
            self.lt.delete(blob).await?;
        }
        if let (Some(upload_id), Some(new)) = (&record.upload_id, &record.new) {
            self.lt.abort_multipart(new, upload_id).await?;
        }
        self.log.remove_record(&record.change_id).await
    }

    /// Whether `blob` is the revision of a multipart upload whose deferred record (another
    /// one than `record`) still exists: that record alone may delete it.
    async fn owned_elsewhere(&self, blob: &ObjectId, record: &ChangeRecord) -> Result<bool> {
        let Some(uuid) = revision_uuid(blob) else {
            return Ok(false);
        };
        if uuid == record.change_id {
            return Ok(false);
        }
        Ok(self
            .log
            .get_record(&uuid)
            .await?
            .is_some_and(|owner| owner.new.as_ref() == Some(blob)))
    }
}

/// The guard of one operation's change record.
///
/// Finishing it ([`ChangeGuard::finish`]) or dropping it (error, panic, cancelled caller)
/// starts the record's cleanup in the background. While it lives, [`Component::join`] waits.
///
/// [`Component::join`]: crate::backend::Component::join
#[derive(Debug)]
pub(crate) struct ChangeGuard {
    inner: Arc<Inner>,
    /// `None` once finished.
    record: Option<ChangeRecord>,
    /// The protocol step that may still be running (see [`ChangeGuard::step`]).
    inflight: Option<JoinHandle<()>>,
    _token: TaskTrackerToken,
}

impl ChangeGuard {
    fn record(&self) -> Result<&ChangeRecord> {
        self.record
            .as_ref()
            .ok_or_else(|| Error::Internal("change guard used after finishing".into()))
    }

    /// Runs one protocol step as its own task, so that dropping the caller cannot stop it
    /// halfway: the cleanup started by the drop waits for the step to settle first.
    pub(crate) async fn step<T, F>(&mut self, step: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.inflight = Some(self.inner.tracker.spawn(async move {
            let _ = tx.send(step.await);
        }));
        let result = rx
            .await
            .map_err(|_| Error::Internal("a storage protocol step panicked".into()))?;
        self.inflight = None;
        result
    }

    /// Fencing before a commit: makes sure no other instance's recovery may be processing
    /// this record. Free while the lease is comfortably valid; otherwise renews the lease and
    /// checks that the record is still owned by this instance (recovery of another instance
    /// takes records over only after the lease expired).
    pub(crate) async fn ensure_owned(&mut self) -> Result<()> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let margin = inner.config.lease_duration / 3;
        if inner
            .lease_until()
            .is_some_and(|until| until > now + margin)
        {
            return Ok(());
        }
        inner.renew_lease().await?;
        let change_id = self.record()?.change_id;
        match inner.log.get_record(&change_id).await? {
            Some(record) if record.owner == inner.instance_id() => Ok(()),
            _ => Err(Error::backend(
                "tiered",
                "commit a change",
                "this instance's lease lapsed and recovery took over the change; nothing was committed",
            )),
        }
    }

    /// The commit point of a guarded write: fencing ([`ChangeGuard::ensure_owned`]), then
    /// the compare-and-write ([`ChangeGuard::compare_and_write`]).
    pub(crate) async fn commit(
        &mut self,
        id: &ObjectId,
        current: Option<ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        self.ensure_owned().await?;
        self.compare_and_write(id, current, write).await
    }

    /// The high-volume compare-and-write of `id` as a protocol step ([`ChangeGuard::step`]);
    /// whether the row now holds `write`.
    pub(crate) async fn compare_and_write(
        &mut self,
        id: &ObjectId,
        current: Option<ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        let (hv, id) = (self.inner.hv.clone(), id.clone());
        self.step(async move { hv.compare_and_write(&id, current.as_ref(), write).await })
            .await
    }

    /// Ends a write after its commit point: committed when `written`, else lost to a
    /// concurrent write.
    pub(crate) fn finish_write(self, written: bool) {
        self.finish(if written {
            Outcome::Committed
        } else {
            Outcome::Lost
        });
    }

    /// Ends the operation with a known outcome and starts the cleanup.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        if let Some(record) = self.record.take() {
            self.inner
                .spawn_cleanup(record, outcome, self.inflight.take());
        }
    }
}

impl Drop for ChangeGuard {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            self.inner
                .spawn_cleanup(record, Outcome::Unknown, self.inflight.take());
        }
    }
}
