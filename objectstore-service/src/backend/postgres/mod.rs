//! [`PostgresBackend`]: the high-volume tier on any PostgreSQL-compatible cluster (plain
//! PostgreSQL, CockroachDB, YugabyteDB, Citus, managed services), through a bounded `sqlx`
//! connection pool. Implements [`HighVolumeBackend`] (module `high_volume`) and
//! [`ChangeLog`] (module `log`); built with the cargo feature `postgres`.
//!
//! # Schema (version 1, [`schema`])
//!
//! Every table name starts with [`PostgresConfig::table_prefix`] `{p}`:
//!
//! | table | columns | notes |
//! |---|---|---|
//! | `{p}objects` | `path` (PK), `kind` (`object`/`tombstone`), `metadata` (JSON text, size set), `payload` (BYTEA, objects only), `target` (storage path, tombstones only), `expires` (unix seconds or NULL), `version` (random BIGINT per write) | index `{p}objects_expires (expires, path) WHERE expires IS NOT NULL` |
//! | `{p}change_log` | `change_id` (UUID PK), `owner`, `path`, `old_path`, `new_path`, `upload_id`, `not_before` (ns) | |
//! | `{p}leases` | `instance` (PK), `expires` (ns) | |
//! | `{p}schema_version` | `id = 1`, `version` | written by [`schema::migrate`] at start-up |
//!
//! Rows are keyed by [`ObjectId::as_storage_path`]. Paths compare in the database's
//! collation: byte order (as in the other backends) under `C`/`C.UTF-8`, which
//! `scripts/services/postgres.sh` uses; any other deterministic collation orders and pages
//! `scan_expired` consistently too, only ties of equal deadlines come in another order.
//! (No `COLLATE "C"` on the column: CockroachDB cannot compare collated with plain
//! strings.) Conversions are in the `rows` module.
//!
//! # Primitives: one statement each
//!
//! Every mutation is a single SQL statement, so it is atomic without explicit locks or
//! transactions: PostgreSQL evaluates an `UPDATE`/`DELETE` condition, and the `WHERE` of
//! `INSERT … ON CONFLICT DO UPDATE`, against the *latest committed* version of the row
//! while holding its row lock (READ COMMITTED re-checks a row that changed since the
//! statement's snapshot), so two racing statements can never both see the old row.
//!
//! * **`put`**: `INSERT … ON CONFLICT (path) DO UPDATE SET …`, every column set to
//!   `CASE WHEN o.kind = 'object' THEN <new> ELSE <old> END … RETURNING kind, metadata,
//!   target`: inline rows are replaced, a tombstone is kept unchanged and returned by the
//!   same statement, decided on the locked latest row.
//! * **`delete`**: `WITH d AS (DELETE … WHERE kind = 'object') SELECT <the tombstone> …
//!   WHERE NOT EXISTS (SELECT 1 FROM d)`. The `SELECT` sees the statement's
//!   snapshot: if a tombstone replaced the inline row after it, nothing is deleted and
//!   `None` comes back, which is the outcome of this delete ordered just before that write.
//! * **`compare_and_write`** (`schema::CasStatements`): the write is conditional on the
//!   precondition, and the statement also returns the row as its snapshot saw it:
//!   `WITH w AS (<write> RETURNING 1), b AS (SELECT kind, target …) SELECT EXISTS (w), b.*`.
//!   The `<write>` is, by `current` and write:
//!   * `None` + object/tombstone: `INSERT … ON CONFLICT DO UPDATE … WHERE o.kind = 'object'`
//!     (absent: inserted; inline: replaced; tombstone: untouched);
//!   * `Some(c)` + object/tombstone: `UPDATE … WHERE kind = 'tombstone' AND target = c`;
//!   * `None` + delete: `DELETE … WHERE kind = 'object'`;
//!   * `Some(c)` + delete: `DELETE … WHERE kind = 'tombstone' AND target = c`.
//!
//!   Exactly one of several racers can win, because each condition is re-checked on the row
//!   the winner wrote. **Idempotency:** when nothing was written, the row as the
//!   statement's snapshot saw it decides: a tombstone with the written target (tombstone
//!   write), no row (delete), an inline row (object write) mean a previous attempt already
//!   applied: `true`, nothing written. (A retry starts after the earlier attempt committed,
//!   so its snapshot contains it; a change committed after the snapshot orders after this
//!   write.)
//! * **`delete_if_expired`**: `DELETE … WHERE path = $1 AND expires < $now RETURNING …`.
//! * **Deadline updates** (TTI bumps, `extend_expiry`): `UPDATE … SET metadata, expires
//!   WHERE kind = 'object' AND version = $read AND expires IS NOT DISTINCT FROM $read`: they
//!   apply only to the exact row version that was read. `version` changes with every write
//!   of the row (a random value, so a deleted and re-created row never repeats it) but not
//!   with deadline updates. A TTI bump that loses is dropped (best effort).
//!   `extend_expiry`:
//!   1. Read the row (absent, tombstone or expired at the backend's clock: `NotFound`).
//!   2. [`plan_extension`](crate::expiry::plan_extension): an outcome without a change is
//!      returned as is.
//!   3. Conditional update: applied → `Satisfied` (the commit point).
//!   4. Not applied: read again. Same `version` (only the deadline moved, by a TTI bump or
//!      another extension): back to 2, at most 4 rounds. Other `version`, or gone:
//!      `Conflict` (the object changed between read and write). Errors: nothing changed,
//!      or the update applied and the caller retries (an extension is idempotent).
//!
//! # Expiry
//!
//! Every read passes the backend clock's `now` as a parameter (never the database's
//! `now()`), so tests control time: `WHERE kind = 'tombstone' OR expires IS NULL OR
//! expires >= ceil_secs(now)`. Expired inline rows stay until deleted;
//! `scan_expired` lists them by `(expires, path)` with `(expires, path) > cursor`, served by
//! the partial index. A live TTI read bumps the deadline as [`tti_bump`] says (see above)
//! and reports the metadata from before the access; tombstones are never bumped here.
//!
//! # Change log and leases
//!
//! `append_record` upserts by `change_id`; `get_record`, `remove_record`, `count_records`
//! are plain statements. `claim_records` is one statement:
//!
//! ```sql
//! UPDATE change_log c SET owner = $claimant, not_before = NULL
//! WHERE c.change_id = ANY (ARRAY (SELECT r.change_id FROM change_log r WHERE due(r)
//!                                 ORDER BY r.change_id LIMIT $n FOR UPDATE OF r SKIP LOCKED))
//!   AND due(c)
//! RETURNING c.*
//! ```
//!
//! where `due(x)` is: `x.not_before <= $now` (deferred and due), or `x.not_before IS NULL
//! AND x.owner <> $claimant AND ($ignore_leases OR NOT EXISTS (a lease of x.owner with
//! expires >= $now))`. The `ARRAY (…)` sub-select runs once; `FOR UPDATE SKIP LOCKED` makes
//! concurrent claimants take disjoint records; a record claimed by a transaction that
//! committed after this statement's snapshot is re-checked on its latest version, where it
//! now belongs to the other claimant, whose lease is live (claimants renew their lease
//! before claiming) and whose `not_before` is cleared, so it is not due. Hence one record is
//! never handed to two claimants with live leases. Instants are nanoseconds.
//! `renew_lease` upserts `{p}leases`; `release_lease` deletes the lease, so the instance's
//! records are due at once. Not exclusive: any number of instances may share the tables.
//!
//! # Compatibility
//!
//! Tested against PostgreSQL 15 (`scripts/services/postgres.sh`). The SQL keeps to what
//! the PostgreSQL-compatible clusters also offer: `INSERT … ON CONFLICT … DO UPDATE …
//! WHERE`, data-modifying CTEs, `FOR UPDATE SKIP LOCKED`, partial indexes, `IS NOT DISTINCT
//! FROM`; advisory locks are optional (see [`schema::migrate`]). The atomicity argument above
//! is PostgreSQL's READ COMMITTED; under SERIALIZABLE (CockroachDB's default, or a server
//! configured so) a conflicting statement may instead fail with a serialization error,
//! which reaches the caller as a retryable [`Error::Backend`] and changed nothing.
//!
//! # Errors and secrets
//!
//! Database failures are [`Error::Backend`] with `backend: "postgres"` (retryable) and the
//! `sqlx` error as source; rows this build cannot decode are [`Error::Internal`]. The
//! connection URL is never logged or put into an error (see [`config`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use objectstore_types::{Metadata, ObjectId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::Component;
#[cfg(doc)]
use super::{ChangeLog, HighVolumeBackend};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::expiry::tti_bump;

