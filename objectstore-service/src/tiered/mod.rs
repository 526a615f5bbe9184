//! Tiered storage: small objects inline in the high-volume (HV) tier, large ones in the
//! long-term (LT) tier behind a **redirect tombstone**, kept consistent without locks.
//!
//! [`TieredStorage`] implements [`Backend`] and [`LongTermBackend`] on top of one
//! [`HighVolumeStore`] (rows through [`HighVolumeBackend`], the change log through
//! [`ChangeLog`]) and one [`LongTermBackend`]. Every read needs exactly one HV lookup:
//! an inline object, a tombstone (whose metadata is authoritative: size, expiry, content
//! type) pointing at an LT revision, or nothing.
//!
//! # Architecture invariants
//!
//! * **No acknowledged write is lost.** An operation returns `Ok` only after its commit
//!   point (one atomic HV call) applied, and nothing deletes a revision a tombstone
//!   references: cleanup deletes only revisions that are unreferenced for good.
//! * **No unreferenced LT blob survives recovery** (beyond the multipart grace period):
//!   before any LT side effect, a durable change record names every blob the operation may
//!   leave behind; the record is removed only once its cleanup succeeded, and recovery
//!   (this instance, or another after this one's lease expired) finishes it otherwise.
//! * **A read never returns bytes of a different revision than its metadata**: the
//!   tombstone names the exact revision (`{key}/{uuid_v7}`, written once, never
//!   overwritten) and carries that revision's metadata.
//! * **The long-term store is untrusted.** An acknowledged write was verified against the
//!   store's own account of it (before the commit point); a corrupt read never looks like
//!   success (see [Verification](#verification)).
//!
//! The crash matrix in the tests checks the first two after a crash before, after or
//! inside every backend call of every protocol.
//!
//! # Revisions and the commit point
//!
//! A large write never overwrites a blob: it stores a fresh revision `{key}/{uuid_v7}` and
//! swaps the tombstone with [`HighVolumeBackend::compare_and_write`] (CAS on the current
//! revision), which is the commit point. CAS is atomic and idempotent (a retry after a lost
//! response reports success), so each writer owns its revision and the CAS is an atomic
//! pointer swap.
//!
//! **Last writer wins.** A CAS that finds another revision is not an error: the operation
//! returns `Ok` (indistinguishable from succeeding a moment earlier and being overwritten)
//! and the loser removes its own blob. A large write takes its precondition when it starts,
//! so it loses to any write that committed while it was streaming.
//!
//! **Expiry lives in HV only.** LT revisions are stored with the object's metadata minus
//! `time_expires`, so the LT backend never expires or bumps them on its own; the tombstone
//! holds the deadline, TTI bumps and extensions move it there, and the sweeper deletes
//! tombstone and blob together.
//!
//! # Protocols
//!
//! Outcomes: **ok** (the step did what it should), **conflict** (CAS found another state),
//! **error** (failed, or unknown whether it applied). "Cleanup" is the background cleanup
//! of the operation's change record, see [Change records](#change-records).
//!
//! ## Large write (body > threshold)
//!
//! 0. Buffer at most `threshold` bytes (plus the chunk that crosses it) to decide the route.
//!    Every chunk passes through the MD5 and CRC-32C hashers and the byte count on the way
//!    (one pass, no copy): the object's ETag is that MD5.
//! 1. Read the HV row: `current` = the tombstone's target, or none. Error → fail, nothing
//!    happened.
//! 2. Append record `{old: current, new: revision}`. Error → fail (the dropped guard's
//!    cleanup removes the record if the append landed).
//! 3. Stream buffered prefix + rest to LT at `revision` (metadata without deadline or ETag).
//!    Error (backend or client stream) → fail; cleanup deletes the partial revision.
//!
//!    3a. **Verify** the store's receipt against what was sent: its MD5 and size when it
//!    reports them, else the size read back with an LT `head` (a missing revision fails).
//!    The body must have been read to its end. Mismatch (or a failed `head`) → fail with
//!    an integrity error (logged at ERROR, counted); cleanup deletes the revision (outcome
//!    lost); nothing reaches HV.
//! 4. Fencing (module `changes`): if the lease is not comfortably held, renew it and check the
//!    record is still ours. Taken over → fail; cleanup.
//! 5. **Commit**: CAS `current → Tombstone{revision, metadata with size, ETag, CRC-32C}`.
//!    * ok → `Ok`; cleanup deletes `old`.
//!    * conflict → `Ok` (last writer wins); cleanup deletes `revision`.
//!    * error → fail; cleanup reads the tombstone and deletes whichever of `old` /
//!      `revision` it does not reference (a commit whose response was lost keeps
//!      `revision`).
//!
//! ## Small write (body <= threshold)
//!
//! 1. HV `put` (metadata with size and the ETag, the MD5 of the buffered bytes). ok (no
//!    tombstone there) → `Ok`, done: **commit point**, no LT involved, no record. Error →
//!    fail.
//! 2. A tombstone of `old` is there: append record `{old}`, fencing.
//! 3. **Commit**: CAS `old → inline object`. ok → `Ok`, cleanup deletes `old`; conflict →
//!    `Ok`, nothing to delete (the winner cleans `old`); error → fail, cleanup reads the row.
//!
//! ## Delete
//!
//! 1. HV `delete`. ok (no tombstone) → `Ok`: **commit point**. Error → fail.
//! 2. A tombstone of `old`: append record `{old}`, fencing.
//! 3. **Commit**: CAS `old → delete`. ok → `Ok`, cleanup deletes `old` (a failing cleanup
//!    does not fail the delete: the object is unreachable, recovery removes the blob);
//!    conflict → `Ok` (a concurrent write won); error → fail, cleanup reads the row.
//!
//! ## Reads, HEAD, expiry extension
//!
//! * GET: one HV lookup. Inline → served by HV (range, TTI handled there). Tombstone →
//!   expired by the clock → absent; else the LT revision with the range passed through, the
//!   tombstone's metadata in the response (`size` from it), its body checked (see
//!   [Verification](#verification)) and its first chunk awaited before the answer, then a
//!   best-effort TTI bump: CAS `target → Tombstone{target, bumped metadata}` (skipped on
//!   conflict or error). A missing revision (lost data) reads as absent.
//! * HEAD: the tombstone's metadata, no LT call (so a tombstone whose blob was lost still
//!   answers HEAD; GET then reports absent).
//! * `extend_expiry`: inline → the HV backend's `extend_expiry` (atomic); tombstone →
//!   [`crate::expiry::plan_extension`], then CAS `target → Tombstone{target, new metadata}`:
//!   ok → `Satisfied`, conflict (a concurrent write replaced the revision) → `Conflict`.
//!
//! ## Multipart upload
//!
//! The upload id is the unpadded base64url of `{"revision", "upload_id"}`; every call checks
//! that the revision is `{id.key}/{uuid_v7}` of the requested object (undecodable →
//! `InvalidRequest`, another object's → `NotFound`), so an upload id can never direct a write
//! elsewhere. The revision's UUID is stamped with the engine's clock and fixes the
//! **deadline** (`multipart_deadline` after initiation) for parts and completes.
//!
//! **Initiate:** (1) LT initiate at the revision; (2) append the **deferred record**
//! `D = {change_id: revision uuid, new: revision, upload_id, not_before: deadline + grace}`;
//! error → abort the LT upload, fail. Then hand out the id. `D` *owns* the revision: no
//! other cleanup deletes it (they skip a revision whose deferred record exists), only `D`'s
//! own cleanup does, once due: it aborts the upload and deletes the revision unless a
//! tombstone references it. (A crash between (1) and (2) leaves an empty LT upload open,
//! with no part and no blob: the client never received its id. This is the one LT state
//! created before its record; LT lifecycle rules for abandoned uploads reclaim it.)
//!
//! **Upload part:** validated (refused with `Gone` after the deadline), then the body
//! streams through the MD5 hasher to the LT upload together with the digest: the LT backend
//! compares its own account of the bytes (size, MD5) with it **before it records the part**
//! (a part cannot be deleted, and a recorded corrupt part could be completed with the ETag
//! `list_parts` reports), and the receipt is compared again here. The part's ETag is the
//! quoted MD5 computed here, whatever the store calls the part.
//!
//! **List / abort:** validated, then passed through; `list_parts` names each part by the
//! ETag handed out for it (its MD5; the store's ETag for a part stored before the store kept
//! MD5s). Abort leaves `D` in place until due and appends the **abort marker** `A` (change
//! id: the revision uuid as version 8 with the reserved variant, due with `D`): the upload
//! is no longer listed open and a later complete is `NotFound`.
//!
//! **Complete** (retry-safe):
//!
//! 1. Read the HV row. The tombstone already targets the revision → `Ok` (an earlier
//!    attempt committed).
//! 2. The commit marker `M` (change id: the revision uuid as version 8) exists → `Ok` (an
//!    earlier attempt committed and the object was overwritten since; do not resurrect).
//!    The abort marker `A` exists → `NotFound`.
//! 3. `D` missing → `Gone` past the deadline, else `NotFound`. Past the deadline → `Gone`.
//! 4. Append a normal record `{old: current, new: none}`: the new revision stays owned by
//!    `D`, so a failed attempt's cleanup can never delete it.
//!
//!    4b. List the LT parts (all pages). Each listed part must be uploaded and named by
//!    the ETag handed out for it, else the complete is rejected (`InvalidPart`, nothing
//!    changed); the names are translated to the store's ETags. This fixes the expected
//!    size (the sum of the parts') and the ETag `md5(part MD5s)-N`. The upload no longer
//!    listed (`NotFound`: an earlier attempt may have assembled it) → nothing to check
//!    against: continue with the client's names, and the object gets no ETag.
//! 5. LT complete. Rejection → proxied as `Ok(Some(rejection))`, upload stays open. Error →
//!    remembered (the assembly may have happened, possibly in an earlier attempt).
//! 6. LT metadata of the revision (existence check; the deadline is recomputed from
//!    `time_created` as fixed at initiation). Missing → the step-5 error (or internal).
//!
//!    6a. **Verify** the assembled size against the parts' sum (when listed). Mismatch →
//!    fail with an integrity error, nothing committed; the revision stays owned by `D`
//!    (never committed: every retry fails the same check) and goes with it.
//! 7. Fencing, then: refuse (`Gone`) if `now + grace/2 > D.not_before`; then **commit**:
//!    CAS `current → Tombstone{revision, metadata}`. ok or conflict → continue; error →
//!    fail (retryable: nothing of the revision was deleted).
//! 8. Append `M` (best effort; due with `D`), finish the record (cleanup deletes `old` if
//!    replaced), `Ok`.
//!
//! A failed complete stays retryable until the deadline: nothing but `D` ever deletes the
//! revision, and `D` acts only after deadline + grace. **The seed-001 race** (the cleanup of
//! a failed attempt deleting the fixed revision key while a retry commits it) cannot happen:
//! no attempt's record names the revision. A concurrent retry racing a commit and an
//! overwrite may commit the same revision again (if it checked step 2 before the marker
//! landed); its blob is still owned by `D`, so this is an ordinary later write, never a
//! tombstone to a deleted blob. Cost: an overwritten or deleted multipart revision stays in
//! LT until its upload's deadline + grace.
//!
//! **Remaining window:** a complete passes step 7's time check, then its CAS lands only
//! after another instance processed `D` (which it does at `D.not_before` by its own clock).
//! That needs the CAS call's latency plus the clock skew between the instances to exceed
//! `grace / 2` (30 min by default); the result would be a tombstone to a deleted revision
//! (reads absent, the previous object is replaced). `multipart_grace` must be chosen above
//! that bound.
//!
//! ## Conditional writes
//!
//! A put, delete or multipart complete with a [`Precondition`](crate::backend::Precondition)
//! (`Absent` for S3's `If-None-Match: *`, `ETagMatches(e)` for `If-Match: e`; judged at the
//! engine's clock, an expired object counts as absent) runs the protocol above with two
//! changes ([`Catalog`](crate::backend::catalog::Catalog), module `conditional`):
//!
//! 1. **Early refusal.** The first step reads the row anyway (`head`, where the
//!    unconditional small write and delete call `put`/`delete` instead): the precondition
//!    fails on it → [`Error::PreconditionFailed`](crate::Error::PreconditionFailed), nothing
//!    stored, no record, the body not read (large writes) or the upload left open
//!    (complete, after its retry checks 1-2: a complete that already committed succeeds).
//! 2. **The commit judges it again, atomically:** the compare-and-write expects the row's
//!    revision *and* the precondition (`Expected { revision, precondition }`), so the row
//!    judged is the row replaced. An inline row or no row, which has no revision, is
//!    replaced by a compare-and-write too (not by `put`/`delete`). Not written → the
//!    operation lost: its record is finished as lost (a large write's revision is deleted;
//!    a complete's revision stays owned by its deferred record, no marker is written), then
//!    the row is read again: the precondition fails on it → `PreconditionFailed`; it still
//!    holds (a concurrent write replaced the expected row with one that also meets it) →
//!    [`Error::Conflict`](crate::Error::Conflict), retryable (S3's
//!    `ConditionalRequestConflict`).
//!
//! Of racing `If-None-Match: *` writers of an absent object exactly one wins; of racing
//! `If-Match: e` writers exactly those win whose commit finds the tag still `e` (one, unless
//! the winners write identical bytes inline).
//! ## Verification
//!
//! The LT store is treated as untrusted ([`crate::integrity`]): what it says it kept is
//! compared with what was sent before anything commits, and what it returns is compared
//! with what was stored before anything is served as success. Every failure is an
//! integrity error (HTTP 500, retryable), logged at ERROR with the revision's id and counted
//! in `objectstore_integrity_failures_total{operation,check}`.
//!
//! * **Writes** (large write step 3a, part uploads, multipart step 6a): see the steps. How
//!   much a store's account proves depends on the store: an MD5 (S3 with MD5 ETags, the
//!   in-memory store, and every part on our LT backends) proves the bytes; a size (the
//!   filesystem's fsynced file, a `head` of stores that report nothing: Azure, GCS, streamed
//!   S3 uploads) proves only the length, so a flipped byte there is caught by the reads.
//! * **Reads** of an LT revision: the body is counted against the tombstone's size (a
//!   range's length for a range) and, for a whole object of a single write, checksummed
//!   with the CRC-32C stored beside its ETag (the write computed both in one pass; CRC-32C
//!   catches truncation, flips and a wrong blob as well as MD5 would, at a few percent of
//!   its cost, so reads stay fast).
//!   The last chunk is held back until the check passed, so a short, long or altered body
//!   ends in an error before it looks complete (the HTTP layer aborts the response). The
//!   first chunk is awaited before the call returns: a store failing before the first byte,
//!   or a one-chunk body failing its check, is an error of the call (a 5xx), not an empty
//!   reply. Ranges are checked for their length only; multipart objects (`-N` ETags) for
//!   their length only. Inline objects (HV) are not checked.
//!
//! ## Expiry sweep
//!
//! See module `sweeper`: for each expired row at a bounded rate; for a tombstone: append
//! `{old: target}`, fencing, **commit** `delete_if_expired`, cleanup deletes the blob only if
//! the tombstone is gone (and no deferred record owns the revision).
//!
//! # Change records
//!
//! See module `changes` and module `recovery`. Every guarded operation holds a guard; finishing it or
//! dropping it (error, panic, the caller's future cancelled) starts the cleanup in the
//! background (tracked, so [`Component::join`] waits): with a known outcome it deletes `old`
//! (committed) or `new` (lost); otherwise it reads the current tombstone and deletes what it
//! does not reference. Then it removes the record. Steps that may still run when the caller
//! goes away (the LT write, the CAS) run as their own tasks, and the cleanup waits for them
//! to settle first, so a cancelled caller never races its own in-flight write. A failed
//! cleanup keeps the record: this instance retries it every recovery pass; another instance
//! claims it once this one's lease expired.
//!
//! Recovery (at start-up, spawned by [`TieredStorage::new`] with `ignore_leases =
//! log.is_exclusive()`, then every `recovery_interval`): renew the lease, retry own failed
//! cleanups, [`ChangeLog::claim_records`] due records and process each like a cleanup
//! with an unknown outcome.
//!
//! **Fencing window:** an instance that paused for longer than its lease may have its
//! records taken over. It re-checks ownership before every commit when its lease is not
//! comfortably held, so only a pause *between* that check and the commit landing (longer
//! than the remaining lease) could let recovery delete a revision that is then committed.
//!
//! Other known limits: a TTI bump racing an extension of the same revision may undo the
//! extension (the CAS compares revisions, not deadlines); a row that turns from inline into
//! an already-expired tombstone between a sweep's scan and delete is deleted before its
//! record is appended (a crash exactly then leaks that blob).
//!
//! # Code
//!
//! `routing` implements [`Backend`] for [`TieredStorage`] (writes by size, reads, deletes,
//! extensions), `multipart` implements [`LongTermBackend`] (multipart, `list_blobs`),
//! `conditional` the [`Catalog`](crate::backend::catalog::Catalog) (conditional writes, the
//! listing, open uploads through `uploads`); all run the protocols on the shared `Inner`
//! state. `changes` holds the change guard and cleanup, `recovery` the recovery pass and the
//! background loop, `sweeper` the expiry sweep, `verify` the checks of
//! [Verification](#verification).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[cfg(doc)]
use crate::backend::Backend;
use crate::backend::{
    ChangeLog, Component, HighVolumeBackend, HighVolumeStore, InstanceId, LongTermBackend,
};
use crate::clock::SharedClock;
use crate::error::Result;

