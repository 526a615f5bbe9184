//! The ordered listing of the embedded store ([`crate::backend::HighVolumeBackend::list`])
//! and the schema step that introduced it.
//!
//! **Layout.** Every row of `objects` carries `usecase` (text) and `list_key` (the listing
//! key's UTF-8 bytes as a BLOB, compared with `memcmp`, i.e. in byte order), both functions
//! of `path` alone: set when a row is inserted and never changed by an update of the same
//! path. `list_key` is NULL for objects without a listing key (longer than 1024 bytes), so
//! they are never listed. The partial index `objects_list (usecase, list_key) WHERE
//! list_key IS NOT NULL` serves every page: one index range seek, rows in key order, the
//! upper bound (from the prefix) a range constraint so a page never reads past the prefix.
//!
//! **Migration** ([`migrate_listing`], schema step 4, after the value log's 2 and 3): adds the columns and the index, then
//! fills them for every existing row in the same transaction (an existing store is
//! rewritten once; the step is idempotent if interrupted, since it runs in one
//! transaction).

use std::time::SystemTime;

use objectstore_types::ObjectId;
use objectstore_types::listing::listing_key;
use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, params_from_iter};

use crate::backend::{ListPage, ListQuery, ListedRow};
use crate::error::{Error, Result};

use super::schema::{KIND_TOMBSTONE, db_error, decode_metadata, decode_target, expired_below};

/// Schema step 4: the listing columns and their index.
const SCHEMA_LISTING: &str = "
ALTER TABLE objects ADD COLUMN usecase TEXT;
ALTER TABLE objects ADD COLUMN list_key BLOB;
CREATE INDEX objects_list ON objects (usecase, list_key) WHERE list_key IS NOT NULL;
";

/// Where a row lives: its primary key and the listing columns derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RowKey {
    /// `objects.path`: [`ObjectId::as_storage_path`].
    pub(super) path: String,
    /// `objects.usecase`.
    pub(super) usecase: String,
    /// `objects.list_key`: the listing key's bytes, `None` when the object has none.
    pub(super) list_key: Option<Vec<u8>>,
}

impl RowKey {
    /// The row of `id`.
    pub(super) fn of(id: &ObjectId) -> Self {
        Self {
            path: id.as_storage_path(),
            usecase: id.usecase().as_str().to_owned(),
            list_key: listing_key(id).map(String::into_bytes),
        }
    }

    /// The row at a storage path written by this store.
    pub(super) fn parse(path: &str) -> Result<Self> {
        ObjectId::from_storage_path(path)
            .map(|id| Self::of(&id))
            .ok_or_else(|| Error::Internal(format!("corrupt path in the embedded store: {path:?}")))
    }
}

/// Schema step 4 (see the module docs): columns, index, and the values of existing rows.
pub(super) fn migrate_listing(tx: &Transaction<'_>) -> Result<()> {
    let err = || db_error("add the listing index");
    tx.execute_batch(SCHEMA_LISTING).map_err(err())?;
    let paths: Vec<String> = {
        let mut stmt = tx.prepare("SELECT path FROM objects").map_err(err())?;
        stmt.query_map([], |r| r.get(0))
            .map_err(err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(err())?
    };
    let mut update = tx
        .prepare("UPDATE objects SET usecase = ?2, list_key = ?3 WHERE path = ?1")
        .map_err(err())?;
    for path in paths {
        let row = RowKey::parse(&path)?;
        update
            .execute(rusqlite::params![row.path, row.usecase, row.list_key])
            .map_err(err())?;
    }
    Ok(())
}

/// `list`: one statement on a read connection (a consistent snapshot), reading `limit + 1`
/// rows to know whether the page is truncated.
pub(super) fn list(conn: &Connection, query: &ListQuery, now: SystemTime) -> Result<ListPage> {
    let err = || db_error("list objects");
    let (lower, exclusive) = query.lower_bound();
    let upper = query.upper_bound();
    let sql = format!(
        "SELECT list_key, path, kind, metadata, target FROM objects INDEXED BY objects_list
         WHERE usecase = ?1 AND list_key IS NOT NULL AND list_key {op} ?2 {upper}
           AND (expires IS NULL OR expires >= ?3)
         ORDER BY list_key LIMIT ?4",
        op = if exclusive { ">" } else { ">=" },
        upper = if upper.is_some() {
            "AND list_key < ?5"
        } else {
            ""
        },
    );
    let mut params = vec![
        Value::Text(query.usecase.as_str().to_owned()),
        Value::Blob(lower.to_vec()),
        Value::Integer(expired_below(now)),
        Value::Integer(i64::try_from(query.limit.max(1) + 1).unwrap_or(i64::MAX)),
    ];
    if let Some(upper) = upper {
        params.push(Value::Blob(upper));
    }
    let mut stmt = conn.prepare_cached(&sql).map_err(err())?;
    let mut rows = stmt.query(params_from_iter(params)).map_err(err())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err())? {
        let key: Vec<u8> = row.get(0).map_err(err())?;
        let path: String = row.get(1).map_err(err())?;
        let kind: i64 = row.get(2).map_err(err())?;
        let json: String = row.get(3).map_err(err())?;
        let target: Option<String> = row.get(4).map_err(err())?;
        let corrupt = || {
            Error::Internal(format!(
                "corrupt listing row in the embedded store: {path:?}"
            ))
        };
        let key = String::from_utf8(key).map_err(|_| corrupt())?;
        let id = ObjectId::from_storage_path(&path).ok_or_else(corrupt)?;
        if kind == KIND_TOMBSTONE {
            decode_target(target.as_deref())?;
        }
        let metadata = decode_metadata(&json)?;
        out.push(ListedRow { key, id, metadata });
    }
    Ok(ListPage::cut(out, query.limit))
}
