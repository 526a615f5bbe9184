//! [`Crash`]: hooks that trace every backend call of one instance and crash it at a chosen
//! call.
//!
//! A crash "before" call `i` fails that call without running it; "after" runs it, then
//! fails it (the effect landed, the answer is lost). From then on *every* call of the
//! instance fails, on both backends: to the storage, the instance is dead (its background
//! cleanups cannot act any more, its lease is never released). A panic crash panics at
//! call `i` and leaves the instance alive (panic isolation).
//!
//! The fault matrix (module `faults`) uses the same tracing with [`When::FailBefore`] and
//! [`When::FailAfter`]: call `i` fails once (without or after its effect) and the instance
//! keeps running, so its own cleanups and recovery act afterwards.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use crate::backend::hooks::{Hooks, Method};
use crate::backend::memory::MemoryBackend;
use crate::backend::{
    Backend, ChangeRecord, CompleteRejection, CompletedPart, ExpiredRow, ExpiryCursor,
    ExpiryTarget, ExtendOutcome, GetResponse, HighVolumeBackend, LongTermBackend, PartsPage,
    TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::{Error, Result};
use crate::stream::PayloadStream;

/// How the instance crashes at the chosen call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// The call fails without effect; the instance is dead.
    Before,
    /// The call takes effect, then fails; the instance is dead.
    After,
    /// The call panics; the instance lives on.
    Panic,
    /// The call fails without effect; the instance lives on.
    FailBefore,
    /// The call takes effect, then fails; the instance lives on.
    FailAfter,
}

#[derive(Debug, Default)]
struct State {
    trace: Vec<(&'static str, Method)>,
    point: Option<(usize, When)>,
    dead: bool,
}

/// Shared by the high-volume and long-term hooks of one instance.
#[derive(Debug, Clone, Default)]
pub(super) struct Crash(Arc<Mutex<State>>);

impl Crash {
    /// Crash at call `index` (0-based, over both backends).
    pub(super) fn at(index: usize, when: When) -> Self {
        let crash = Self::default();
        crash.lock().point = Some((index, when));
        crash
    }