mod changes;
mod conditional;
mod multipart;
mod recovery;
mod routing;
mod sweeper;
#[cfg(test)]
mod tests;
mod uploads;
mod verify;

pub use recovery::RecoveryReport;
pub use sweeper::SweepReport;

/// Settings of [`TieredStorage`]. Every field has a production default ([`Default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TieredConfig {
    /// Largest object (bytes) stored inline in the high-volume tier; larger ones go to the
    /// long-term tier behind a tombstone. Default 1 MiB.
    pub threshold: usize,
    /// This process's identity in the change log and the lease table. Must be unique per
    /// process lifetime: recovery never takes over records of its own id. Default: a random
    /// UUID v4.
    pub instance_id: InstanceId,
    /// How long a lease renewal keeps this instance's records away from other instances'
    /// recovery. Default 30 s.
    pub lease_duration: Duration,
    /// How often the background loop renews the lease (well below `lease_duration`).
    /// Default 10 s.
    pub lease_renew_interval: Duration,
    /// How often the background loop runs recovery (claims records of dead instances and
    /// due deferred records, retries this instance's failed cleanups). Default 60 s.
    pub recovery_interval: Duration,
    /// Records claimed per `claim_records` call. Default 100.
    pub recovery_batch: usize,
    /// How often the background loop sweeps expired rows. Default 60 s.
    pub sweep_interval: Duration,
    /// Upper bound of expired rows the sweeper handles per second. Default 1000.
    pub sweep_rows_per_second: u32,
    /// How long after initiation a multipart upload may receive parts and be completed.
    /// Default 24 h.
    pub multipart_deadline: Duration,
    /// Extra time after the multipart deadline before an unfinished upload is cleaned up;
    /// must exceed the clock skew between instances plus the longest high-volume call.
    /// Default 1 h.
    pub multipart_grace: Duration,
    /// Background cleanups (guards and recovery) running at once. Default 16.
    pub cleanup_concurrency: usize,
    /// Whether [`TieredStorage::new`] spawns the background loop (start-up recovery, lease
    /// renewal, periodic recovery, sweeps). Tools and tests that drive
    /// [`TieredStorage::recover_now`] and [`TieredStorage::sweep_expired`] themselves turn
    /// it off. Default `true`.
    pub background: bool,
}

