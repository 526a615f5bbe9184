//! [`StorageService`]: the storage engine's API for the HTTP layer.
//!
//! **Invariants**
//!
//! * Every operation that changes state runs in its own spawned task and runs to completion
//!   even if the caller (the HTTP request) goes away: a client disconnect never leaves a
//!   half-done commit protocol behind. Reads (`get`, `head`) change nothing a caller could
//!   leave half-done (a TTI bump is queued, not awaited), so they run in the caller's task:
//!   a spawn per read cost a task allocation and, on a multi-threaded runtime, often a
//!   cross-thread wake-up (`docs/benchmarks/`).
//! * A panic inside an operation is isolated: it becomes [`Error::Internal`] for that
//!   operation only (reads included: their future runs under `catch_unwind`).
//! * Metadata of every write is stamped here (`time_created`, `time_expires`) from the
//!   service's clock, once, so all backends agree.
//! * Every operation holds a [`Permit`] of the service's [`ConcurrencyLimiter`]
//!   (docs/http-api.md §12.5) while it uses the backend. The permit is acquired *before* the
//!   task is spawned (a refused or abandoned acquisition spawns nothing) and released when the
//!   task ends, panics included.
//!
//! **GET bodies keep their permit until the body is consumed or dropped.** The limiter
//! bounds the backend resources in use, and a body stream *is* backend work: it holds an
//! open file, a database read or a long-term-store connection. Releasing the permit when the
//! response starts would let any number of streaming downloads pile up behind a limit that
//! reports them as finished, exactly under the load (large objects, slow readers) the limit
//! exists for. A slow client therefore pins one permit for as long as it reads; a client that
//! disconnects drops the body, which releases the permit at once, and the HTTP layer's
//! timeouts bound how long a stalled reader can keep one. The same holds for GET bodies in
//! batch results ([`crate::batch`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use futures::{FutureExt, Stream};
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use crate::backend::catalog::{UploadPage, UploadQuery};
use crate::backend::{
    Catalog, CompleteRejection, CompletedPart, ExpiryTarget, ExtendOutcome, GetResponse, ListPage,
    ListQuery, LongTermBackend, PartsPage, PartsQuery, Precondition,
};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::limiter::{ConcurrencyLimiter, LimiterConfig, Permit};
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

