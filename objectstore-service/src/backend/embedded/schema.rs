//! The on-disk format of the embedded store: connection settings, the versioned schema and the
//! row codec.
//!
//! **Invariants**
//!
//! * The database is in WAL mode (a persistent property of the file) and the write
//!   connection runs with `synchronous = FULL`: a commit returns only after the WAL frames of
//!   the transaction are fsynced (see the durability argument in [`super`]). Read
//!   connections are read-only.
//! * The schema version lives in `PRAGMA user_version`; [`migrate`] brings a fresh or an
//!   older file to [`SCHEMA_VERSION`] in one transaction, running every numbered step from
//!   the file's version on (so a new store runs the same steps as an upgraded one), and
//!   refuses files from a newer version.
//! * `objects.expires` always equals `unix_secs(metadata.time_expires)` of the row (NULL for
//!   no deadline): every statement in [`super::sql`] that writes the metadata column writes
//!   `expires` from the same value ([`expires_of`]).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use objectstore_types::{Metadata, ObjectId, time};
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

use super::NAME;

/// The current schema version (`PRAGMA user_version`): the number of steps in [`migrate`]
/// (1, the value log's [`SCHEMA_V2`] and [`SCHEMA_V3`], the listing of step 4).
pub(super) const SCHEMA_VERSION: i64 = 4;

/// Row kind: an inline object.
pub(super) const KIND_OBJECT: i64 = 0;
/// Row kind: a redirect tombstone.
pub(super) const KIND_TOMBSTONE: i64 = 1;

/// Schema step 1.
///
/// * `objects`: one row per logical object, keyed by [`ObjectId::as_storage_path`]. The
///   payload is the last column so that metadata-only reads never touch its overflow pages.
/// * `objects_expires`: a partial index serving `scan_expired` in `(expires, path)` order.
/// * `changelog`: the durable change log of the tiered layer. `deferred_until` (unix nanos) is
///   the record's `not_before` while the record is still deferred; a claim clears it.
/// * `leases`: instance leases (`until` in unix nanos).
pub(super) const SCHEMA_V1: &str = "
CREATE TABLE objects (
    path     TEXT    NOT NULL PRIMARY KEY,
    kind     INTEGER NOT NULL,
    metadata TEXT    NOT NULL,
    expires  INTEGER,
    target   TEXT,
    payload  BLOB
);
CREATE INDEX objects_expires ON objects (expires, path) WHERE expires IS NOT NULL;
CREATE TABLE changelog (
    change_id      BLOB    NOT NULL PRIMARY KEY,
    owner          TEXT    NOT NULL,
    deferred_until INTEGER,
    record         TEXT    NOT NULL
);
CREATE TABLE leases (
    instance TEXT    NOT NULL PRIMARY KEY,
    until    INTEGER NOT NULL
);
";

/// Schema version 2: the value log (see [`super::vlog`] and its `rows` module). Applied by
/// [`migrate`] to new stores right after version 1 and to version-1 stores on open. Adding
/// NULL columns rewrites no row, so the migration is instant whatever the size of the store;
/// rows written before it keep their payload inline and stay readable. Its triggers kept
/// `vlog_segments.live` exact until version 3.
pub(super) const SCHEMA_V2: &str = "
ALTER TABLE objects ADD COLUMN vseg INTEGER;
ALTER TABLE objects ADD COLUMN voff INTEGER;
ALTER TABLE objects ADD COLUMN vlen INTEGER;
CREATE INDEX objects_vseg ON objects (vseg, voff) WHERE vseg IS NOT NULL;
CREATE TABLE vlog_segments (
    id   INTEGER NOT NULL PRIMARY KEY,
    live INTEGER NOT NULL
);
CREATE TRIGGER vlog_insert AFTER INSERT ON objects WHEN NEW.vseg IS NOT NULL
BEGIN
    INSERT INTO vlog_segments (id, live) VALUES (NEW.vseg, NEW.vlen)
        ON CONFLICT (id) DO UPDATE SET live = live + excluded.live;
END;
CREATE TRIGGER vlog_update AFTER UPDATE OF vseg, voff, vlen ON objects
    WHEN OLD.vseg IS NOT NEW.vseg OR OLD.voff IS NOT NEW.voff OR OLD.vlen IS NOT NEW.vlen
BEGIN
    UPDATE vlog_segments SET live = live - OLD.vlen WHERE id = OLD.vseg;
    INSERT INTO vlog_segments (id, live) SELECT NEW.vseg, NEW.vlen WHERE NEW.vseg IS NOT NULL
        ON CONFLICT (id) DO UPDATE SET live = live + excluded.live;
END;
CREATE TRIGGER vlog_delete AFTER DELETE ON objects WHEN OLD.vseg IS NOT NULL
BEGIN
    UPDATE vlog_segments SET live = live - OLD.vlen WHERE id = OLD.vseg;
END;
";

/// Schema version 3: the value-log accounting moves from the triggers of version 2 into
/// the statements that change a row's pointer (`vlog::rows::account`). The triggers ran a
/// sub-program with a statement journal on every write of `objects`, inline ones included;
/// the explicit accounting costs nothing on rows without a pointer. The accounting of a
/// version-2 store is exact, and stays so.
pub(super) const SCHEMA_V3: &str = "
DROP TRIGGER vlog_insert;
DROP TRIGGER vlog_update;
DROP TRIGGER vlog_delete;
";

