//! The contract impls of [`Decorated`]: every method once, each a [`Call`] run through the
//! [`Around`] (see the invariants in [`super`]).

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use super::{Around, Call, Decorated, Method};
use crate::backend::{
    Backend, BlobInfo, ChangeLog, ChangeRecord, Claim, CompleteRejection, CompletedPart, Component,
    Expected, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, GetResponse,
    HighVolumeBackend, Lease, ListPage, ListQuery, LongTermBackend, PartReceipt, PartUpload,
    PartsPage, PartsQuery, PutReceipt, RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite,
    Tombstone,
};
use crate::error::Result;
use crate::stream::PayloadStream;

impl<B: Component + ?Sized, A: Around> Decorated<B, A> {
    fn call<'a>(&self, method: Method, id: Option<&'a ObjectId>) -> Call<'a> {
        Call {
            method,
            backend: self.inner.name(),
            id,
        }
    }

    /// Runs `inner` as the call of `method` on `id` through the decorator.
    fn run<'a, T: Send + 'static>(
        &'a self,
        method: Method,
        id: Option<&'a ObjectId>,
        inner: BoxFuture<'a, Result<T>>,
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        self.around.around(self.call(method, id), inner)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<B: Component + ?Sized, A: Around> Component for Decorated<B, A> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn join(&self) {
        self.inner.join().await;
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<B: Backend + ?Sized, A: Around> Backend for Decorated<B, A> {
    async fn put(&self, id: &ObjectId, meta: &Metadata, body: PayloadStream) -> Result<PutReceipt> {
        let call = self.call(Method::Put, Some(id));
        let body = self.around.body_in(&call, body);
        let inner = self.inner.put(id, meta, body);
        self.around.around(call, inner).await
    }

    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        let call = self.call(Method::Get, Some(id));
        let response = self.around.around(call, self.inner.get(id, range)).await?;
        Ok(response.map_body(|body| self.around.body_out(&call, body)))
    }

    async fn head(&self, id: &ObjectId) -> Result<Option<Metadata>> {
        self.run(Method::Head, Some(id), self.inner.head(id)).await
    }

    async fn delete(&self, id: &ObjectId) -> Result<()> {
        self.run(Method::Delete, Some(id), self.inner.delete(id))
            .await
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let inner = self.inner.extend_expiry(id, target, now);
        self.run(Method::ExtendExpiry, Some(id), inner).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<B: LongTermBackend + ?Sized, A: Around> LongTermBackend for Decorated<B, A> {
    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        let inner = self.inner.initiate_multipart(id, metadata);
        self.run(Method::InitiateMultipart, Some(id), inner).await
    }

    async fn upload_part(
        &self,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String> {
        let call = self.call(Method::UploadPart, Some(id));
        let body = self.around.body_in(&call, body);
        let inner = (self.inner).upload_part(id, upload_id, part_number, content_length, body);
        self.around.around(call, inner).await
    }

    async fn upload_part_checked(&self, part: PartUpload<'_>) -> Result<PartReceipt> {
        let call = self.call(Method::UploadPart, Some(part.id));
        let body = self.around.body_in(&call, part.body);
        let inner = (self.inner).upload_part_checked(PartUpload { body, ..part });
        self.around.around(call, inner).await
    }

    async fn list_parts(&self, query: PartsQuery<'_>) -> Result<PartsPage> {
        let inner = self.inner.list_parts(query);
        self.run(Method::ListParts, Some(query.id), inner).await
    }

    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        let inner = self.inner.abort_multipart(id, upload_id);
        self.run(Method::AbortMultipart, Some(id), inner).await
    }

    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        let inner = self.inner.complete_multipart(id, upload_id, parts);
        self.run(Method::CompleteMultipart, Some(id), inner).await
    }

    async fn list_blobs(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<BlobInfo>> {
        let inner = self.inner.list_blobs(after, limit);
        self.run(Method::ListBlobs, None, inner).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<B: HighVolumeBackend + ?Sized, A: Around> HighVolumeBackend for Decorated<B, A> {
    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
        let call = self.call(Method::Get, Some(id));
        let row = self.around.around(call, self.inner.get(id, range)).await?;
        Ok(row.map_body(|body| self.around.body_out(&call, body)))
    }

    async fn head(&self, id: &ObjectId) -> Result<TieredMetadata> {
        self.run(Method::Head, Some(id), self.inner.head(id)).await
    }

    async fn put(
        &self,
        id: &ObjectId,
        meta: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        let inner = self.inner.put(id, meta, payload);
        self.run(Method::Put, Some(id), inner).await
    }

    async fn delete(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        self.run(Method::Delete, Some(id), self.inner.delete(id))
            .await
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        expected: &Expected,
        write: TieredWrite,
    ) -> Result<bool> {
        let inner = self.inner.compare_and_write(id, expected, write);
        self.run(Method::CompareAndWrite, Some(id), inner).await
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let inner = self.inner.extend_expiry(id, target, now);
        self.run(Method::ExtendExpiry, Some(id), inner).await
    }

    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>> {
        let inner = self.inner.delete_if_expired(id, now);
        self.run(Method::DeleteIfExpired, Some(id), inner).await
    }

    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        let inner = self.inner.scan_expired(now, after, limit);
        self.run(Method::ScanExpired, None, inner).await
    }

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        let inner = self.inner.scan_rows(after, limit);
        self.run(Method::ScanRows, None, inner).await
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        self.run(Method::List, None, self.inner.list(query)).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<B: ChangeLog + ?Sized, A: Around> ChangeLog for Decorated<B, A> {
    async fn append_record(&self, record: &ChangeRecord) -> Result<()> {
        let inner = self.inner.append_record(record);
        self.run(Method::AppendRecord, Some(&record.id), inner)
            .await
    }

    async fn get_record(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        let inner = self.inner.get_record(change_id);
        self.run(Method::GetRecord, None, inner).await
    }

    async fn remove_record(&self, change_id: &uuid::Uuid) -> Result<()> {
        let inner = self.inner.remove_record(change_id);
        self.run(Method::RemoveRecord, None, inner).await
    }

    async fn claim_records(&self, claim: &Claim<'_>) -> Result<Vec<ChangeRecord>> {
        let inner = self.inner.claim_records(claim);
        self.run(Method::ClaimRecords, None, inner).await
    }

    async fn count_records(&self) -> Result<u64> {
        let inner = self.inner.count_records();
        self.run(Method::CountRecords, None, inner).await
    }

    async fn scan_records(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let inner = self.inner.scan_records(after, limit);
        self.run(Method::ScanRecords, None, inner).await
    }

    async fn renew_lease(&self, instance: &str, until: SystemTime) -> Result<()> {
        let inner = self.inner.renew_lease(instance, until);
        self.run(Method::RenewLease, None, inner).await
    }

    async fn release_lease(&self, instance: &str) -> Result<()> {
        let inner = self.inner.release_lease(instance);
        self.run(Method::ReleaseLease, None, inner).await
    }

    async fn list_leases(&self) -> Result<Vec<Lease>> {
        let inner = self.inner.list_leases();
        self.run(Method::ListLeases, None, inner).await
    }

    fn is_exclusive(&self) -> bool {
        self.inner.is_exclusive()
    }
}
