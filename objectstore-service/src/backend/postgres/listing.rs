//! The ordered listing of the PostgreSQL store ([`crate::backend::HighVolumeBackend::list`]),
//! schema step 2.
//!
//! **Layout.** `{p}objects` carries `usecase` (TEXT) and `list_key` (BYTEA: the listing
//! key's UTF-8 bytes, compared bytewise whatever the collation), both functions of `path`
//! alone. Every `INSERT` sets them (an update of the same path keeps them); `list_key` is
//! NULL for objects without a listing key (longer than 1024 bytes), so they are never
//! listed. The partial index `{p}objects_list (usecase, list_key) WHERE list_key IS NOT
//! NULL` serves every page: one index range scan with both bounds as range conditions, in
//! key order, `LIMIT limit + 1` to know whether the page is truncated.
//!
//! **Migration.** Step 2 adds the columns and the indexes (`IF NOT EXISTS`, so a
//! half-applied step from a lock-less race is finished). Rows written before it (or by an
//! older build still running during a rolling upgrade) have `usecase IS NULL`: [`backfill`]
//! fills them in pages at every start, found through the small partial index
//! `{p}objects_unlisted (path) WHERE usecase IS NULL`, so a start after the upgrade costs
//! one index probe. Rows an older build writes after the last start of a new one are
//! listed once a new instance starts again.

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Row as _};
use std::time::SystemTime;

use objectstore_types::ObjectId;
use objectstore_types::listing::listing_key;

use super::rows::{self, parse_id};
use super::{NAME, map_err};
use crate::backend::{ListPage, ListQuery, ListedRow};
use crate::error::{Error, Result};

/// Rows filled per statement by [`backfill`].
const BACKFILL_PAGE: i64 = 1000;

/// The statements of schema step 2 for tables with prefix `p`.
pub(super) fn schema_step(p: &str) -> Vec<String> {
    vec![
        format!("ALTER TABLE {p}objects ADD COLUMN IF NOT EXISTS usecase TEXT"),
        format!("ALTER TABLE {p}objects ADD COLUMN IF NOT EXISTS list_key BYTEA"),
        format!(
            "CREATE INDEX IF NOT EXISTS {p}objects_list
                ON {p}objects (usecase, list_key) WHERE list_key IS NOT NULL"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {p}objects_unlisted
                ON {p}objects (path) WHERE usecase IS NULL"
        ),
    ]
}

/// The listing columns of a row: `usecase` and `list_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListingColumns {
    pub(super) usecase: String,
    pub(super) key: Option<Vec<u8>>,
}

impl ListingColumns {
    /// The columns of the row of `id`.
    pub(super) fn of(id: &ObjectId) -> Self {
        Self {
            usecase: id.usecase().as_str().to_owned(),
            key: listing_key(id).map(String::into_bytes),
        }
    }
}

/// Fills the listing columns of rows that have none (module docs), in pages.
pub(super) async fn backfill(pool: &PgPool, p: &str) -> Result<u64> {
    let select = format!(
        "SELECT path FROM {p}objects WHERE usecase IS NULL ORDER BY path LIMIT {BACKFILL_PAGE}"
    );
    let update = format!(
        "UPDATE {p}objects SET usecase = $2, list_key = $3 WHERE path = $1 AND usecase IS NULL"
    );
    let mut filled = 0;
    loop {
        let paths: Vec<String> = sqlx::query_scalar(AssertSqlSafe(select.clone()))
            .fetch_all(pool)
            .await
            .map_err(|e| map_err("fill the listing index", e))?;
        if paths.is_empty() {
            if filled > 0 {
                tracing::info!(rows = filled, "postgres: listing index filled");
            }
            return Ok(filled);
        }
        for path in &paths {
            let columns = ListingColumns::of(&parse_id(path)?);
            sqlx::query(AssertSqlSafe(update.clone()))
                .bind(path.as_str())
                .bind(columns.usecase)
                .bind(columns.key)
                .execute(pool)
                .await
                .map_err(|e| map_err("fill the listing index", e))?;
            filled += 1;
        }
    }
}

/// The listing statement for tables with prefix `p`: `exclusive` lower bound (`>` instead
/// of `>=`), `bounded` above (by the prefix). Binds: usecase, lower, now (secs), limit,
/// then the upper bound when `bounded`.
pub(super) fn statement(p: &str, exclusive: bool, bounded: bool) -> String {
    format!(
        "SELECT list_key, path, kind, metadata, target, expires, version FROM {p}objects
         WHERE usecase = $1 AND list_key IS NOT NULL AND list_key {op} $2 {upper}
           AND (expires IS NULL OR expires >= $3)
         ORDER BY list_key LIMIT $4",
        op = if exclusive { ">" } else { ">=" },
        upper = if bounded { "AND list_key < $5" } else { "" },
    )
}

fn listed(row: &PgRow) -> Result<ListedRow> {
    let path: String = row
        .try_get("path")
        .map_err(|e| Error::Internal(format!("{NAME}: list: {e}")))?;
    let corrupt = |what: String| Error::Internal(format!("{NAME}: listed row {path:?}: {what}"));
    let key: Vec<u8> = row
        .try_get("list_key")
        .map_err(|e| corrupt(e.to_string()))?;
    let key = String::from_utf8(key).map_err(|e| corrupt(e.to_string()))?;
    let metadata = match rows::stored(&path, row, false)? {
        rows::Stored::Tombstone(t) => t.metadata,
        rows::Stored::Object { metadata, .. } => metadata,
    };
    Ok(ListedRow {
        key,
        id: parse_id(&path)?,
        metadata,
    })
}

/// `list`: one statement (module docs).
pub(super) async fn list(
    pool: &PgPool,
    statements: &[[super::schema::Sql; 2]; 2],
    query: &ListQuery,
    now: SystemTime,
) -> Result<ListPage> {
    let (lower, exclusive) = query.lower_bound();
    let upper = query.upper_bound();
    let statement = &statements[usize::from(exclusive)][usize::from(upper.is_some())];
    let mut q = super::schema::q(statement)
        .bind(query.usecase.as_str())
        .bind(lower)
        .bind(rows::ceil_secs(now))
        .bind(i64::try_from(query.limit.max(1) + 1).unwrap_or(i64::MAX));
    if let Some(upper) = upper.as_deref() {
        q = q.bind(upper);
    }
    let found = q
        .fetch_all(pool)
        .await
        .map_err(|e| map_err("list objects", e))?;
    let rows = found.iter().map(listed).collect::<Result<Vec<_>>>()?;
    Ok(ListPage::cut(rows, query.limit))
}
