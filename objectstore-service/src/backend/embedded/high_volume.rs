//! [`HighVolumeBackend`] for [`EmbeddedBackend`]: the row contract, each method one SQL
//! function of the same name in `sql` (or `scan`) run on the writer thread (writes, atomic
//! by construction) or on a read connection (reads).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use crate::backend::inline::{check_inline, respond, sized};
use crate::backend::{
    Expected, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, HighVolumeBackend, ListPage,
    ListQuery, RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::Result;

use super::listing::{self, RowKey};
use super::scan;
use super::sql::{self, Stored};
use super::{EmbeddedBackend, NAME};

#[async_trait]
impl HighVolumeBackend for EmbeddedBackend {
    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
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

    async fn head(&self, id: &ObjectId) -> Result<TieredMetadata> {
        Ok(match self.load(id, false).await? {
            None => TieredMetadata::NotFound,
            Some(Stored::Object { metadata, .. }) => TieredMetadata::Object(metadata),
            Some(Stored::Tombstone(t)) => TieredMetadata::Tombstone(t),
        })
    }

    async fn put(
        &self,
        id: &ObjectId,
        meta: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        check_inline(payload.len(), NAME)?;
        let meta = sized(meta, payload.len());
        let key = RowKey::of(id);
        let vlog = Arc::clone(&self.inner.vlog);
        self.write_weighted("write an object", payload.len(), move |c| {
            sql::put(c, &vlog, &key, &meta, &payload)
        })
        .await
    }

    async fn delete(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        let path = id.as_storage_path();
        self.write("delete an object", move |c| sql::delete(c, &path))
            .await
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        expected: &Expected,
        write: TieredWrite,
    ) -> Result<bool> {
        let key = RowKey::of(id);
        let expected = expected.clone();
        let (write, weight) = match write {
            TieredWrite::Object(metadata, payload) => {
                let weight = payload.len();
                check_inline(weight, NAME)?;
                (
                    TieredWrite::Object(sized(&metadata, weight), payload),
                    weight,
                )
            }
            other => (other, 0),
        };
        let now = self.inner.clock.now();
        let vlog = Arc::clone(&self.inner.vlog);
        self.write_weighted("compare and write", weight, move |c| {
            sql::compare_and_write(c, &vlog, &key, &expected, &write, now)
        })
        .await
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let path = id.as_storage_path();
        let clock_now = self.inner.clock.now();
        self.write("extend an expiry", move |c| {
            sql::extend_expiry(c, &path, target, now, clock_now)
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

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        let after = after.map(str::to_owned);
        self.read("scan rows", move |c| {
            scan::scan_rows(c, after.as_deref(), limit)
        })
        .await
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        let query = query.clone();
        let now = self.inner.clock.now();
        self.read("list objects", move |c| listing::list(c, &query, now))
            .await
    }
}
