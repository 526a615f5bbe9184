//! [`HighVolumeBackend`] for [`MemoryBackend`]: each call one locked step on the rows (see
//! the module docs of [`super`]). `scan_rows` pages in storage-path order; the cursor is the
//! last storage path. `list` is the reference semantics of the listing, not an index: it
//! filters every row of the store under the lock (this backend serves tests only).

use std::ops::Bound;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use super::{MemoryBackend, Row, Stored};
use crate::backend::inline::{check_inline, sized};
use crate::backend::{
    Expected, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, HighVolumeBackend, ListPage,
    ListQuery, ListedRow, RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::Result;

#[async_trait]
impl HighVolumeBackend for MemoryBackend {
    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
        Ok(self.access(id).into_get(range))
    }

    async fn head(&self, id: &ObjectId) -> Result<TieredMetadata> {
        Ok(self.access(id).into_head())
    }

    async fn put(
        &self,
        id: &ObjectId,
        meta: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        check_inline(payload.len(), self.name)?;
        let now = self.clock.now();
        let mut state = self.lock();
        if let Some(Row {
            value: Stored::Tombstone(t),
            ..
        }) = state.rows.get(&id.as_storage_path())
        {
            return Ok(Some(t.clone()));
        }
        let value = Stored::Object(sized(meta, payload.len()), payload);
        state.insert(id, value, now);
        Ok(None)
    }

    async fn delete(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        let mut state = self.lock();
        let path = id.as_storage_path();
        if let Some(Row {
            value: Stored::Tombstone(t),
            ..
        }) = state.rows.get(&path)
        {
            return Ok(Some(t.clone()));
        }
        state.rows.remove(&path);
        Ok(None)
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        expected: &Expected,
        write: TieredWrite,
    ) -> Result<bool> {
        if let TieredWrite::Object(_, payload) = &write {
            check_inline(payload.len(), self.name)?;
        }
        let now = self.clock.now();
        let mut state = self.lock();
        let path = id.as_storage_path();
        let row = state.rows.get(&path).map(|r| &r.value);
        let (revision, metadata) = match row {
            Some(Stored::Tombstone(t)) => (Some(&t.target), Some(&t.metadata)),
            Some(Stored::Object(m, _)) => (None, Some(m)),
            None => (None, None),
        };
        if !expected.matches(revision, metadata, now) {
            // Idempotency: the row may already hold what we were asked to write.
            let unconditional = expected.precondition.is_none();
            let done = match (&write, row) {
                (TieredWrite::Tombstone(new), Some(Stored::Tombstone(old))) => {
                    new.target == old.target
                }
                (TieredWrite::Delete, None)
                | (TieredWrite::Object(..), Some(Stored::Object(..))) => unconditional,
                _ => false,
            };
            return Ok(done);
        }
        let value = match write {
            TieredWrite::Delete => {
                state.rows.remove(&path);
                return Ok(true);
            }
            TieredWrite::Object(m, b) => Stored::Object(sized(&m, b.len()), b),
            TieredWrite::Tombstone(t) => Stored::Tombstone(t),
        };
        state.insert(id, value, now);
        Ok(true)
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        Ok(self.extend_inline(id, target, now))
    }

    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>> {
        let mut state = self.lock();
        let path = id.as_storage_path();
        let expired = state
            .rows
            .get(&path)
            .and_then(|r| r.value.deadline())
            .is_some_and(|d| d < now);
        if !expired {
            return Ok(None);
        }
        Ok(match state.rows.remove(&path).map(|r| r.value) {
            Some(Stored::Tombstone(t)) => Some(t),
            _ => None,
        })
    }

    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        let state = self.lock();
        let mut found: Vec<(SystemTime, &String, &Row)> = state
            .rows
            .iter()
            .filter_map(|(path, row)| Some((row.value.deadline()?, path, row)))
            .filter(|(deadline, path, _)| {
                *deadline < now
                    && after.is_none_or(|(at, ap)| (*deadline, path.as_str()) > (*at, ap.as_str()))
            })
            .collect();
        found.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(expires, _, row)| ExpiredRow {
                id: row.id.clone(),
                expires,
                tombstone: match &row.value {
                    Stored::Tombstone(t) => Some(t.clone()),
                    Stored::Object(..) => None,
                },
            })
            .collect())
    }

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        let limit = limit.max(1);
        let state = self.lock();
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
        let items: Vec<(String, RowInfo)> = state
            .rows
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(path, row)| {
                let (metadata, target) = match &row.value {
                    Stored::Tombstone(t) => (t.metadata.clone(), Some(t.target.clone())),
                    Stored::Object(m, _) => (m.clone(), None),
                };
                let info = RowInfo {
                    id: row.id.clone(),
                    metadata,
                    target,
                };
                (path.clone(), info)
            })
            .collect();
        let page = ScanPage::cut(items, limit, |(path, _)| path.clone());
        Ok(ScanPage {
            items: page.items.into_iter().map(|(_, info)| info).collect(),
            next: page.next,
        })
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        let now = self.clock.now();
        let state = self.lock();
        let mut rows: Vec<ListedRow> = state
            .rows
            .values()
            .filter(|row| row.id.usecase() == &query.usecase)
            .filter(|row| row.value.deadline().is_none_or(|d| d >= now))
            .filter_map(|row| {
                let key = objectstore_types::listing::listing_key(&row.id)?;
                query.admits(key.as_bytes()).then(|| ListedRow {
                    key,
                    id: row.id.clone(),
                    metadata: match &row.value {
                        Stored::Object(m, _) => m.clone(),
                        Stored::Tombstone(t) => t.metadata.clone(),
                    },
                })
            })
            .collect();
        rows.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        rows.truncate(query.limit.max(1) + 1);
        Ok(ListPage::cut(rows, query.limit))
    }
}
