//! The scans of the embedded store (contract 7 of [`crate::backend`]), each one read-only
//! SQL query on a read connection: rows in `path` order (the cursor is the last path; the
//! primary key serves the range), the change log in `change_id` order, leases in instance
//! order. A page is one statement, so it is a consistent snapshot of the database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use objectstore_types::ObjectId;
use rusqlite::{Connection, params};

use crate::backend::{ChangeRecord, Lease, RowInfo, ScanPage};
use crate::error::{Error, Result};

use super::schema::{KIND_TOMBSTONE, db_error, decode_metadata, decode_target};

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

/// `scan_rows`.
pub(super) fn scan_rows(
    conn: &Connection,
    after: Option<&str>,
    limit: usize,
) -> Result<ScanPage<RowInfo>> {
    let err = || db_error("scan rows");
    let mut stmt = conn
        .prepare_cached(
            "SELECT path, kind, metadata, target FROM objects
             WHERE ?1 IS NULL OR path > ?1 ORDER BY path LIMIT ?2",
        )
        .map_err(err())?;
    let mut rows = stmt
        .query(params![after, limit_param(limit)])
        .map_err(err())?;
    let mut items: Vec<(String, RowInfo)> = Vec::new();
    while let Some(row) = rows.next().map_err(err())? {
        let path: String = row.get(0).map_err(err())?;
        let kind: i64 = row.get(1).map_err(err())?;
        let json: String = row.get(2).map_err(err())?;
        let target: Option<String> = row.get(3).map_err(err())?;
        let id = ObjectId::from_storage_path(&path).ok_or_else(|| {
            Error::Internal(format!("corrupt path in the embedded store: {path:?}"))
        })?;
        let metadata = decode_metadata(&json)?;
        let target = if kind == KIND_TOMBSTONE {
            Some(decode_target(target.as_deref())?)
        } else {
            None
        };
        items.push((
            path,
            RowInfo {
                id,
                metadata,
                target,
            },
        ));
    }
    let page = ScanPage::cut(items, limit, |(path, _)| path.clone());
    Ok(ScanPage {
        items: page.items.into_iter().map(|(_, info)| info).collect(),
        next: page.next,
    })
}

/// `scan_records`.
pub(super) fn scan_records(
    conn: &Connection,
    after: Option<&uuid::Uuid>,
    limit: usize,
) -> Result<Vec<ChangeRecord>> {
    let err = || db_error("scan the change log");
    let after = after.map(|a| a.as_bytes().to_vec());
    let mut stmt = conn
        .prepare_cached(
            "SELECT record FROM changelog
             WHERE ?1 IS NULL OR change_id > ?1 ORDER BY change_id LIMIT ?2",
        )
        .map_err(err())?;
    let jsons = stmt
        .query_map(params![after, limit_param(limit)], |r| {
            r.get::<_, String>(0)
        })
        .map_err(err())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(err())?;
    jsons
        .iter()
        .map(|json| {
            serde_json::from_str(json).map_err(|e| {
                Error::Internal(format!("corrupt change record in the embedded store: {e}"))
            })
        })
        .collect()
}

/// `list_leases`.
pub(super) fn list_leases(conn: &Connection) -> Result<Vec<Lease>> {
    let err = || db_error("list leases");
    let mut stmt = conn
        .prepare_cached("SELECT instance, until FROM leases ORDER BY instance")
        .map_err(err())?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(err())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(err())?;
    Ok(rows
        .into_iter()
        .map(|(instance, until)| Lease {
            instance,
            until: from_nanos(until),
        })
        .collect())
}

/// The inverse of `schema::nanos`.
fn from_nanos(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}
