//! [`StorageService`]: the storage engine's API for the HTTP layer.
//!
//! **Invariants**
//!
//! * Every operation runs in its own spawned task and runs to completion even if the caller
//!   (the HTTP request) goes away: a client disconnect never leaves a half-done commit
//!   protocol behind.
//! * A panic inside an operation is isolated: it becomes [`Error::Internal`] for that
//!   operation only.
//! * Metadata of every write is stamped here (`time_created`, `time_expires`) from the
//!   service's clock, once, so all backends agree.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use crate::backend::{
    CompleteRejection, CompletedPart, ExpiryTarget, ExtendOutcome, GetResponse, LongTermBackend,
    PartsPage,
};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::stream::PayloadStream;

/// Limits of the storage service (config section `service`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Operations running at once (`service.max_concurrency`, default 500).
    pub max_concurrency: usize,
    /// Operations that may wait for a permit (`service.concurrency_queue`, default 0).
    pub concurrency_queue: usize,
    /// How long a queued operation waits (`service.concurrency_timeout`, default 1 s).
    pub concurrency_timeout: Duration,
    /// Share of `max_concurrency` batch operations may use (`service.bulk_concurrency_pct`,
    /// default 60, clamped to 1..=100).
    pub bulk_concurrency_pct: u8,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 500,
            concurrency_queue: 0,
            concurrency_timeout: Duration::from_secs(1),
            bulk_concurrency_pct: 60,
        }
    }
}

/// The storage engine as the HTTP layer sees it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StorageService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Arc<dyn LongTermBackend>,
    clock: SharedClock,
    #[allow(
        dead_code,
        reason = "limits are enforced by the concurrency limiter (in progress)"
    )]
    config: ServiceConfig,
}

impl StorageService {
    /// Wraps a backend (usually [`crate::tiered::TieredStorage`] or a standalone filesystem
    /// backend).
    pub fn new(
        backend: Arc<dyn LongTermBackend>,
        clock: SharedClock,
        config: ServiceConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                clock,
                config,
            }),
        }
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// The current time of the service's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// Runs `op` in its own task, to completion, with panics isolated.
    async fn spawn<T, F>(&self, op: impl FnOnce(Arc<dyn LongTermBackend>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let fut = op(self.inner.backend.clone());
        let task = tokio::spawn(std::panic::AssertUnwindSafe(fut).catch_unwind());
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(Error::Internal(panic_message(panic.as_ref()))),
            Err(join) => Err(Error::Internal(format!("storage task failed: {join}"))),
        }
    }

    /// Stores an object (insert or overwrite). Stamps the metadata.
    pub async fn put(
        &self,
        id: ObjectId,
        mut metadata: Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        metadata.stamp(self.now());
        self.spawn(move |b| async move { b.put_object(&id, &metadata, body).await })
            .await
    }

    /// Reads an object or a range of it.
    pub async fn get(&self, id: ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        self.spawn(move |b| async move { b.get_object(&id, range).await })
            .await
    }

    /// Reads an object's metadata.
    pub async fn head(&self, id: ObjectId) -> Result<Option<Metadata>> {
        self.spawn(move |b| async move { b.get_metadata(&id).await })
            .await
    }

    /// Deletes an object; deleting a missing one succeeds.
    pub async fn delete(&self, id: ObjectId) -> Result<()> {
        self.spawn(move |b| async move { b.delete_object(&id).await })
            .await
    }

    /// Extends an object's deadline (PATCH `extend_expiry`). `now` is the request-start time.
    pub async fn extend_expiry(
        &self,
        id: ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        self.spawn(move |b| async move { b.extend_expiry(&id, target, now).await })
            .await
    }

    /// Starts a multipart upload. Stamps the metadata (fixed at initiation).
    pub async fn initiate_multipart(&self, id: ObjectId, mut metadata: Metadata) -> Result<String> {
        metadata.stamp(self.now());
        self.spawn(move |b| async move { b.initiate_multipart(&id, &metadata).await })
            .await
    }

    /// Uploads one part; returns its ETag.
    pub async fn upload_part(
        &self,
        id: ObjectId,
        upload_id: String,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String> {
        self.spawn(move |b| async move {
            b.upload_part(&id, &upload_id, part_number, content_length, body)
                .await
        })
        .await
    }

    /// Lists the parts of an upload.
    pub async fn list_parts(
        &self,
        id: ObjectId,
        upload_id: String,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage> {
        self.spawn(move |b| async move { b.list_parts(&id, &upload_id, max_parts, marker).await })
            .await
    }

    /// Aborts an upload; unknown uploads succeed.
    pub async fn abort_multipart(&self, id: ObjectId, upload_id: String) -> Result<()> {
        self.spawn(move |b| async move { b.abort_multipart(&id, &upload_id).await })
            .await
    }

    /// Completes an upload. `Ok(Some(_))`: the parts were rejected (reported in the body).
    pub async fn complete_multipart(
        &self,
        id: ObjectId,
        upload_id: String,
        parts: Vec<CompletedPart>,
    ) -> Result<Option<CompleteRejection>> {
        self.spawn(move |b| async move { b.complete_multipart(&id, &upload_id, &parts).await })
            .await
    }

    /// Waits for background work of the backend (cleanup, recovery, sweeps). Call once at
    /// shutdown, after the last request finished.
    pub async fn join(&self) {
        self.inner.backend.join().await;
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("storage operation panicked: {text}")
}
