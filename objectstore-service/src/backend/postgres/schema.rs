//! The schema (tables, versioned migrations) and the text of every statement the backend
//! runs, built once per backend from the validated table prefix.
//!
//! **Invariants**
//!
//! * Table names are `{prefix}{table}` with a prefix checked against the rules of
//!   [`super::PostgresConfig::table_prefix`] (lowercase letters, digits, `_`), so the
//!   statements built here by formatting contain no user input other than bind parameters.
//! * [`migrate`] is idempotent and safe when several instances start at once: it runs in
//!   one transaction holding a transaction-level advisory lock keyed by the prefix, reads
//!   `{prefix}schema_version`, applies the missing steps and records the new version. A
//!   cluster without advisory locks (some PostgreSQL-compatible databases) runs the same
//!   idempotent DDL without the lock and retries when a concurrent instance won a race.
//! * A database whose schema version is newer than this build knows is refused.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};

use super::map_err;
use crate::error::{Error, Result};

/// The schema version this build creates and expects.
pub const SCHEMA_VERSION: i32 = 1;

/// The steps from version `n - 1` to `n` (index `n - 1`), each a list of statements.
fn steps(p: &str) -> Vec<Vec<String>> {
    vec![vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {p}objects (
                path TEXT PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('object', 'tombstone')),
                metadata TEXT NOT NULL,
                payload BYTEA,
                target TEXT,
                expires BIGINT,
                version BIGINT NOT NULL,
                CHECK ((kind = 'object') = (payload IS NOT NULL AND target IS NULL))
            )"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {p}objects_expires
                ON {p}objects (expires, path) WHERE expires IS NOT NULL"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {p}change_log (
                change_id UUID PRIMARY KEY,
                owner TEXT NOT NULL,
                path TEXT NOT NULL,
                old_path TEXT,
                new_path TEXT,
                upload_id TEXT,
                not_before BIGINT
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {p}leases (
                instance TEXT PRIMARY KEY,
                expires BIGINT NOT NULL
            )"
        ),
    ]]
}

/// A statement's text, cheap to clone into a query.
pub type Sql = Arc<str>;

/// Builds a query from a prepared statement text (see the module invariants).
pub fn q<'q>(sql: &Sql) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(AssertSqlSafe(Arc::clone(sql)))
}

/// The object columns a write sets, in bind order after `path` ($1).
const WRITE_COLUMNS: &str = "(path, kind, metadata, payload, target, expires, version)";
const WRITE_VALUES: &str = "($1, $2, $3, $4, $5, $6, $7)";
const SET_ALL: &str = "kind = EXCLUDED.kind, metadata = EXCLUDED.metadata, \
     payload = EXCLUDED.payload, target = EXCLUDED.target, expires = EXCLUDED.expires, \
     version = EXCLUDED.version";

/// Every statement of one backend. Bind orders are given per field.
#[derive(Debug)]
pub struct Statements {
    /// Upsert an inline object unless the row is a tombstone, which is then returned
    /// unchanged. Binds: path, kind, metadata, payload, target, expires, version. Returns
    /// `kind, metadata, target` of the row after.
    pub put: Sql,
    /// A row (live at the given instant) with payload. Binds: path, now (secs).
    pub get: Sql,
    /// A row (live at the given instant) without payload. Binds: path, now (secs).
    pub head: Sql,
    /// Sets metadata and deadline of an inline object unless its version or deadline
    /// changed. Binds: path, metadata, expires, version, old expires. Returns 1 row if set.
    pub set_deadline: Sql,
    /// Deletes an inline row, or returns the tombstone. Binds: path.
    pub delete: Sql,
    /// Deletes the row if expired. Binds: path, now (secs). Returns the deleted row.
    pub delete_if_expired: Sql,
    /// Compare-and-write statements, by `[current is Some][write kind]`.
    pub cas: CasStatements,
    /// Expired rows after a cursor. Binds: now (secs), cursor secs, cursor path, limit.
    pub scan_expired: Sql,
    /// Binds: change_id, owner, path, old, new, upload_id, not_before.
    pub append_record: Sql,
    /// Binds: change_id.
    pub get_record: Sql,
    /// Binds: change_id.
    pub remove_record: Sql,
    /// No binds.
    pub count_records: Sql,
    /// Binds: claimant, now (nanos), ignore_leases, limit.
    pub claim_records: Sql,
    /// Binds: instance, until (nanos).
    pub renew_lease: Sql,
    /// Binds: instance.
    pub release_lease: Sql,
}

