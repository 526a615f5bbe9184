//! Per-backend operation metrics: wrappers that time every call into a storage backend.
//!
//! [`MeteredHighVolume`] and [`MeteredLongTerm`] forward every trait method to the wrapped
//! backend unchanged and record, per call:
//!
//! * [`BACKEND_DURATION`] (histogram, seconds) labelled `tier`, `backend`, `operation` and
//!   `result` (`ok` / `error`);
//! * [`BACKEND_ERRORS`] (counter) labelled `tier`, `backend`, `operation` and `kind` (the
//!   [`objectstore_service::Error`] variant: `not_found`, `conflict`, `backend`, ...) for
//!   every call that returned an error.
//!
//! `tier` is `high_volume` or `long_term` inside a tiered layout, `standalone` for a single
//! store; `backend` is the wrapped backend's [`Backend::name`]. A call's time ends when it
//! returns: for a GET that is when the response head (metadata) is ready, not when the body
//! stream has been read.
//!
//! Invariant: the wrappers change no behaviour: same results, same errors, same
//! [`Backend::name`] and [`HighVolumeBackend::is_exclusive`]. [`crate::storage`] installs
//! them around every backend it opens.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_service::Error;
use objectstore_service::Result;
use objectstore_service::backend::{
    Backend, BlobInfo, ChangeRecord, CompleteRejection, CompletedPart, ExpiredRow, ExpiryCursor,
    ExpiryTarget, ExtendOutcome, GetResponse, HighVolumeBackend, Lease, LongTermBackend, PartsPage,
    RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use objectstore_service::stream::PayloadStream;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

/// Histogram `{tier, backend, operation, result}`: seconds per backend call.
pub const BACKEND_DURATION: &str = "objectstore_backend_operation_duration_seconds";
/// Counter `{tier, backend, operation, kind}`: backend calls that returned an error.
pub const BACKEND_ERRORS: &str = "objectstore_backend_errors_total";

/// The `kind` label of an error.
pub fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::InvalidRequest(_) => "invalid_request",
        Error::ClientStream(_) => "client_stream",
        Error::TooLarge(_) => "too_large",
        Error::NotFound(_) => "not_found",
        Error::Gone(_) => "gone",
        Error::Conflict(_) => "conflict",
        Error::Unsupported { .. } => "unsupported",
        Error::Overloaded => "overloaded",
        Error::Backend { .. } => "backend",
        Error::Internal(_) => "internal",
        _ => "other",
    }
}

/// Labels shared by every call of one wrapper.
#[derive(Debug, Clone, Copy)]
struct Labels {
    tier: &'static str,
    backend: &'static str,
}

impl Labels {
    /// Runs `call`, then records its duration and, on error, its kind.
    async fn time<T>(
        self,
        operation: &'static str,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let started = Instant::now();
        let result = call.await;
        let elapsed = started.elapsed().as_secs_f64();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!(
            BACKEND_DURATION,
            "tier" => self.tier,
            "backend" => self.backend,
            "operation" => operation,
            "result" => outcome,
        )
        .record(elapsed);
        if let Err(error) = &result {
            metrics::counter!(
                BACKEND_ERRORS,
                "tier" => self.tier,
                "backend" => self.backend,
                "operation" => operation,
                "kind" => error_kind(error),
            )
            .increment(1);
        }
        result
    }
}

/// A high-volume backend with metrics (module docs).
#[derive(Debug)]
pub struct MeteredHighVolume {
    inner: Arc<dyn HighVolumeBackend>,
    labels: Labels,
}

impl MeteredHighVolume {
    /// Wraps the high-volume tier of a tiered layout (`tier="high_volume"`).
    pub fn new(inner: Arc<dyn HighVolumeBackend>) -> Self {
        let labels = Labels {
            tier: "high_volume",
            backend: inner.name(),
        };
        Self { inner, labels }
    }
}

/// A long-term (or standalone) backend with metrics (module docs).
#[derive(Debug)]
pub struct MeteredLongTerm {
    inner: Arc<dyn LongTermBackend>,
    labels: Labels,
}

impl MeteredLongTerm {
    /// Wraps `inner`; `tier` is `long_term` or `standalone`.
    pub fn new(inner: Arc<dyn LongTermBackend>, tier: &'static str) -> Self {
        let labels = Labels {
            tier,
            backend: inner.name(),
        };
        Self { inner, labels }
    }
}

/// The [`Backend`] methods, identical for both wrappers.
macro_rules! metered_backend {
    ($ty:ty) => {
        #[async_trait]
        impl Backend for $ty {
            fn name(&self) -> &'static str {
                self.inner.name()
            }

            async fn put_object(
                &self,
                id: &ObjectId,
                metadata: &Metadata,
                body: PayloadStream,
            ) -> Result<()> {
                self.labels
                    .time("put", self.inner.put_object(id, metadata, body))
                    .await
            }

            async fn get_object(
                &self,
                id: &ObjectId,
                range: Option<ByteRange>,
            ) -> Result<GetResponse> {
                self.labels
                    .time("get", self.inner.get_object(id, range))
                    .await
            }

            async fn get_metadata(&self, id: &ObjectId) -> Result<Option<Metadata>> {
                self.labels
                    .time("get_metadata", self.inner.get_metadata(id))
                    .await
            }

            async fn delete_object(&self, id: &ObjectId) -> Result<()> {
                self.labels
                    .time("delete", self.inner.delete_object(id))
                    .await
            }

            async fn extend_expiry(
                &self,
                id: &ObjectId,
                target: ExpiryTarget,
                now: SystemTime,
            ) -> Result<ExtendOutcome> {
                self.labels
                    .time("extend_expiry", self.inner.extend_expiry(id, target, now))
                    .await
            }

            async fn join(&self) {
                self.inner.join().await;
            }
        }
    };
}