impl Default for TieredConfig {
    fn default() -> Self {
        Self {
            threshold: 1024 * 1024,
            instance_id: uuid::Uuid::new_v4().to_string(),
            lease_duration: Duration::from_secs(30),
            lease_renew_interval: Duration::from_secs(10),
            recovery_interval: Duration::from_secs(60),
            recovery_batch: 100,
            sweep_interval: Duration::from_secs(60),
            sweep_rows_per_second: 1000,
            multipart_deadline: Duration::from_secs(24 * 3600),
            multipart_grace: Duration::from_secs(3600),
            cleanup_concurrency: 16,
            background: true,
        }
    }
}

/// The two-tier storage engine. See the module docs for the protocols.
///
/// Dropping it stops the background loop; call [`Component::join`] first for a clean
/// shutdown (it waits for cleanups and releases the lease).
#[derive(Debug)]
pub struct TieredStorage {
    inner: Arc<Inner>,
}

/// State shared by the storage handle, its guards and its background tasks.
#[derive(Debug)]
pub(crate) struct Inner {
    /// The rows of the high-volume store.
    pub(crate) hv: Arc<dyn HighVolumeBackend>,
    /// The change log of the same store.
    pub(crate) log: Arc<dyn ChangeLog>,
    pub(crate) lt: Arc<dyn LongTermBackend>,
    pub(crate) clock: SharedClock,
    pub(crate) config: TieredConfig,
    /// Every background task (cleanups, protocol steps, the loop): `join` waits for them.
    pub(crate) tracker: TaskTracker,
    /// Stops the background loop.
    pub(crate) shutdown: CancellationToken,
    /// Bounds concurrent cleanups.
    pub(crate) cleanup_permits: Arc<Semaphore>,
    /// Until when this instance's lease is known to be held (as of the last renewal).
    lease_until: Mutex<Option<SystemTime>>,
    /// Records of this instance whose cleanup failed; retried by every recovery pass.
    retry: Mutex<BTreeSet<uuid::Uuid>>,
    /// Test-only: multipart complete as in the seed (the guard owns the new revision), to
    /// reproduce the cleanup race our design removes.
    #[cfg(test)]
    pub(crate) naive_multipart: std::sync::atomic::AtomicBool,
}

