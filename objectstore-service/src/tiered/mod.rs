//! (module docs: see the end of this task)

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{
    Backend, CompleteRejection, CompletedPart, ExpiryTarget, ExtendOutcome, GetResponse,
    HighVolumeBackend, InstanceId, LongTermBackend, PartsPage,
};
use crate::clock::SharedClock;
use crate::error::Result;
use crate::stream::PayloadStream;

mod changes;
mod multipart;
mod recovery;
mod routing;
mod sweeper;
#[cfg(test)]
mod tests;

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
    /// Records claimed per `log_claim` call. Default 100.
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
/// Dropping it stops the background loop; call [`Backend::join`] first for a clean
/// shutdown (it waits for cleanups and releases the lease).
#[derive(Debug)]
pub struct TieredStorage {
    inner: Arc<Inner>,
}

/// State shared by the storage handle, its guards and its background tasks.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) hv: Arc<dyn HighVolumeBackend>,
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
    /// Builds the engine over a high-volume and a long-term backend. Must be called inside a
    /// tokio runtime: with `config.background`, it spawns the loop that first runs start-up
    /// recovery (taking over every other instance's records at once when the high-volume
    /// backend [is exclusive](HighVolumeBackend::is_exclusive)), then renews the lease, runs
    /// recovery and sweeps expired rows periodically.
    pub fn new(
        hv: Arc<dyn HighVolumeBackend>,
        lt: Arc<dyn LongTermBackend>,
        clock: SharedClock,
        config: TieredConfig,
    ) -> TieredStorage {
        let background = config.background;
        let inner = Arc::new(Inner {
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
impl Backend for TieredStorage {
    fn name(&self) -> &'static str {
        "tiered"
    }

    async fn put_object(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        self.inner.put(id, metadata, body).await
    }

    async fn get_object(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        self.inner.get(id, range).await
    }

    async fn get_metadata(&self, id: &ObjectId) -> Result<Option<Metadata>> {
        self.inner.head(id).await
    }

    async fn delete_object(&self, id: &ObjectId) -> Result<()> {
        self.inner.delete(id).await
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        self.inner.extend(id, target, now).await
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
        if let Err(error) = inner.hv.lease_release(inner.instance_id()).await {
            tracing::warn!(%error, "tiered: could not release the lease");
        }
        tokio::join!(inner.hv.join(), inner.lt.join());
    }
}

#[async_trait]
impl LongTermBackend for TieredStorage {
    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        self.inner.initiate_multipart(id, metadata).await
    }

    async fn upload_part(
        &self,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String> {
        self.inner
            .upload_part(id, upload_id, part_number, content_length, body)
            .await
    }

    async fn list_parts(
        &self,
        id: &ObjectId,
        upload_id: &str,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage> {
        self.inner
            .list_parts(id, upload_id, max_parts, marker)
            .await
    }

    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        self.inner.abort_multipart(id, upload_id).await
    }

    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        self.inner.complete_multipart(id, upload_id, parts).await
    }
}