impl ServiceConfig {
    /// The limiter's part of the configuration.
    pub fn limiter(&self) -> LimiterConfig {
        LimiterConfig {
            max_concurrency: self.max_concurrency,
            concurrency_queue: self.concurrency_queue,
            concurrency_timeout: self.concurrency_timeout,
            bulk_concurrency_pct: self.bulk_concurrency_pct,
        }
    }
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
    /// The same backend as a [`Catalog`], when it is one (the tiered engine).
    catalog: Option<Arc<dyn Catalog>>,
    clock: SharedClock,
    limiter: ConcurrencyLimiter,
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
        Self::build(backend, None, clock, config)
    }

    /// Wraps a backend with an index of its objects (the tiered engine): everything
    /// [`StorageService::new`] offers plus listings and conditional writes.
    pub fn with_catalog(
        catalog: Arc<dyn Catalog>,
        clock: SharedClock,
        config: ServiceConfig,
    ) -> Self {
        let backend: Arc<dyn LongTermBackend> = catalog.clone();
        Self::build(backend, Some(catalog), clock, config)
    }

    fn build(
        backend: Arc<dyn LongTermBackend>,
        catalog: Option<Arc<dyn Catalog>>,
        clock: SharedClock,
        config: ServiceConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                catalog,
                clock,
                limiter: ConcurrencyLimiter::new(config.limiter()),
                config,
            }),
        }
    }

    /// The configuration the service was built with.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// The current time of the service's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// Operations holding a permit right now (gauge `tasks_running`), GET bodies still being
    /// read included.
    pub fn tasks_running(&self) -> usize {
        self.inner.limiter.running()
    }

    /// The permit limit (gauge `tasks_limit`, = `max_concurrency`).
    pub fn tasks_limit(&self) -> usize {
        self.inner.limiter.limit()
    }

    /// The concurrency limiter (for more gauges: queued waiters, bulk permits).
    pub fn limiter(&self) -> &ConcurrencyLimiter {
        &self.inner.limiter
    }

    pub(crate) fn backend(&self) -> &Arc<dyn LongTermBackend> {
        &self.inner.backend
    }

    /// Whether listings and conditional writes are available (a [`Catalog`] backend).
    pub fn has_catalog(&self) -> bool {
        self.inner.catalog.is_some()
    }

    /// The catalog, or [`Error::Unsupported`] for `operation`.
    fn catalog(&self, operation: &'static str) -> Result<Arc<dyn Catalog>> {
        self.inner
            .catalog
            .clone()
            .ok_or_else(|| Error::Unsupported {
                backend: self.inner.backend.name(),
                operation,
            })
    }

    /// Takes a single-operation permit, then runs `op` in its own task, to completion, with
    /// panics isolated. The permit is released when the task ends.
    pub(crate) async fn spawn<T, F>(
        &self,
        op: impl FnOnce(Arc<dyn LongTermBackend>) -> F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let permit = self.inner.limiter.acquire().await?;
        let fut = op(self.inner.backend.clone());
        spawn_isolated(async move {
            let result = fut.await;
            drop(permit);
            result
        })
        .await
    }

    /// Stores an object (insert or overwrite). Stamps the metadata; answers it as stored:
    /// with the size and the ETag the backend stored (the tiered engine's MD5; a standalone
    /// store keeps none), so that a response can carry them.
    pub async fn put(
        &self,
        id: ObjectId,
        mut metadata: Metadata,
        body: PayloadStream,
    ) -> Result<Metadata> {
        metadata.stamp(self.now());
        metadata.etag = None;
        self.spawn(move |b| async move {
            let receipt = b.put(&id, &metadata, body).await?;
            metadata.size = receipt.size;
            metadata.etag = receipt.etag;
            Ok(metadata)
        })
        .await
    }

    /// Stores an object if `precondition` holds on the current one, atomically (see
    /// [`Catalog::put_if`]); without a precondition, [`StorageService::put`]. Stamps the
    /// metadata and answers it as stored, as [`StorageService::put`] does.
    pub async fn put_if(
        &self,
        id: ObjectId,
        mut metadata: Metadata,
        body: PayloadStream,
        precondition: Option<Precondition>,
    ) -> Result<Metadata> {
        let Some(precondition) = precondition else {
            return self.put(id, metadata, body).await;
        };
        let catalog = self.catalog("conditional writes")?;
        metadata.stamp(self.now());
        metadata.etag = None;
        self.spawn(move |_| async move {
            let receipt = catalog.put_if(&id, &metadata, body, &precondition).await?;
            metadata.size = receipt.size;
            metadata.etag = receipt.etag;
            Ok(metadata)
        })
        .await
    }

    /// Deletes an object if `precondition` holds on it ([`Catalog::delete_if`]); without a
    /// precondition, [`StorageService::delete`].
    pub async fn delete_if(&self, id: ObjectId, precondition: Option<Precondition>) -> Result<()> {
        let Some(precondition) = precondition else {
            return self.delete(id).await;
        };
        let catalog = self.catalog("conditional deletes")?;
        self.spawn(move |_| async move { catalog.delete_if(&id, &precondition).await })
            .await
    }

    /// One page of the live objects of a usecase in listing-key order ([`Catalog::list`]).
    pub async fn list(&self, query: ListQuery) -> Result<ListPage> {
        let catalog = self.catalog("listing objects")?;
        let permit = self.inner.limiter.acquire().await?;
        run_isolated(async move {
            let page = catalog.list(&query).await;
            drop(permit);
            page
        })
        .await
    }

    /// One page of the open multipart uploads of a usecase ([`Catalog::list_uploads`]).
    pub async fn list_uploads(&self, query: UploadQuery) -> Result<UploadPage> {
        let catalog = self.catalog("listing multipart uploads")?;
        let permit = self.inner.limiter.acquire().await?;
        run_isolated(async move {
            let page = catalog.list_uploads(&query).await;
            drop(permit);
            page
        })
        .await
    }

    /// Reads an object or a range of it. The returned body holds the operation's permit
    /// until it ends or is dropped (see the module docs).
    pub async fn get(&self, id: ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        let permit = self.inner.limiter.acquire().await?;
        let backend = &self.inner.backend;
        run_isolated(async move {
            let response = backend.get(&id, range).await?;
            Ok(hold_permit(response, permit))
        })
        .await
    }

    /// Reads an object's metadata.
    pub async fn head(&self, id: ObjectId) -> Result<Option<Metadata>> {
        let permit = self.inner.limiter.acquire().await?;
        let backend = &self.inner.backend;
        run_isolated(async move {
            let metadata = backend.head(&id).await;
            drop(permit);
            metadata
        })
        .await
    }

    /// Deletes an object; deleting a missing one succeeds.
    pub async fn delete(&self, id: ObjectId) -> Result<()> {
        self.spawn(move |b| async move { b.delete(&id).await })
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
        self.spawn(move |b| async move {
            let query = PartsQuery {
                max_parts,
                marker,
                ..PartsQuery::all(&id, &upload_id)
            };
            b.list_parts(query).await
        })
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

    /// Completes an upload if `precondition` holds on the object it replaces
    /// ([`Catalog::complete_multipart_if`]); without a precondition,
    /// [`StorageService::complete_multipart`].
    pub async fn complete_multipart_if(
        &self,
        id: ObjectId,
        upload_id: String,
        parts: Vec<CompletedPart>,
        precondition: Option<Precondition>,
    ) -> Result<Option<CompleteRejection>> {
        let Some(precondition) = precondition else {
            return self.complete_multipart(id, upload_id, parts).await;
        };
        let catalog = self.catalog("conditional writes")?;
        self.spawn(move |_| async move {
            catalog
                .complete_multipart_if(&id, &upload_id, &parts, &precondition)
                .await
        })
        .await
    }

    /// Waits for background work of the backend (cleanup, recovery, sweeps). Call once at
    /// shutdown, after the last request finished.
    pub async fn join(&self) {
        self.inner.backend.join().await;
    }
}

