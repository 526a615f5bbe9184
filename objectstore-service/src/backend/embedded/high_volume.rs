//! [`HighVolumeBackend`] for [`EmbeddedBackend`]: the tiering primitives, expiry scans, the
//! change log and leases, each one SQL function in `sql` run on the writer thread (writes,
//! atomic by construction) or on a read connection (reads).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use crate::backend::{
    ChangeRecord, ExpiredRow, ExpiryCursor, HighVolumeBackend, Lease, RowInfo, ScanPage, TieredGet,
    TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::Result;

use super::scan;
use super::sql::{self, Stored};
use super::{EmbeddedBackend, respond, with_size};

#[async_trait]
impl HighVolumeBackend for EmbeddedBackend {
    async fn put_non_tombstone(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        let metadata = with_size(metadata, payload.len());
        let path = id.as_storage_path();
        let vlog = Arc::clone(&self.inner.vlog);
        self.write_weighted("write an object", payload.len(), move |c| {
            sql::put_non_tombstone(c, &vlog, &path, &metadata, &payload)
        })
        .await
    }

    async fn get_tiered(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
        Ok(match self.load(id, true).await? {
            None => TieredGet::NotFound,
            Some(Stored::Object {
                metadata,
                value: Some(value),
                ..
            }) => TieredGet::Object(value.respond(metadata, range)?),
            Some(Stored::Object {
                metadata, payload, ..
            }) => TieredGet::Object(respond(metadata, payload.unwrap_or_default(), range)),
            Some(Stored::Tombstone(t)) => TieredGet::Tombstone(t),
        })
    }

    async fn get_tiered_metadata(&self, id: &ObjectId) -> Result<TieredMetadata> {
        Ok(match self.load(id, false).await? {
            None => TieredMetadata::NotFound,
            Some(Stored::Object { metadata, .. }) => TieredMetadata::Object(metadata),
            Some(Stored::Tombstone(t)) => TieredMetadata::Tombstone(t),
        })
    }

    async fn delete_non_tombstone(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        let path = id.as_storage_path();
        self.write("delete an object", move |c| {
            sql::delete_non_tombstone(c, &path)
        })
        .await
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        current: Option<&ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        let path = id.as_storage_path();
        let current = current.map(ObjectId::as_storage_path);
        let (write, weight) = match write {
            TieredWrite::Object(metadata, payload) => {
                let weight = payload.len();
                (
                    TieredWrite::Object(with_size(&metadata, weight), payload),
                    weight,
                )
            }
            other => (other, 0),
        };
        let vlog = Arc::clone(&self.inner.vlog);
        self.write_weighted("compare and write", weight, move |c| {
            sql::compare_and_write(c, &vlog, &path, current.as_deref(), &write)
        })
        .await
    }

    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>> {
        let path = id.as_storage_path();
        self.write("delete an expired object", move |c| {
            sql::delete_if_expired(c, &path, now)
        })
        .await
    }

    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        let after = after.cloned();
        self.read("scan expired rows", move |c| {
            sql::scan_expired(c, now, after.as_ref(), limit)
        })
        .await
    }

    async fn log_append(&self, record: &ChangeRecord) -> Result<()> {
        let record = record.clone();
        self.write("append to the change log", move |c| {
            sql::log_append(c, &record)
        })
        .await
    }

    async fn log_get(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        let change_id = *change_id;
        self.read("read the change log", move |c| sql::log_get(c, &change_id))
            .await
    }

    async fn log_remove(&self, change_id: &uuid::Uuid) -> Result<()> {
        let change_id = *change_id;
        self.write("remove from the change log", move |c| {
            sql::log_remove(c, &change_id)
        })
        .await
    }

    async fn log_claim(
        &self,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let claimant = claimant.to_owned();
        self.write("claim change-log records", move |c| {
            sql::log_claim(c, &claimant, now, ignore_leases, limit)
        })
        .await
    }

    async fn log_len(&self) -> Result<u64> {
        self.read("count the change log", sql::log_len).await
    }

    async fn lease_renew(&self, instance: &str, until: SystemTime) -> Result<()> {
        let instance = instance.to_owned();
        self.write("renew a lease", move |c| {
            sql::lease_renew(c, &instance, until)
        })
        .await
    }

    async fn lease_release(&self, instance: &str) -> Result<()> {
        let instance = instance.to_owned();
        self.write("release a lease", move |c| sql::lease_release(c, &instance))
            .await
    }

    fn is_exclusive(&self) -> bool {
        true
    }

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        let after = after.map(str::to_owned);
        self.read("scan rows", move |c| {
            scan::scan_rows(c, after.as_deref(), limit)
        })
        .await
    }

    async fn log_scan(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let after = after.copied();
        self.read("scan the change log", move |c| {
            scan::log_scan(c, after.as_ref(), limit)
        })
        .await
    }

    async fn lease_list(&self) -> Result<Vec<Lease>> {
        self.read("list leases", scan::lease_list).await
    }
}