/// The compare-and-write statements. Each returns one row `(written, kind, target)`:
/// whether the write applied, and the row as it was before the statement (for the
/// idempotency check).
#[derive(Debug)]
pub struct CasStatements {
    /// `current = None`, write a row (object or tombstone). Binds as `put`.
    pub upsert_if_not_tombstone: Sql,
    /// `current = Some(c)`, write a row. Binds as `put`, then `c` ($8).
    pub update_if_target: Sql,
    /// `current = None`, delete. Binds: path.
    pub delete_if_not_tombstone: Sql,
    /// `current = Some(c)`, delete. Binds: path, `c`.
    pub delete_if_target: Sql,
}

impl Statements {
    /// The statements for tables named with prefix `p`.
    pub fn new(p: &str) -> Self {
        let o = format!("{p}objects");
        let c = format!("{p}change_log");
        let l = format!("{p}leases");
        let sql = |s: String| -> Sql { s.into() };
        let before = format!("(SELECT kind, target FROM {o} WHERE path = $1)");
        let cas_result = |write: String| {
            sql(format!(
                "WITH w AS ({write} RETURNING 1), b AS {before}
                 SELECT EXISTS (SELECT 1 FROM w) AS written,
                        (SELECT kind FROM b) AS kind, (SELECT target FROM b) AS target"
            ))
        };
        let record_columns = "change_id, owner, path, old_path, new_path, upload_id, not_before";
        let due = |x: &str| {
            format!(
                "(({x}.not_before IS NOT NULL AND {x}.not_before <= $2)
                  OR ({x}.not_before IS NULL AND {x}.owner <> $1 AND ($3 OR NOT EXISTS (
                      SELECT 1 FROM {l} AS s WHERE s.instance = {x}.owner AND s.expires >= $2))))"
            )
        };
        Self {
            put: sql(format!(
                "INSERT INTO {o} AS o {WRITE_COLUMNS} VALUES {WRITE_VALUES}
                 ON CONFLICT (path) DO UPDATE SET
                    kind = CASE WHEN o.kind = 'object' THEN EXCLUDED.kind ELSE o.kind END,
                    metadata = CASE WHEN o.kind = 'object'
                        THEN EXCLUDED.metadata ELSE o.metadata END,
                    payload = CASE WHEN o.kind = 'object'
                        THEN EXCLUDED.payload ELSE o.payload END,
                    target = CASE WHEN o.kind = 'object' THEN EXCLUDED.target ELSE o.target END,
                    expires = CASE WHEN o.kind = 'object'
                        THEN EXCLUDED.expires ELSE o.expires END,
                    version = CASE WHEN o.kind = 'object'
                        THEN EXCLUDED.version ELSE o.version END
                 RETURNING kind,
                    CASE WHEN kind = 'tombstone' THEN metadata END AS metadata, target"
            )),
            get: sql(format!(
                "SELECT kind, metadata, payload, target, expires, version FROM {o}
                 WHERE path = $1 AND (kind = 'tombstone' OR expires IS NULL OR expires >= $2)"
            )),
            head: sql(format!(
                "SELECT kind, metadata, target, expires, version FROM {o}
                 WHERE path = $1 AND (kind = 'tombstone' OR expires IS NULL OR expires >= $2)"
            )),
            set_deadline: sql(format!(
                "UPDATE {o} SET metadata = $2, expires = $3
                 WHERE path = $1 AND kind = 'object' AND version = $4
                   AND expires IS NOT DISTINCT FROM $5
                 RETURNING 1"
            )),
            delete: sql(format!(
                "WITH d AS (DELETE FROM {o} WHERE path = $1 AND kind = 'object' RETURNING 1)
                 SELECT metadata, target FROM {o}
                 WHERE path = $1 AND kind = 'tombstone' AND NOT EXISTS (SELECT 1 FROM d)"
            )),
            delete_if_expired: sql(format!(
                "DELETE FROM {o} WHERE path = $1 AND expires < $2
                 RETURNING kind, metadata, target"
            )),
            cas: CasStatements {
                upsert_if_not_tombstone: cas_result(format!(
                    "INSERT INTO {o} AS o {WRITE_COLUMNS} VALUES {WRITE_VALUES}
                     ON CONFLICT (path) DO UPDATE SET {SET_ALL} WHERE o.kind = 'object'"
                )),
                update_if_target: cas_result(format!(
                    "UPDATE {o} SET kind = $2, metadata = $3, payload = $4, target = $5,
                        expires = $6, version = $7
                     WHERE path = $1 AND kind = 'tombstone' AND target = $8"
                )),
                delete_if_not_tombstone: cas_result(format!(
                    "DELETE FROM {o} WHERE path = $1 AND kind = 'object'"
                )),
                delete_if_target: cas_result(format!(
                    "DELETE FROM {o} WHERE path = $1 AND kind = 'tombstone' AND target = $2"
                )),
            },
            scan_expired: sql(format!(
                "SELECT path, kind, metadata, target, expires FROM {o}
                 WHERE expires < $1 AND (expires, path) > ($2, $3)
                 ORDER BY expires, path LIMIT $4"
            )),
            append_record: sql(format!(
                "INSERT INTO {c} ({record_columns}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (change_id) DO UPDATE SET owner = EXCLUDED.owner,
                    path = EXCLUDED.path, old_path = EXCLUDED.old_path,
                    new_path = EXCLUDED.new_path, upload_id = EXCLUDED.upload_id,
                    not_before = EXCLUDED.not_before"
            )),
            get_record: sql(format!(
                "SELECT {record_columns} FROM {c} WHERE change_id = $1"
            )),
            remove_record: sql(format!("DELETE FROM {c} WHERE change_id = $1")),
            count_records: sql(format!("SELECT count(*) FROM {c}")),
            claim_records: sql(format!(
                "UPDATE {c} AS c SET owner = $1, not_before = NULL
                 WHERE c.change_id = ANY (ARRAY (
                        SELECT r.change_id FROM {c} AS r WHERE {due_r}
                        ORDER BY r.change_id LIMIT $4
                        FOR UPDATE OF r SKIP LOCKED))
                   AND {due_c}
                 RETURNING {returning}",
                due_r = due("r"),
                due_c = due("c"),
                returning = record_columns
                    .split(", ")
                    .map(|col| format!("c.{col}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
            renew_lease: sql(format!(
                "INSERT INTO {l} (instance, expires) VALUES ($1, $2)
                 ON CONFLICT (instance) DO UPDATE SET expires = EXCLUDED.expires"
            )),
            release_lease: sql(format!("DELETE FROM {l} WHERE instance = $1")),
        }
    }
}

/// The advisory-lock key of a prefix's migrations: FNV-1a of `objectstore:{prefix}`.
fn lock_key(prefix: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "objectstore:".bytes().chain(prefix.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Why a migration attempt failed.
enum Failure {
    Db(sqlx::Error),
    /// The schema is newer than this build.
    Newer(String),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

/// How one migration attempt ended.
enum Attempt {
    Done,
    /// The cluster has no advisory locks: try again without.
    NoAdvisoryLocks,
}

/// Brings the schema of prefix `p` to [`SCHEMA_VERSION`] (see the module docs).
///
/// 1. Begin a transaction and take `pg_advisory_xact_lock(key(p))`: concurrent migrators of
///    the same prefix queue here. (Unsupported: roll back, continue without the lock.)
/// 2. Create `{p}schema_version` if missing and read the version (absent: 0). Newer than
///    this build: error, nothing changed.
/// 3. Run the DDL of every missing step (`IF NOT EXISTS`, so a half-applied step from a
///    lock-less race is finished), then record the version.
/// 4. Commit: the commit point; the lock is released with it. Any error rolls everything
///    back. Without the lock a concurrent migrator may make step 2 or 3 fail with a
///    duplicate-object or serialization error: retried (up to 5 attempts), the next attempt
///    sees the committed schema.
pub async fn migrate(pool: &PgPool, p: &str) -> Result<()> {
    migrate_with(pool, p, true).await
}

/// [`migrate`], starting without the advisory lock when `use_lock` is false (what happens
/// on clusters without advisory locks; tests force it).
pub(crate) async fn migrate_with(pool: &PgPool, p: &str, mut use_lock: bool) -> Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_migrate(pool, p, use_lock).await {
            Ok(Attempt::Done) => return Ok(()),
            Ok(Attempt::NoAdvisoryLocks) => use_lock = false,
            Err(Failure::Db(e)) if !use_lock && attempt < 5 && is_race(&e) => {
                tracing::debug!(error = %e, "postgres: concurrent migration, retrying");
            }
            Err(Failure::Db(e)) => return Err(map_err("migrate the schema", e)),
            Err(Failure::Newer(why)) => return Err(Error::Internal(why)),
        }
    }
}

/// Whether a lock-less migration lost a race against another migrator.
fn is_race(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    matches!(
        db.code().as_deref(),
        Some("23505" | "42P07" | "42710" | "40001" | "40P01")
    )
}

async fn try_migrate(pool: &PgPool, p: &str, use_lock: bool) -> Result<Attempt, Failure> {
    let mut tx = pool.begin().await?;
    if use_lock {
        let locked = sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(p))
            .execute(&mut *tx)
            .await;
        if let Err(e) = locked {
            let unsupported = e
                .as_database_error()
                .and_then(|db| db.code())
                .is_some_and(|code| code == "42883" || code == "0A000");
            if unsupported {
                tracing::warn!("postgres: no advisory locks, migrating without");
                tx.rollback().await?;
                return Ok(Attempt::NoAdvisoryLocks);
            }
            return Err(e.into());
        }
    }
    ddl(
        &mut tx,
        &format!(
            "CREATE TABLE IF NOT EXISTS {p}schema_version (
                id INT PRIMARY KEY CHECK (id = 1),
                version INT NOT NULL
            )"
        ),
    )
    .await?;
    let current: Option<i32> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM {p}schema_version WHERE id = 1"
    )))
    .persistent(false)
    .fetch_optional(&mut *tx)
    .await?;
    let current = current.unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(Failure::Newer(format!(
            "postgres: the tables with prefix {p:?} have schema version {current}, newer \
             than the {SCHEMA_VERSION} this build supports"
        )));
    }
    if current < SCHEMA_VERSION {
        let from = usize::try_from(current).unwrap_or(0);
        for step in steps(p).into_iter().skip(from) {
            for statement in step {
                ddl(&mut tx, &statement).await?;
            }
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {p}schema_version (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version"
        )))
        .bind(SCHEMA_VERSION)
        .persistent(false)
        .execute(&mut *tx)
        .await?;
        tracing::info!(
            prefix = p,
            from = current,
            to = SCHEMA_VERSION,
            "postgres: migrated"
        );
    }
    tx.commit().await?;
    Ok(Attempt::Done)
}

async fn ddl(tx: &mut Transaction<'static, Postgres>, statement: &str) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(statement.to_owned()))
        .persistent(false)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops every table of prefix `p` (tests clean up with it).
#[cfg(any(test, feature = "testing"))]
pub async fn drop_tables(pool: &PgPool, p: &str) -> Result<()> {
    for table in ["objects", "change_log", "leases", "schema_version"] {
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {p}{table}")))
            .persistent(false)
            .execute(pool)
            .await
            .map_err(|e| Error::backend("postgres", "drop tables", e))?;
    }
    Ok(())
}
