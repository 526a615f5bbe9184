//! The scans of [`PostgresBackend`] (contract 7 of [`crate::backend`]): rows in `path` order
//! (the cursor is the last path; the primary key serves the range, in the database's
//! collation as everywhere in this backend), the change log in `change_id` order, leases in
//! instance order. Each page is one read-only statement. The statement texts are built from
//! the validated table prefix only (see the `schema` invariants); everything else is bound.

use sqlx::AssertSqlSafe;
use sqlx::Row as _;

use super::{PostgresBackend, map_err, rows};
use crate::backend::{ChangeRecord, Lease, RowInfo, ScanPage};
use crate::error::{Error, Result};

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

impl PostgresBackend {
    pub(super) async fn scan_rows_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ScanPage<RowInfo>> {
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

    pub(super) async fn log_scan_page(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let sql = format!(
            "SELECT change_id, owner, path, old_path, new_path, upload_id, not_before
             FROM {}change_log WHERE $1::UUID IS NULL OR change_id > $1
             ORDER BY change_id LIMIT $2",
            self.prefix
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(after.copied())
            .bind(limit_param(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("scan the change log", e))?;
        found.iter().map(rows::record).collect()
    }

    pub(super) async fn lease_list_all(&self) -> Result<Vec<Lease>> {
        let sql = format!(
            "SELECT instance, expires FROM {}leases ORDER BY instance",
            self.prefix
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("list leases", e))?;
        found
            .iter()
            .map(|row| {
                let instance: String = row
                    .try_get("instance")
                    .map_err(|e| Error::Internal(format!("postgres: list leases: {e}")))?;
                let until: i64 = row
                    .try_get("expires")
                    .map_err(|e| Error::Internal(format!("postgres: list leases: {e}")))?;
                Ok(Lease {
                    instance,
                    until: rows::from_nanos(until),
                })
            })
            .collect()
    }
}
