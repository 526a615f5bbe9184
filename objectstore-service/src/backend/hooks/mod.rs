//! [`HookBackend`]: fault injection around a [`MemoryBackend`].
//!
//! A test implements [`Hooks`], overriding only the calls it wants to disturb: fail, report
//! a conflict, pause (on a [`Gate`]), panic, or fail after the inner call committed. Every
//! method it does not override forwards to the inner backend, and `HookBackend`'s trait
//! impls are checked by `clippy::missing_trait_methods`, so nothing silently falls back to a
//! trait default. The scans (`scan_rows`, `log_scan`, `lease_list`, `list_blobs`, for
//! offline tools) forward to the inner backend directly and are not hookable.
//!
//! For the common cases, [`Faults`] is a ready-made [`Hooks`]: a list of rules "on the n-th
//! call of method X, do Y" plus per-method call counters.
//!
//! ```ignore
//! let inner = MemoryBackend::new("hv", clock.clone());
//! let faults = Faults::new().on(Method::CompareAndWrite, Calls::Nth(1), Fault::FailAfterCommit);
//! let hv = HookBackend::new(inner.clone(), faults.clone());
//! // ... drive the code under test with `hv`, inspect `inner` and `faults.calls(..)`.
//! ```

use std::fmt::Debug;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use super::memory::MemoryBackend;
use super::{
    Backend, BlobInfo, ChangeRecord, CompleteRejection, CompletedPart, ExpiredRow, ExpiryCursor,
    ExpiryTarget, ExtendOutcome, GetResponse, HighVolumeBackend, Lease, LongTermBackend, PartsPage,
    RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::Result;
use crate::stream::PayloadStream;

mod faults;
#[cfg(test)]
mod tests;

pub use faults::{Calls, Fault, Faults, Gate, Method};

/// Overrides for the calls of a [`HookBackend`]. Each method receives the inner backend and
/// the call's arguments; the defaults forward to the inner backend.
#[async_trait]
#[allow(
    missing_docs,
    reason = "each method mirrors the backend method of the same name"
)]
pub trait Hooks: Debug + Send + Sync + 'static {
    // --- Backend ---

    async fn put_object(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        inner.put_object(id, metadata, body).await
    }

    async fn get_object(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        range: Option<ByteRange>,
    ) -> Result<GetResponse> {
        inner.get_object(id, range).await
    }

    async fn get_metadata(&self, inner: &MemoryBackend, id: &ObjectId) -> Result<Option<Metadata>> {
        inner.get_metadata(id).await
    }

    async fn delete_object(&self, inner: &MemoryBackend, id: &ObjectId) -> Result<()> {
        inner.delete_object(id).await
    }

    async fn extend_expiry(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        inner.extend_expiry(id, target, now).await
    }

    async fn join(&self, inner: &MemoryBackend) {
        inner.join().await;
    }

    // --- HighVolumeBackend ---

    async fn put_non_tombstone(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        inner.put_non_tombstone(id, metadata, payload).await
    }

    async fn get_tiered(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        range: Option<ByteRange>,
    ) -> Result<TieredGet> {
        inner.get_tiered(id, range).await
    }

    async fn get_tiered_metadata(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
    ) -> Result<TieredMetadata> {
        inner.get_tiered_metadata(id).await
    }

    async fn delete_non_tombstone(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
    ) -> Result<Option<Tombstone>> {
        inner.delete_non_tombstone(id).await
    }

    async fn compare_and_write(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        current: Option<&ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        inner.compare_and_write(id, current, write).await
    }

    async fn delete_if_expired(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        now: SystemTime,
    ) -> Result<Option<Tombstone>> {
        inner.delete_if_expired(id, now).await
    }

    async fn scan_expired(
        &self,
        inner: &MemoryBackend,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        inner.scan_expired(now, after, limit).await
    }

    async fn log_append(&self, inner: &MemoryBackend, record: &ChangeRecord) -> Result<()> {
        inner.log_append(record).await
    }

    async fn log_get(
        &self,
        inner: &MemoryBackend,
        change_id: &uuid::Uuid,
    ) -> Result<Option<ChangeRecord>> {
        inner.log_get(change_id).await
    }

    async fn log_remove(&self, inner: &MemoryBackend, change_id: &uuid::Uuid) -> Result<()> {
        inner.log_remove(change_id).await
    }

    async fn log_claim(
        &self,
        inner: &MemoryBackend,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        inner.log_claim(claimant, now, ignore_leases, limit).await
    }

    async fn log_len(&self, inner: &MemoryBackend) -> Result<u64> {
        inner.log_len().await
    }

    async fn lease_renew(
        &self,
        inner: &MemoryBackend,
        instance: &str,
        until: SystemTime,
    ) -> Result<()> {
        inner.lease_renew(instance, until).await
    }

    async fn lease_release(&self, inner: &MemoryBackend, instance: &str) -> Result<()> {
        inner.lease_release(instance).await
    }

    // --- LongTermBackend ---

    async fn initiate_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
    ) -> Result<String> {
        inner.initiate_multipart(id, metadata).await
    }

    async fn upload_part(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String> {
        inner
            .upload_part(id, upload_id, part_number, content_length, body)
            .await
    }

    async fn list_parts(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage> {
        inner.list_parts(id, upload_id, max_parts, marker).await
    }

    async fn abort_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
    ) -> Result<()> {
        inner.abort_multipart(id, upload_id).await
    }

    async fn complete_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        inner.complete_multipart(id, upload_id, parts).await
    }
}

