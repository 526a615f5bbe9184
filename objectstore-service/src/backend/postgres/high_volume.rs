//! [`HighVolumeBackend`] for [`PostgresBackend`]: the row contract, each mutation one
//! statement of [`super::schema::Statements`] (see the module docs of [`super`] for why each
//! is atomic, the compare-and-write idempotency and the `extend_expiry` protocol).
//! `scan_rows` pages in `path` order (the cursor is the last path; the primary key serves
//! the range); its statement text is built from the validated table prefix only.

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};
use sqlx::AssertSqlSafe;
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::conditional;
use super::listing::{self, ListingColumns};
use super::rows::{self, WriteRow, limit_param};
use super::schema::q;
use super::{EXTEND_ROUNDS, NAME, PostgresBackend, map_err};
use crate::backend::inline::check_inline;
use crate::backend::{
    Expected, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, HighVolumeBackend, ListPage,
    ListQuery, RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::{Error, Result};
use crate::expiry::{ExtendPlan, plan_extension};

/// The tombstone of a row returned with `kind, metadata, target`, if it is one.
fn returned_tombstone(path: &str, row: &PgRow) -> Result<Option<Tombstone>> {
    let kind: String = row
        .try_get("kind")
        .map_err(|e| Error::Internal(format!("postgres: row {path:?}: {e}")))?;
    if kind == rows::TOMBSTONE {
        Ok(Some(rows::tombstone(path, row)?))
    } else {
        Ok(None)
    }
}

#[async_trait]
impl HighVolumeBackend for PostgresBackend {
    async fn put(
        &self,
        id: &ObjectId,
        meta: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        check_inline(payload.len(), NAME)?;
        let path = id.as_storage_path();
        let row = WriteRow::object(meta, &payload)?;
        let listing = ListingColumns::of(id);
        let after = Self::bind_row(&self.sql.put, &path, &row, &listing)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_err("write an object", e))?;
        returned_tombstone(&path, &after)
    }

    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
        Ok(self.access(id, true).await?.into_get(range))
    }

    async fn head(&self, id: &ObjectId) -> Result<TieredMetadata> {
        Ok(self.access(id, false).await?.into_head())
    }

    async fn delete(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        let path = id.as_storage_path();
        let row = q(&self.sql.delete)
            .bind(path.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("delete an object", e))?;
        row.map(|row| rows::tombstone(&path, &row)).transpose()
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        expected: &Expected,
        write: TieredWrite,
    ) -> Result<bool> {
        let path = id.as_storage_path();
        if let TieredWrite::Object(_, b) = &write {
            check_inline(b.len(), NAME)?;
        }
        let listing = ListingColumns::of(id);
        if expected.precondition.is_some() {
            let (row, target) = conditional::planned(&write)?;
            return self
                .compare_and_write_if(&path, &listing, expected, row.as_ref(), target)
                .await;
        }
        let current_path = expected.revision.as_ref().map(ObjectId::as_storage_path);
        let cas = &self.sql.cas;
        let new_row = match &write {
            TieredWrite::Object(m, b) => Some(WriteRow::object(m, b)?),
            TieredWrite::Tombstone(t) => Some(WriteRow::tombstone(t)?),
            TieredWrite::Delete => None,
        };
        let query = match (&new_row, current_path.as_deref()) {
            (Some(row), None) => Self::bind_row(&cas.upsert_if_not_tombstone, &path, row, &listing),
            (Some(row), Some(c)) => {
                Self::bind_row(&cas.update_if_target, &path, row, &listing).bind(c)
            }
            (None, None) => q(&cas.delete_if_not_tombstone).bind(path.as_str()),
            (None, Some(c)) => q(&cas.delete_if_target).bind(path.as_str()).bind(c),
        };
        let result = query
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_err("compare and write", e))?;
        let decode = |e: sqlx::Error| Error::Internal(format!("postgres: CAS of {path:?}: {e}"));
        if result.try_get::<bool, _>("written").map_err(decode)? {
            return Ok(true);
        }
        // Idempotency: the row as it was may already hold what we were asked to write.
        let kind: Option<String> = result.try_get("kind").map_err(decode)?;
        let target: Option<String> = result.try_get("target").map_err(decode)?;
        Ok(match (&write, kind.as_deref()) {
            (TieredWrite::Tombstone(t), Some(rows::TOMBSTONE)) => {
                target.as_deref() == Some(t.target.as_storage_path().as_str())
            }
            (TieredWrite::Delete, None) | (TieredWrite::Object(..), Some(rows::OBJECT)) => true,
            _ => false,
        })
    }

    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>> {
        let path = id.as_storage_path();
        let row = q(&self.sql.delete_if_expired)
            .bind(path.as_str())
            .bind(rows::ceil_secs(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("delete an expired object", e))?;
        match row {
            None => Ok(None),
            Some(row) => returned_tombstone(&path, &row),
        }
    }

    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Deadlines are whole seconds: a cursor inside a second is past every row of it.
        let (after_secs, after_path) = match after {
            None => (i64::MIN, String::new()),
            Some((t, path)) => {
                let whole = t
                    .duration_since(std::time::UNIX_EPOCH)
                    .is_ok_and(|d| d.subsec_nanos() == 0);
                if whole {
                    (rows::secs(*t), path.clone())
                } else {
                    (rows::secs(*t).saturating_add(1), String::new())
                }
            }
        };
        let found = q(&self.sql.scan_expired)
            .bind(rows::ceil_secs(now))
            .bind(after_secs)
            .bind(after_path)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("scan expired objects", e))?;
        found
            .iter()
            .map(|row| {
                let path: String = row
                    .try_get("path")
                    .map_err(|e| Error::Internal(format!("postgres: scan: {e}")))?;
                let expires: i64 = row
                    .try_get("expires")
                    .map_err(|e| Error::Internal(format!("postgres: scan {path:?}: {e}")))?;
                Ok(ExpiredRow {
                    id: rows::parse_id(&path)?,
                    expires: rows::from_secs(expires),
                    tombstone: returned_tombstone(&path, row)?,
                })
            })
            .collect()
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let path = id.as_storage_path();
        let mut lost_at: Option<i64> = None;
        for _ in 0..EXTEND_ROUNDS {
            let live = self.live_object(&path).await?;
            if let Some(lost) = lost_at
                && live.as_ref().is_none_or(|(_, _, version)| *version != lost)
            {
                return Ok(ExtendOutcome::Conflict);
            }
            let Some((metadata, expires, version)) = live else {
                return Ok(ExtendOutcome::NotFound);
            };
            match plan_extension(Some(&metadata), target, now) {
                ExtendPlan::Done(outcome) => return Ok(outcome),
                ExtendPlan::Update(updated) => {
                    if self.set_deadline(&path, &updated, version, expires).await? {
                        return Ok(ExtendOutcome::Satisfied);
                    }
                    lost_at = Some(version);
                }
            }
        }
        Ok(ExtendOutcome::Conflict)
    }

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        let sql = format!(
            "SELECT path, kind, metadata, target, expires, version FROM {}objects
             WHERE $1::TEXT IS NULL OR path > $1 ORDER BY path LIMIT $2",
            self.prefix
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(after)
            .bind(limit_param(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("scan rows", e))?;
        let mut items = Vec::with_capacity(found.len());
        for row in &found {
            let path: String = row
                .try_get("path")
                .map_err(|e| Error::Internal(format!("postgres: scan rows: {e}")))?;
            let info = match rows::stored(&path, row, false)? {
                rows::Stored::Tombstone(t) => RowInfo {
                    id: rows::parse_id(&path)?,
                    metadata: t.metadata,
                    target: Some(t.target),
                },
                rows::Stored::Object { metadata, .. } => RowInfo {
                    id: rows::parse_id(&path)?,
                    metadata,
                    target: None,
                },
            };
            items.push((path, info));
        }
        let page = ScanPage::cut(items, limit, |(path, _)| path.clone());
        Ok(ScanPage {
            items: page.items.into_iter().map(|(_, info)| info).collect(),
            next: page.next,
        })
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        listing::list(&self.pool, &self.sql.list, query, self.clock.now()).await
    }
}