impl Inner {
    pub(crate) fn instance_id(&self) -> &str {
        &self.config.instance_id
    }

    fn lease_until(&self) -> Option<SystemTime> {
        *self
            .lease_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_lease_until(&self, until: Option<SystemTime>) {
        *self
            .lease_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = until;
    }

    fn retry_set(&self) -> std::sync::MutexGuard<'_, BTreeSet<uuid::Uuid>> {
        self.retry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn naive(&self) -> bool {
        self.naive_multipart
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    #[cfg(not(test))]
    pub(crate) fn naive(&self) -> bool {
        false
    }
}

impl TieredStorage {
    /// Builds the engine over a high-volume store and a long-term backend. Must be called
    /// inside a tokio runtime: with `config.background`, it spawns the loop that first runs
    /// start-up recovery (taking over every other instance's records at once when the
    /// high-volume store [is exclusive](ChangeLog::is_exclusive)), then renews the lease,
    /// runs recovery and sweeps expired rows periodically.
    pub fn new(
        hv: Arc<dyn HighVolumeStore>,
        lt: Arc<dyn LongTermBackend>,
        clock: SharedClock,
        config: TieredConfig,
    ) -> TieredStorage {
        let background = config.background;
        let inner = Arc::new(Inner {
            log: hv.clone(),
            hv,
            lt,
            clock,
            cleanup_permits: Arc::new(Semaphore::new(config.cleanup_concurrency.max(1))),
            config,
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            lease_until: Mutex::new(None),
            retry: Mutex::new(BTreeSet::new()),
            #[cfg(test)]
            naive_multipart: std::sync::atomic::AtomicBool::new(false),
        });
        if background {
            inner.tracker.spawn(inner.clone().run_background());
        }
        TieredStorage { inner }
    }

    /// This instance's id in the change log.
    pub fn instance_id(&self) -> &str {
        self.inner.instance_id()
    }

    /// Runs one recovery pass now: renews the lease, retries this instance's failed
    /// cleanups, then claims and processes every due record (deferred records past their
    /// `not_before`, records of instances whose lease expired, or with `ignore_leases` of
    /// every other instance; only safe when no other instance is alive).
    pub async fn recover_now(&self, ignore_leases: bool) -> Result<RecoveryReport> {
        self.inner.recover(ignore_leases).await
    }

    /// Runs one expiry sweep now (rate-bounded): deletes expired inline rows and expired
    /// tombstones with their long-term blobs.
    pub async fn sweep_expired(&self) -> Result<SweepReport> {
        self.inner.sweep().await
    }

    /// Waits for every cleanup and protocol step started so far, leaving the backends open
    /// (unlike [`Component::join`]). For tools that drive the engine themselves with
    /// `config.background` off (with the loop running this waits until shutdown).
    pub async fn settle(&self) {
        let tracker = &self.inner.tracker;
        tracker.close();
        tracker.wait().await;
        tracker.reopen();
    }

    #[cfg(test)]
    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl Drop for TieredStorage {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

#[async_trait]
impl Component for TieredStorage {
    fn name(&self) -> &'static str {
        "tiered"
    }

    /// Stops the background loop, waits for every cleanup and in-flight protocol step,
    /// releases the lease (so that records left by failed cleanups become recoverable at
    /// once) and joins both backends. The storage stays usable afterwards (operations renew
    /// the lease on demand), which tests use to drain cleanups.
    async fn join(&self) {
        let inner = &self.inner;
        inner.shutdown.cancel();
        inner.tracker.close();
        inner.tracker.wait().await;
        inner.set_lease_until(None);
        if let Err(error) = inner.log.release_lease(inner.instance_id()).await {
            tracing::warn!(%error, "tiered: could not release the lease");
        }
        tokio::join!(inner.hv.join(), inner.lt.join());
    }
}