pub mod config;
mod high_volume;
mod log;
mod rows;
pub mod schema;

use crate::backend::inline::Access;
use config::scrubbed;
pub use config::{PostgresConfig, PostgresUrl};
use rows::{Stored, WriteRow};
use schema::{Statements, q};

/// The backend name in errors and logs.
const NAME: &str = "postgres";

/// Rounds of `extend_expiry` when only the deadline moved concurrently.
const EXTEND_ROUNDS: usize = 4;

/// A database failure, as the retryable backend error.
pub(crate) fn map_err(operation: &'static str, e: sqlx::Error) -> Error {
    Error::backend(NAME, operation, e)
}

/// The PostgreSQL high-volume backend. See the module docs. Clones share the pool.
#[derive(Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    clock: SharedClock,
    prefix: Arc<str>,
    sql: Arc<Statements>,
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("table_prefix", &self.prefix)
            .field("pool_size", &self.pool.size())
            .field("pool_idle", &self.pool.num_idle())
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Connects (at most `config.max_connections` pooled connections), creates or migrates
    /// the schema, and reads expiry deadlines from `clock`.
    ///
    /// Errors: [`Error::InvalidRequest`] for an invalid config or URL, [`Error::Backend`]
    /// when the cluster cannot be reached or the migration fails, [`Error::Internal`] when
    /// the tables have a newer schema version than this build. No error carries the URL.
    pub async fn connect(config: PostgresConfig, clock: SharedClock) -> Result<Self> {
        config.validate()?;
        let url = &config.url;
        let options = PgConnectOptions::from_str(url.expose()).map_err(|e| {
            Error::InvalidRequest(format!(
                "postgres config: invalid url {}: {}",
                url.redacted(),
                scrubbed(url, &e)
            ))
        })?;
        let options = options.application_name("objectstore");
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.connect_timeout)
            .idle_timeout(config.idle_timeout)
            .connect_with(options)
            .await
            .map_err(|e| Error::backend(NAME, "connect", scrubbed(url, &e)))?;
        schema::migrate(&pool, &config.table_prefix).await?;
        Ok(Self {
            sql: Arc::new(Statements::new(&config.table_prefix)),
            prefix: config.table_prefix.into(),
            pool,
            clock,
        })
    }

    /// The table prefix this backend uses.
    pub fn table_prefix(&self) -> &str {
        &self.prefix
    }

    /// Closes the pool (waiting for connections in use). Later calls fail. For shutdown:
    /// [`Component::join`] leaves the pool open, since the tiered layer keeps using its
    /// backends after joining them.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Drops this backend's tables (tests clean up with it). Later calls fail.
    #[cfg(any(test, feature = "testing"))]
    pub async fn drop_tables(&self) -> Result<()> {
        schema::drop_tables(&self.pool, &self.prefix).await
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Reads the row under `id` at the backend's clock; a live TTI object gets its deadline
    /// bumped (best effort) and the pre-access metadata is returned.
    async fn access(&self, id: &ObjectId, with_payload: bool) -> Result<Access> {
        let now = self.clock.now();
        let path = id.as_storage_path();
        let statement = if with_payload {
            &self.sql.get
        } else {
            &self.sql.head
        };
        let row = q(statement)
            .bind(path.as_str())
            .bind(rows::ceil_secs(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("read an object", e))?;
        let Some(row) = row else {
            return Ok(Access::Absent);
        };
        match rows::stored(&path, &row, with_payload)? {
            Stored::Tombstone(t) => Ok(Access::Tombstone(t)),
            Stored::Object {
                metadata,
                payload,
                expires,
                version,
            } => {
                if let Some(deadline) = tti_bump(&metadata, now) {
                    let mut bumped = metadata.clone();
                    bumped.time_expires = Some(deadline);
                    if let Err(error) = self.set_deadline(&path, &bumped, version, expires).await {
                        tracing::warn!(%error, %id, "postgres: TTI bump failed");
                    }
                }
                Ok(Access::Object(metadata, payload))
            }
        }
    }

    /// The inline row under `path` if live at the backend's clock: metadata, `expires`,
    /// `version`. Tombstones count as absent.
    async fn live_object(&self, path: &str) -> Result<Option<(Metadata, Option<i64>, i64)>> {
        let row = q(&self.sql.head)
            .bind(path)
            .bind(rows::ceil_secs(self.clock.now()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("read an object", e))?;
        let Some(row) = row else { return Ok(None) };
        Ok(match rows::stored(path, &row, false)? {
            Stored::Object {
                metadata,
                expires,
                version,
                ..
            } => Some((metadata, expires, version)),
            Stored::Tombstone(_) => None,
        })
    }

    /// Stores `metadata` (deadline moved) on the inline row if it still has `version` and
    /// the deadline `old_expires`. Returns whether it did.
    async fn set_deadline(
        &self,
        path: &str,
        metadata: &Metadata,
        version: i64,
        old_expires: Option<i64>,
    ) -> Result<bool> {
        let updated = q(&self.sql.set_deadline)
            .bind(path)
            .bind(rows::encode_metadata(metadata)?)
            .bind(rows::deadline_secs(metadata))
            .bind(version)
            .bind(old_expires)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("update a deadline", e))?;
        Ok(updated.is_some())
    }

    /// `statement` with a whole row bound (`put`-style binds: path, then the row's columns).
    fn bind_row<'q>(
        statement: &Arc<str>,
        path: &'q str,
        row: &'q WriteRow<'q>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        q(statement)
            .bind(path)
            .bind(row.kind)
            .bind(row.metadata.as_str())
            .bind(row.payload)
            .bind(row.target.as_deref())
            .bind(row.expires)
            .bind(row.version)
    }
}

#[async_trait]
impl Component for PostgresBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn join(&self) {}
}

#[cfg(test)]
mod tests;