/// Runs `fut` in the caller's task with panics isolated (reads: see the module docs).
async fn run_isolated<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(Error::Internal(panic_message(panic.as_ref()))),
    }
}

/// Runs `fut` in its own task, to completion, with panics isolated.
pub(crate) async fn spawn_isolated<T, F>(fut: F) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let task = tokio::spawn(std::panic::AssertUnwindSafe(fut).catch_unwind());
    match task.await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(Error::Internal(panic_message(panic.as_ref()))),
        Err(join) => Err(Error::Internal(format!("storage task failed: {join}"))),
    }
}

/// Moves `permit` into the body of a found object (released when the body ends or is
/// dropped); other responses release it now.
pub(crate) fn hold_permit(response: GetResponse, permit: Permit) -> GetResponse {
    match response {
        GetResponse::Found {
            metadata,
            range,
            body,
        } => GetResponse::Found {
            metadata,
            range,
            body: Box::pin(PermitStream {
                body,
                permit: Some(permit),
            }),
        },
        other => other,
    }
}

/// A body stream that holds a permit until it ends (`None` or an error) or is dropped.
struct PermitStream {
    body: PayloadStream,
    permit: Option<Permit>,
}

impl Stream for PermitStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.permit.is_none() {
            return Poll::Ready(None);
        }
        let item = this.body.as_mut().poll_next(cx);
        if matches!(item, Poll::Ready(None | Some(Err(_)))) {
            this.permit = None;
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.permit.is_some() {
            self.body.size_hint()
        } else {
            (0, Some(0))
        }
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

#[cfg(test)]
pub(crate) mod tests;