metered_backend!(MeteredHighVolume);
metered_backend!(MeteredLongTerm);

#[async_trait]
impl HighVolumeBackend for MeteredHighVolume {
    async fn put_non_tombstone(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        let call = self.inner.put_non_tombstone(id, metadata, payload);
        self.labels.time("put_non_tombstone", call).await
    }

    async fn get_tiered(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
        let call = self.inner.get_tiered(id, range);
        self.labels.time("get_tiered", call).await
    }

    async fn get_tiered_metadata(&self, id: &ObjectId) -> Result<TieredMetadata> {
        let call = self.inner.get_tiered_metadata(id);
        self.labels.time("get_tiered_metadata", call).await
    }

    async fn delete_non_tombstone(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        let call = self.inner.delete_non_tombstone(id);
        self.labels.time("delete_non_tombstone", call).await
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        current: Option<&ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        let call = self.inner.compare_and_write(id, current, write);
        self.labels.time("compare_and_write", call).await
    }

    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>> {
        let call = self.inner.delete_if_expired(id, now);
        self.labels.time("delete_if_expired", call).await
    }

    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        let call = self.inner.scan_expired(now, after, limit);
        self.labels.time("scan_expired", call).await
    }

    async fn log_append(&self, record: &ChangeRecord) -> Result<()> {
        let call = self.inner.log_append(record);
        self.labels.time("log_append", call).await
    }

    async fn log_get(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        let call = self.inner.log_get(change_id);
        self.labels.time("log_get", call).await
    }

    async fn log_remove(&self, change_id: &uuid::Uuid) -> Result<()> {
        let call = self.inner.log_remove(change_id);
        self.labels.time("log_remove", call).await
    }

    async fn log_claim(
        &self,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let call = self.inner.log_claim(claimant, now, ignore_leases, limit);
        self.labels.time("log_claim", call).await
    }

    async fn log_len(&self) -> Result<u64> {
        self.labels.time("log_len", self.inner.log_len()).await
    }

    async fn lease_renew(&self, instance: &str, until: SystemTime) -> Result<()> {
        let call = self.inner.lease_renew(instance, until);
        self.labels.time("lease_renew", call).await
    }

    async fn lease_release(&self, instance: &str) -> Result<()> {
        let call = self.inner.lease_release(instance);
        self.labels.time("lease_release", call).await
    }

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        let call = self.inner.scan_rows(after, limit);
        self.labels.time("scan_rows", call).await
    }

    async fn log_scan(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let call = self.inner.log_scan(after, limit);
        self.labels.time("log_scan", call).await
    }

    async fn lease_list(&self) -> Result<Vec<Lease>> {
        self.labels
            .time("lease_list", self.inner.lease_list())
            .await
    }

    fn is_exclusive(&self) -> bool {
        self.inner.is_exclusive()
    }
}

#[async_trait]
impl LongTermBackend for MeteredLongTerm {
    async fn list_blobs(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<BlobInfo>> {
        let call = self.inner.list_blobs(after, limit);
        self.labels.time("list_blobs", call).await
    }

    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        let call = self.inner.initiate_multipart(id, metadata);
        self.labels.time("initiate_multipart", call).await
    }

    async fn upload_part(
        &self,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String> {
        let call = self
            .inner
            .upload_part(id, upload_id, part_number, content_length, body);
        self.labels.time("upload_part", call).await
    }

    async fn list_parts(
        &self,
        id: &ObjectId,
        upload_id: &str,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage> {
        let call = self.inner.list_parts(id, upload_id, max_parts, marker);
        self.labels.time("list_parts", call).await
    }

    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        let call = self.inner.abort_multipart(id, upload_id);
        self.labels.time("abort_multipart", call).await
    }

    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        let call = self.inner.complete_multipart(id, upload_id, parts);
        self.labels.time("complete_multipart", call).await
    }
}

#[cfg(test)]
mod tests {
    use objectstore_service::backend::memory::MemoryBackend;
    use objectstore_service::clock::ManualClock;

    use super::*;

    #[tokio::test]
    async fn forwards_results_and_errors_unchanged() {
        let memory = MemoryBackend::new("memory", ManualClock::new());
        let metered = MeteredLongTerm::new(Arc::new(memory), "standalone");
        assert_eq!(metered.name(), "memory");
        let context = objectstore_types::ObjectContext {
            usecase: objectstore_types::Usecase::new("u").expect("usecase"),
            scopes: objectstore_types::Scopes::empty(),
        };
        let id = ObjectId::new(
            context,
            objectstore_types::ObjectKey::new("k").expect("key"),
        );
        assert_eq!(metered.get_metadata(&id).await.expect("head"), None);
        let missing = metered.list_parts(&id, "nope", None, None).await;
        assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    }
}
