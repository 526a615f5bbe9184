//! [`HighVolumeBackend`] for [`BigtableBackend`]: the row contract, each write one atomic
//! `MutateRow`/`CheckAndMutateRow` (see the module docs of [`super`] for the protocols of
//! `compare_and_write`, `put`/`delete`, deadline updates and the expiry index scan).
//! `scan_rows` pages in row-key order (object rows follow the reserved `\0` rows); the
//! cursor is the last row key read.

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId, time};

use super::client::{FM, delete_row, keys, keys_only, latest_of, newest, range, range_from};
use super::rows::{self, STATE, Stored, TARGET};
use super::{BigtableBackend, NAME, ROUNDS, SCAN_PAGE, STALE_GRACE};
use crate::backend::inline::{check_inline, sized};
use crate::backend::{
    Expected, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, HighVolumeBackend, ListPage,
    ListQuery, RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::Result;
use crate::expiry::{ExtendPlan, plan_extension};

#[async_trait]
impl HighVolumeBackend for BigtableBackend {
    async fn put(
        &self,
        id: &ObjectId,
        meta: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        check_inline(payload.len(), NAME)?;
        let path = id.as_storage_path();
        let meta = sized(meta, payload.len());
        self.index(&path, &meta).await?;
        self.list_index(id).await?;
        let write = || rows::object_mutations(&meta, &payload, rows::new_state(&meta));
        self.unless_tombstone(&path, write, "write an object").await
    }

    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
        Ok(self.access(id, true).await?.into_get(range))
    }

    async fn head(&self, id: &ObjectId) -> Result<TieredMetadata> {
        Ok(self.access(id, false).await?.into_head())
    }

    async fn delete(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        let path = id.as_storage_path();
        let write = || Ok(vec![delete_row()]);
        self.unless_tombstone(&path, write, "delete an object")
            .await
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        expected: &Expected,
        write: TieredWrite,
    ) -> Result<bool> {
        let path = id.as_storage_path();
        let mutations = match &write {
            TieredWrite::Object(m, b) => {
                check_inline(b.len(), NAME)?;
                let m = sized(m, b.len());
                self.index(&path, &m).await?;
                self.list_index(id).await?;
                rows::object_mutations(&m, b, rows::new_state(&m))?
            }
            TieredWrite::Tombstone(t) => {
                self.index(&path, &t.metadata).await?;
                self.list_index(id).await?;
                rows::tombstone_mutations(t)?
            }
            TieredWrite::Delete => vec![delete_row()],
        };
        if expected.precondition.is_some() {
            let target = match &write {
                TieredWrite::Tombstone(t) => Some(t.target.as_storage_path()),
                _ => None,
            };
            return self
                .compare_and_write_if(id, expected, mutations, target)
                .await;
        }
        let key = path.as_bytes();
        let written = match &expected.revision {
            None => {
                let is_tombstone = newest(Some(FM), TARGET, None);
                !self
                    .table
                    .check_and_mutate(key, is_tombstone, vec![], mutations)
                    .await?
            }
            Some(c) => {
                let c = c.as_storage_path();
                let target_is = newest(Some(FM), TARGET, Some(c.as_bytes()));
                self.table
                    .check_and_mutate(key, target_is, mutations, vec![])
                    .await?
            }
        };
        if written {
            return Ok(true);
        }
        // Idempotency: the row may already hold what we were asked to write.
        Ok(match (&write, self.read(&path, false).await?) {
            (TieredWrite::Tombstone(t), Some(Stored::Tombstone { tombstone, .. })) => {
                tombstone.target == t.target
            }
            (TieredWrite::Delete, None)
            | (TieredWrite::Object(..), Some(Stored::Object { .. })) => true,
            _ => false,
        })
    }

    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>> {
        let path = id.as_storage_path();
        for _ in 0..ROUNDS {
            let Some(row) = self.read(&path, false).await? else {
                return Ok(None);
            };
            if !rows::expired(row.metadata(), now) {
                return Ok(None);
            }
            let state_is = newest(None, STATE, Some(row.state()));
            let deleted = self
                .table
                .check_and_mutate(path.as_bytes(), state_is, vec![delete_row()], vec![])
                .await?;
            if !deleted {
                continue;
            }
            if let Some(secs) = rows::deadline_secs(row.metadata()) {
                let entry = rows::index_key(secs, &path);
                if let Err(error) = self.table.mutate(&entry, vec![delete_row()]).await {
                    tracing::warn!(%error, %id, "bigtable: cannot delete an expiry index entry");
                }
            }
            return Ok(match row {
                Stored::Tombstone { tombstone, .. } => Some(tombstone),
                Stored::Object { .. } => None,
            });
        }
        Ok(None)
    }

    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let end = rows::index_secs(time::unix_secs(time::ceil_to_second(now)));
        // Deadlines are whole seconds: a cursor inside a second is past every row of it.
        let (mut start, mut open) = match after {
            None => (rows::EXP_PREFIX.to_vec(), false),
            Some((t, path)) => {
                let secs = time::unix_secs(*t);
                if rows::from_secs(secs) == *t {
                    (rows::index_key(secs, path), true)
                } else {
                    (rows::index_secs(secs.saturating_add(1)), false)
                }
            }
        };
        loop {
            if start >= end {
                return Ok(out);
            }
            let page = self
                .table
                .read_rows(
                    range(start.clone(), open, end.clone()),
                    keys_only(),
                    SCAN_PAGE as i64,
                )
                .await?;
            let entries = page
                .iter()
                .map(|(key, _)| rows::parse_index_key(key))
                .collect::<Result<Vec<_>>>()?;
            let mut paths: Vec<Vec<u8>> = entries.iter().map(|(_, p)| p.clone()).collect();
            paths.sort();
            paths.dedup();
            let found: std::collections::HashMap<Vec<u8>, _> = if paths.is_empty() {
                Default::default()
            } else {
                self.table
                    .read_rows(keys(paths), latest_of("m|t|v"), 0)
                    .await?
                    .into_iter()
                    .collect()
            };
            for ((secs, path), (key, _)) in entries.into_iter().zip(&page) {
                let row = match found.get(&path) {
                    Some(cells) => rows::decode(&path, cells, false)?,
                    None => None,
                };
                match row {
                    Some(row) if rows::deadline_secs(row.metadata()) == Some(secs) => {
                        out.push(ExpiredRow {
                            id: rows::parse_id(&path)?,
                            expires: rows::from_secs(secs),
                            tombstone: match row {
                                Stored::Tombstone { tombstone, .. } => Some(tombstone),
                                Stored::Object { .. } => None,
                            },
                        });
                        if out.len() >= limit {
                            return Ok(out);
                        }
                    }
                    _ if rows::from_secs(secs) + STALE_GRACE < now => {
                        // Best effort: a later scan tries again.
                        if let Err(error) = self.table.mutate(key, vec![delete_row()]).await {
                            tracing::warn!(%error, "bigtable: cannot delete a stale index entry");
                        }
                    }
                    _ => {}
                }
            }
            match page.last() {
                Some((last, _)) if page.len() >= SCAN_PAGE => {
                    start = last.clone();
                    open = true;
                }
                _ => return Ok(out),
            }
        }
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let path = id.as_storage_path();
        let mut lost: Option<Vec<u8>> = None;
        for _ in 0..ROUNDS {
            let live = self.live_object(&path).await?;
            if let Some(lost) = &lost
                && live
                    .as_ref()
                    .is_none_or(|(_, state)| !rows::same_version(state, lost))
            {
                return Ok(ExtendOutcome::Conflict);
            }
            let Some((metadata, state)) = live else {
                return Ok(ExtendOutcome::NotFound);
            };
            match plan_extension(Some(&metadata), target, now) {
                ExtendPlan::Done(outcome) => return Ok(outcome),
                ExtendPlan::Update(updated) => {
                    if self.set_deadline(&path, &updated, &state, None).await? {
                        return Ok(ExtendOutcome::Satisfied);
                    }
                    lost = Some(state);
                }
            }
        }
        Ok(ExtendOutcome::Conflict)
    }

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        // Object paths start with a usecase name; the reserved rows (`\0...`) sort first.
        let rows = match after {
            Some(path) => range_from(path.as_bytes().to_vec(), true),
            None => range_from(vec![1], false),
        };
        let limit = limit.max(1);
        let page = self
            .table
            .read_rows(
                rows,
                latest_of("m|t|v"),
                i64::try_from(limit).unwrap_or(i64::MAX),
            )
            .await?;
        let mut items = Vec::with_capacity(page.len());
        for (key, cells) in &page {
            // A row the GC removed only in part (an expired inline object) is skipped.
            let info = match rows::decode(key, cells, false)? {
                None => continue,
                Some(Stored::Tombstone { tombstone, .. }) => RowInfo {
                    id: rows::parse_id(key)?,
                    metadata: tombstone.metadata,
                    target: Some(tombstone.target),
                },
                Some(Stored::Object { metadata, .. }) => RowInfo {
                    id: rows::parse_id(key)?,
                    metadata,
                    target: None,
                },
            };
            items.push(info);
        }
        // The cursor follows the rows read, skipped ones included.
        let next = match page.last() {
            Some((last, _)) if page.len() >= limit => {
                Some(String::from_utf8_lossy(last).into_owned())
            }
            _ => None,
        };
        Ok(ScanPage { items, next })
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        self.list_rows(query).await
    }
}