/// A [`MemoryBackend`] whose calls go through [`Hooks`]. Clones share the inner state and
/// the hooks.
#[derive(Debug, Clone)]
pub struct HookBackend {
    inner: MemoryBackend,
    hooks: Arc<dyn Hooks>,
}

impl HookBackend {
    /// Wraps `inner` (keep a clone of it to inspect the state behind the hooks).
    pub fn new(inner: MemoryBackend, hooks: impl Hooks) -> Self {
        Self {
            inner,
            hooks: Arc::new(hooks),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &MemoryBackend {
        &self.inner
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Backend for HookBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn put_object(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        self.hooks.put_object(&self.inner, id, metadata, body).await
    }

    async fn get_object(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        self.hooks.get_object(&self.inner, id, range).await
    }

    async fn get_metadata(&self, id: &ObjectId) -> Result<Option<Metadata>> {
        self.hooks.get_metadata(&self.inner, id).await
    }

    async fn delete_object(&self, id: &ObjectId) -> Result<()> {
        self.hooks.delete_object(&self.inner, id).await
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        self.hooks.extend_expiry(&self.inner, id, target, now).await
    }

    async fn join(&self) {
        self.hooks.join(&self.inner).await;
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl HighVolumeBackend for HookBackend {
    async fn put_non_tombstone(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        self.hooks
            .put_non_tombstone(&self.inner, id, metadata, payload)
            .await
    }

    async fn get_tiered(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
        self.hooks.get_tiered(&self.inner, id, range).await
    }

    async fn get_tiered_metadata(&self, id: &ObjectId) -> Result<TieredMetadata> {
        self.hooks.get_tiered_metadata(&self.inner, id).await
    }

    async fn delete_non_tombstone(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        self.hooks.delete_non_tombstone(&self.inner, id).await
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        current: Option<&ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        self.hooks
            .compare_and_write(&self.inner, id, current, write)
            .await
    }

    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>> {
        self.hooks.delete_if_expired(&self.inner, id, now).await
    }

    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        self.hooks
            .scan_expired(&self.inner, now, after, limit)
            .await
    }

    async fn log_append(&self, record: &ChangeRecord) -> Result<()> {
        self.hooks.log_append(&self.inner, record).await
    }

    async fn log_get(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        self.hooks.log_get(&self.inner, change_id).await
    }

    async fn log_remove(&self, change_id: &uuid::Uuid) -> Result<()> {
        self.hooks.log_remove(&self.inner, change_id).await
    }

    async fn log_claim(
        &self,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        self.hooks
            .log_claim(&self.inner, claimant, now, ignore_leases, limit)
            .await
    }

    async fn log_len(&self) -> Result<u64> {
        self.hooks.log_len(&self.inner).await
    }

    async fn lease_renew(&self, instance: &str, until: SystemTime) -> Result<()> {
        self.hooks.lease_renew(&self.inner, instance, until).await
    }

    async fn lease_release(&self, instance: &str) -> Result<()> {
        self.hooks.lease_release(&self.inner, instance).await
    }

    fn is_exclusive(&self) -> bool {
        self.inner.is_exclusive()
    }

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        // Scans are not hookable (the `Hooks` trait stays as it is for existing hook sets).
        self.inner.scan_rows(after, limit).await
    }

    async fn log_scan(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        self.inner.log_scan(after, limit).await
    }

    async fn lease_list(&self) -> Result<Vec<Lease>> {
        self.inner.lease_list().await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl LongTermBackend for HookBackend {
    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        self.hooks
            .initiate_multipart(&self.inner, id, metadata)
            .await
    }

    async fn upload_part(
        &self,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String> {
        self.hooks
            .upload_part(
                &self.inner,
                id,
                upload_id,
                part_number,
                content_length,
                body,
            )
            .await
    }

    async fn list_parts(
        &self,
        id: &ObjectId,
        upload_id: &str,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage> {
        self.hooks
            .list_parts(&self.inner, id, upload_id, max_parts, marker)
            .await
    }

    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        self.hooks.abort_multipart(&self.inner, id, upload_id).await
    }

    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        self.hooks
            .complete_multipart(&self.inner, id, upload_id, parts)
            .await
    }

    async fn list_blobs(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<BlobInfo>> {
        self.inner.list_blobs(after, limit).await
    }
}