    /// The calls made so far (backend name, method).
    pub(super) fn trace(&self) -> Vec<(&'static str, Method)> {
        self.lock().trace.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn crashed(method: Method) -> Error {
        Error::backend(
            "crash",
            method.as_str(),
            io::Error::other("the instance crashed"),
        )
    }

    async fn call<T>(
        &self,
        inner: &MemoryBackend,
        method: Method,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let when = {
            let mut state = self.lock();
            if state.dead {
                return Err(Self::crashed(method));
            }
            let index = state.trace.len();
            state.trace.push((inner.name(), method));
            match state.point {
                Some((at, when)) if at == index => {
                    state.dead = matches!(when, When::Before | When::After);
                    Some(when)
                }
                _ => None,
            }
        };
        match when {
            None => call.await,
            Some(When::Before | When::FailBefore) => Err(Self::crashed(method)),
            Some(When::After | When::FailAfter) => {
                let _ = call.await;
                Err(Self::crashed(method))
            }
            Some(When::Panic) => panic!("injected panic in {}", method.as_str()),
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Hooks for Crash {
    async fn put_object(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        self.call(
            inner,
            Method::PutObject,
            inner.put_object(id, metadata, body),
        )
        .await
    }

    async fn get_object(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        range: Option<ByteRange>,
    ) -> Result<GetResponse> {
        self.call(inner, Method::GetObject, inner.get_object(id, range))
            .await
    }

    async fn get_metadata(&self, inner: &MemoryBackend, id: &ObjectId) -> Result<Option<Metadata>> {
        self.call(inner, Method::GetMetadata, inner.get_metadata(id))
            .await
    }

    async fn delete_object(&self, inner: &MemoryBackend, id: &ObjectId) -> Result<()> {
        self.call(inner, Method::DeleteObject, inner.delete_object(id))
            .await
    }

    async fn extend_expiry(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        self.call(
            inner,
            Method::ExtendExpiry,
            inner.extend_expiry(id, target, now),
        )
        .await
    }

    async fn join(&self, inner: &MemoryBackend) {
        inner.join().await;
    }

    async fn put_non_tombstone(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        let call = inner.put_non_tombstone(id, metadata, payload);
        self.call(inner, Method::PutNonTombstone, call).await
    }

    async fn get_tiered(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        range: Option<ByteRange>,
    ) -> Result<TieredGet> {
        self.call(inner, Method::GetTiered, inner.get_tiered(id, range))
            .await
    }

    async fn get_tiered_metadata(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
    ) -> Result<TieredMetadata> {
        self.call(
            inner,
            Method::GetTieredMetadata,
            inner.get_tiered_metadata(id),
        )
        .await
    }

    async fn delete_non_tombstone(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
    ) -> Result<Option<Tombstone>> {
        self.call(
            inner,
            Method::DeleteNonTombstone,
            inner.delete_non_tombstone(id),
        )
        .await
    }

    async fn compare_and_write(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        current: Option<&ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        let call = inner.compare_and_write(id, current, write);
        self.call(inner, Method::CompareAndWrite, call).await
    }

    async fn delete_if_expired(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        now: SystemTime,
    ) -> Result<Option<Tombstone>> {
        self.call(
            inner,
            Method::DeleteIfExpired,
            inner.delete_if_expired(id, now),
        )
        .await
    }

    async fn scan_expired(
        &self,
        inner: &MemoryBackend,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        let call = inner.scan_expired(now, after, limit);
        self.call(inner, Method::ScanExpired, call).await
    }

    async fn log_append(&self, inner: &MemoryBackend, record: &ChangeRecord) -> Result<()> {
        self.call(inner, Method::LogAppend, inner.log_append(record))
            .await
    }

    async fn log_get(
        &self,
        inner: &MemoryBackend,
        change_id: &uuid::Uuid,
    ) -> Result<Option<ChangeRecord>> {
        self.call(inner, Method::LogGet, inner.log_get(change_id))
            .await
    }

    async fn log_remove(&self, inner: &MemoryBackend, change_id: &uuid::Uuid) -> Result<()> {
        self.call(inner, Method::LogRemove, inner.log_remove(change_id))
            .await
    }

    async fn log_claim(
        &self,
        inner: &MemoryBackend,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let call = inner.log_claim(claimant, now, ignore_leases, limit);
        self.call(inner, Method::LogClaim, call).await
    }

    async fn log_len(&self, inner: &MemoryBackend) -> Result<u64> {
        self.call(inner, Method::LogLen, inner.log_len()).await
    }

    async fn lease_renew(
        &self,
        inner: &MemoryBackend,
        instance: &str,
        until: SystemTime,
    ) -> Result<()> {
        self.call(
            inner,
            Method::LeaseRenew,
            inner.lease_renew(instance, until),
        )
        .await
    }

    async fn lease_release(&self, inner: &MemoryBackend, instance: &str) -> Result<()> {
        self.call(inner, Method::LeaseRelease, inner.lease_release(instance))
            .await
    }

    async fn initiate_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
    ) -> Result<String> {
        let call = inner.initiate_multipart(id, metadata);
        self.call(inner, Method::InitiateMultipart, call).await
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
        let call = inner.upload_part(id, upload_id, part_number, content_length, body);
        self.call(inner, Method::UploadPart, call).await
    }

    async fn list_parts(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage> {
        let call = inner.list_parts(id, upload_id, max_parts, marker);
        self.call(inner, Method::ListParts, call).await
    }

    async fn abort_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
    ) -> Result<()> {
        let call = inner.abort_multipart(id, upload_id);
        self.call(inner, Method::AbortMultipart, call).await
    }

    async fn complete_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        let call = inner.complete_multipart(id, upload_id, parts);
        self.call(inner, Method::CompleteMultipart, call).await
    }
}