/// Maps a SQLite failure to a backend error for `operation`.
pub(super) fn db_error(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |e| Error::backend(NAME, operation, e)
}

/// Opens the write connection (creating the file) with the durable settings.
pub(super) fn open_writer(path: &Path) -> Result<Connection> {
    let err = db_error("open the database");
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    let err = || db_error("configure the database");
    conn.busy_timeout(Duration::from_secs(5)).map_err(err())?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(err())?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Internal(format!(
            "the embedded store could not switch to WAL mode (got {mode:?})"
        )));
    }
    // FULL: fsync the WAL at every commit (durable against power loss, not only crashes).
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err())?;
    // macOS only: make fsync reach the platter (F_FULLFSYNC). A no-op elsewhere.
    conn.pragma_update(None, "fullfsync", true).map_err(err())?;
    conn.pragma_update(None, "checkpoint_fullfsync", true)
        .map_err(err())?;
    // Keep the WAL file from growing without bound after large transactions: truncated to
    // 16 MiB (the checkpoint backstop) when it restarts.
    conn.pragma_update(None, "journal_size_limit", 16 * 1024 * 1024)
        .map_err(err())?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Opens a read-only connection to an existing store.
pub(super) fn open_reader(path: &Path) -> Result<Connection> {
    let err = || db_error("open a read connection");
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err())?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(err())?;
    conn.set_prepared_statement_cache_capacity(32);
    // A small page cache per reader (SQLite's default is 2 MB each): the interior B-tree
    // pages every lookup needs fit, payload pages are read once per GET and the kernel's page
    // cache holds them anyway. Saves ~6 MB of peak RSS over four readers
    // (docs/benchmarks/report-2026-11-22d.md).
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB)
        .map_err(err())?;
    Ok(conn)
}

/// The page cache of each read connection, as SQLite's negative `cache_size` (KiB).
const READER_CACHE_KIB: i64 = -256;

/// Runs schema step `step` (bringing version `step - 1` to `step`) inside `tx`.
///
/// 1. The tables of version 1 ([`SCHEMA_V1`]).
/// 2. The value log's columns, index and segment table ([`SCHEMA_V2`]).
/// 3. The value log's explicit accounting ([`SCHEMA_V3`]).
/// 4. The listing columns and index, filled for existing rows
///    ([`super::listing::migrate_listing`]).
fn run_step(tx: &rusqlite::Transaction<'_>, step: i64) -> Result<()> {
    let batch = |sql: &str| tx.execute_batch(sql).map_err(db_error("create the schema"));
    match step {
        1 => batch(SCHEMA_V1),
        2 => batch(SCHEMA_V2),
        3 => batch(SCHEMA_V3),
        4 => super::listing::migrate_listing(tx),
        other => Err(Error::Internal(format!(
            "the embedded store has no schema step {other}"
        ))),
    }
}

/// Creates, upgrades or checks the schema: every step after the file's version, then the
/// new version, in one transaction (a failure changes nothing).
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let err = || db_error("create the schema");
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err())?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(err())?;
    if version > SCHEMA_VERSION {
        return Err(Error::Internal(format!(
            "the embedded store has schema version {version}, this build knows only up to \
             {SCHEMA_VERSION}: refusing to open it"
        )));
    }
    if version < SCHEMA_VERSION {
        for step in (version + 1)..=SCHEMA_VERSION {
            run_step(&tx, step)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(err())?;
    }
    tx.commit().map_err(err())
}

/// Seconds since the epoch as stored in `objects.expires`.
pub(super) fn secs(t: SystemTime) -> i64 {
    i64::try_from(time::unix_secs(t)).unwrap_or(i64::MAX)
}

/// The `expires` bound below which a row is expired at `now`: a deadline `e` (whole seconds)
/// is earlier than `now` exactly when `e < ceil(now)`.
pub(super) fn expired_below(now: SystemTime) -> i64 {
    secs(time::ceil_to_second(now))
}

/// Nanoseconds since the epoch (0 before it), for lease and change-log instants.
pub(super) fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `expires` column value of a metadata.
pub(super) fn expires_of(metadata: &Metadata) -> Option<i64> {
    metadata.time_expires.map(secs)
}

/// Encodes metadata for the `metadata` column.
pub(super) fn encode_metadata(metadata: &Metadata) -> Result<String> {
    serde_json::to_string(metadata)
        .map_err(|e| Error::Internal(format!("cannot encode metadata: {e}")))
}

/// Decodes the `metadata` column.
pub(super) fn decode_metadata(json: &str) -> Result<Metadata> {
    serde_json::from_str(json)
        .map_err(|e| Error::Internal(format!("corrupt metadata in the embedded store: {e}")))
}

/// Decodes the `target` column of a tombstone.
pub(super) fn decode_target(path: Option<&str>) -> Result<ObjectId> {
    path.and_then(ObjectId::from_storage_path).ok_or_else(|| {
        Error::Internal(format!(
            "corrupt tombstone target in the embedded store: {path:?}"
        ))
    })
}
