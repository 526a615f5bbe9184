//! [`BigtableBackend`]: the high-volume tier on Google Cloud Bigtable (or its emulator), over
//! gRPC with `bigtable_rs` (tonic). Implements [`HighVolumeBackend`] (module `high_volume`)
//! and [`ChangeLog`] (module `log`); built with the cargo feature `bigtable`.
//!
//! # Table layout
//!
//! One table with two column families: `fg` (GC rule max-age 1 s: a cell goes once its
//! timestamp is more than a second in the past) and `fm` (no GC). Rows (module `rows`):
//!
//! | row key | columns | notes |
//! |---|---|---|
//! | [`ObjectId::as_storage_path`] | inline object: `m` (metadata JSON, size set), `p` (payload), `v` (state) | in `fg` with cell timestamp = deadline when the object expires, else in `fm` |
//! | same | tombstone: `fm:t` (target path), `fm:m`, `fm:v` | always `fm`: an expired tombstone must stay until the sweeper has deleted its long-term blob |
//! | `\0log/{change_id}` | `fm:r` (the [`ChangeRecord`] as JSON), `fm:v` (state) | the change log |
//! | `\0lease/{instance}` | `fm:u` (lease end, ns) | instance leases |
//! | `\0exp/{deadline secs:020}/{path}` | `fm:e` (empty) | expiry index entries |
//!
//! Object paths start with the usecase, which cannot contain control characters, so no
//! object row can collide with the reserved `\0` rows. Every write of an object row is one
//! atomic `MutateRow`/`CheckAndMutateRow` that starts with `DeleteFromRow`, so a row never
//! mixes kinds or versions. The state `v` is `{random version}d{deadline}` (or `…n`): a new
//! version per write, the same version when only the deadline moves.
//!
//! # Expiry
//!
//! Three layers: (1) **read-time check**: every read compares the stored deadline with the
//! backend clock, so an expired inline object reads as absent at once (tombstones are
//! returned raw to the tiered layer, as the contract says); (2) **cell timestamps + GC**:
//! expiring inline objects live in `fg` with timestamp = deadline, so Bigtable's GC removes
//! them by itself (a row whose cells the GC removed only in part reads as absent);
//! (3) **the expiry index** for [`HighVolumeBackend::scan_expired`] (tombstones need the
//! sweeper, which deletes their long-term blobs).
//!
//! **Index trade-off.** Bigtable has no secondary indexes. A filtered full-table scan would
//! cost a read of the whole table per sweep; instead every write of a row with a deadline
//! first writes the index row `\0exp/{deadline}/{path}` (idempotent, before the data row, so
//! every expiring row has an entry at its current deadline). Entries can be stale (the row
//! was rewritten with another deadline or deleted): a scan reads the index range
//! `[after cursor, ceil(now))` in order, reads the rows it names in one batched `ReadRows`,
//! and reports a row only if its current deadline equals the entry's. Stale entries are
//! deleted by the scan once their deadline is more than [`STALE_GRACE`] (1 h) in the past
//! (younger ones are skipped: a writer may have written the entry and not yet its row);
//! `delete_if_expired` deletes the entry of the row it deleted. Costs: one extra small
//! write per expiring write (TTI bumps included), and index rows of deleted objects until a
//! scan passes them. A writer stalled for more than an hour between its index write and its
//! row write could lose its entry to a scan; the row then still reads as absent once
//! expired and (inline) is still removed by the GC, only a tombstone's blob would wait for
//! another write of the row.
//!
//! # Protocols (each atomic step is one `CheckAndMutateRow`)
//!
//! Every predicate tests the *newest* cell of one column (`CellsColumnLimitFilter(1)` comes
//! before the value test, `client::newest`), so an older cell version, should one exist,
//! never satisfies it. `is_tombstone` = "`fm:t` has a cell"; `target_is(c)` = "the newest
//! `fm:t` is exactly `c`"; `state_is(s)` = "the newest `v` is exactly `s`".
//!
//! **`compare_and_write(id, current, write)`**:
//! 1. If the write carries a deadline, write its index entry (idempotent; an error here
//!    changes nothing).
//! 2. `CheckAndMutateRow`: for `current = None`, predicate `is_tombstone`, the write as
//!    *false* mutations (absent or inline: written; tombstone: untouched); for `Some(c)`,
//!    predicate `target_is(c)`, the write as *true* mutations. **Commit point.** Applied →
//!    `true`. Of several racers exactly one can apply: the first changes `t` (or removes
//!    it), so every later predicate is evaluated on the winner's row.
//! 3. Not applied: read the row. Already in the written state (a tombstone with the written
//!    target, which only this operation can have written since targets are fresh
//!    revisions; no row for `Delete`; an inline row for `Object`) → `true` (a retry after a
//!    lost response), else `false` (lost race).
//!    An error in step 2 may or may not have applied; the caller retries, which step 3
//!    makes safe.
//!
//! **`put` / `delete`** (of the row contract): 1. `CheckAndMutateRow(is_tombstone,
//! -, write)`: not matched → written, `None` (commit point). 2. Matched: read the row; a
//! tombstone → return it (nothing written; the operation is ordered at that read). 3. The
//! tombstone vanished in between: back to 1, at most `ROUNDS` (4) times, then a retryable
//! error.
//!
//! **Deadline updates** (TTI bumps, `extend_expiry`, `delete_if_expired`) are conditional
//! on the state read: `CheckAndMutateRow(state_is(read), rewrite or delete)`. An inline
//! row's cells must move to the new timestamp, so a bump rewrites the whole row (payload
//! included, read again for HEAD). A TTI bump that loses is dropped (best effort).
//! `extend_expiry`: 1. read the live inline row (absent, tombstone or expired: `NotFound`);
//! 2. [`plan_extension`](crate::expiry::plan_extension): an outcome without a change is
//! returned; 3. write the index entry, then the conditional rewrite: applied → `Satisfied`
//! (commit point); 4. not applied: read again; the same version (only the deadline moved)
//! → back to 2, at most `ROUNDS` times; another version or gone → `Conflict`.
//! `delete_if_expired(now)`: 1. read; absent or not expired at `now` → `None`; 2. conditional
//! delete on the state read (commit point): applied → delete the index entry (best effort),
//! return the tombstone if it was one; not applied (the row changed) → back to 1, at most
//! `ROUNDS` times.
//!
//! **`claim_records(claimant, now)`** (module `log`):
//! 1. Read every lease row (instance → lease end).
//! 2. Read the log rows in key order, in pages. A record is *due* when `not_before <= now`,
//!    or `not_before` is unset, its owner is not the claimant and (with `ignore_leases`, or)
//!    the owner has no lease ending at or after `now`.
//! 3. For each due record: `CheckAndMutateRow(state_is(read state), rewrite with owner =
//!    claimant, not_before unset, new state)`. **Commit point per record.** Applied → the
//!    record is ours. Not applied → somebody changed it since step 2 (claimed, removed,
//!    re-appended): skipped.
//! 4. Stop at `limit` claimed records; return them by change id.
//!
//! Why a record never goes to two live claimants: a claim changes the record's state, so of
//! two claims based on the same read only the first applies; a claimant that reads the
//! record after a claim sees owner = the other claimant, whose lease is live (claimants
//! renew their lease before claiming) and `not_before` unset, so the record is not due.
//! An error in step 3 may or may not have applied; an unreported claim makes the record
//! ours without our knowing, and it becomes due again for others when our lease ends.
//!
//! # Errors and credentials
//!
//! gRPC failures are [`Error::Backend`] with `backend: "bigtable"` (retryable), invalid
//! arguments (e.g. a row key over Bigtable's 4 KiB limit) [`Error::InvalidRequest`], rows this
//! build cannot decode [`Error::Internal`]. Credentials come from Application Default
//! Credentials (`GOOGLE_APPLICATION_CREDENTIALS`), never from the config, and are never
//! logged; the emulator (`endpoint` or `BIGTABLE_EMULATOR_HOST`) needs none.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::{Metadata, ObjectId};

#[cfg(doc)]
use super::{ChangeLog, ChangeRecord, HighVolumeBackend};
use super::{Component, Tombstone};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::expiry::tti_bump;

mod client;
pub mod config;
mod high_volume;
mod log;
mod rows;

use crate::backend::inline::Access;
use client::{FM, Table, keys_only, latest, latest_of, newest, range};
pub use config::BigtableConfig;
use rows::{STATE, Stored, TARGET};

/// The backend name in errors and logs.
const NAME: &str = "bigtable";

/// Rounds of the retry loops in the protocols (see the module docs).
const ROUNDS: usize = 4;

/// Age past its deadline after which a scan deletes a stale expiry index entry.
pub const STALE_GRACE: Duration = Duration::from_secs(3600);

/// GC max-age of the `fg` family of tables this backend creates.
pub const FG_MAX_AGE: Duration = Duration::from_secs(1);

/// Index entries (and rows) a scan reads per page.
const SCAN_PAGE: usize = 256;

/// The Bigtable high-volume backend. See the module docs. Clones share the channels.
#[derive(Clone)]
pub struct BigtableBackend {
    table: Table,
    clock: SharedClock,
    config: Arc<BigtableConfig>,
}

impl fmt::Debug for BigtableBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BigtableBackend")
            .field("project_id", &self.config.project_id)
            .field("instance_name", &self.config.instance_name)
            .field("table_name", &self.config.table_name)
            .field("emulator", &self.config.emulator())
            .finish_non_exhaustive()
    }
}

impl BigtableBackend {
    /// Connects, creates the table on an emulator when missing (and `create_table` is set),
    /// and checks that the table can be read. Expiry deadlines are read from `clock`.
    ///
    /// Errors: [`Error::InvalidRequest`] for an invalid config, [`Error::Backend`] when
    /// Bigtable cannot be reached or the table is missing.
    pub async fn connect(config: BigtableConfig, clock: SharedClock) -> Result<Self> {
        Self::connect_with_gc(config, clock, FG_MAX_AGE).await
    }

    /// [`Self::connect`], creating a missing table with `fg_max_age` as the `fg` GC rule
    /// (tests use a long one, so the emulator's GC, which runs on real time, never races a
    /// manual test clock).
    pub async fn connect_with_gc(
        config: BigtableConfig,
        clock: SharedClock,
        fg_max_age: Duration,
    ) -> Result<Self> {
        config.validate()?;
        if config.create_table
            && let Some(endpoint) = config.emulator()
        {
            client::create_table(&endpoint, &config, fg_max_age).await?;
        }
        let table = Table::connect(&config).await?;
        // Fails when the table or the instance is missing, or credentials are refused.
        table
            .read_rows(range(vec![], false, vec![0xff]), keys_only(), 1)
            .await?;
        Ok(Self {
            table,
            clock,
            config: Arc::new(config),
        })
    }

    /// The table the backend works on (for tests that write raw cells).
    #[cfg(test)]
    pub(crate) fn table(&self) -> &Table {
        &self.table
    }

    /// Reads the object or tombstone row at `path` (the payload only when asked).
    async fn read(&self, path: &str, with_payload: bool) -> Result<Option<Stored>> {
        let filter = if with_payload {
            latest()
        } else {
            latest_of("m|t|v")
        };
        match self.table.read_row(path.as_bytes(), filter).await? {
            None => Ok(None),
            Some(cells) => rows::decode(path.as_bytes(), &cells, with_payload),
        }
    }

    /// Reads the row under `id` at the backend's clock; a live TTI object gets its deadline
    /// bumped (best effort) and the pre-access metadata is returned.
    async fn access(&self, id: &ObjectId, with_payload: bool) -> Result<Access> {
        let now = self.clock.now();
        let path = id.as_storage_path();
        Ok(match self.read(&path, with_payload).await? {
            None => Access::Absent,
            Some(Stored::Tombstone { tombstone, .. }) => Access::Tombstone(tombstone),
            Some(Stored::Object {
                metadata,
                payload,
                state,
            }) => {
                if rows::expired(&metadata, now) {
                    return Ok(Access::Absent);
                }
                if let Some(deadline) = tti_bump(&metadata, now) {
                    let mut bumped = metadata.clone();
                    bumped.time_expires = Some(deadline);
                    let bump = self.set_deadline(&path, &bumped, &state, payload.clone());
                    if let Err(error) = bump.await {
                        tracing::warn!(%error, %id, "bigtable: TTI bump failed");
                    }
                }
                Access::Object(metadata, payload)
            }
        })
    }

    /// Writes the expiry index entry of `path` for `metadata`'s deadline, if it has one.
    async fn index(&self, path: &str, metadata: &Metadata) -> Result<()> {
        let Some(secs) = rows::deadline_secs(metadata) else {
            return Ok(());
        };
        let key = rows::index_key(secs, path);
        let cell = client::set(FM, "e", 0, Vec::new());
        self.table.mutate(&key, vec![cell]).await
    }

    /// Rewrites the inline row at `path` with `metadata` (deadline moved) iff its state is
    /// still `state`. `payload`: the row's payload when the caller has it. Returns whether
    /// it did.
    async fn set_deadline(
        &self,
        path: &str,
        metadata: &Metadata,
        state: &[u8],
        payload: Option<Bytes>,
    ) -> Result<bool> {
        let payload = match payload {
            Some(p) => p,
            None => match self.read(path, true).await? {
                Some(Stored::Object {
                    payload: Some(p),
                    state: now,
                    ..
                }) if now == state => p,
                _ => return Ok(false),
            },
        };
        self.index(path, metadata).await?;
        let rewrite =
            rows::object_mutations(metadata, &payload, rows::moved_state(state, metadata))?;
        self.table
            .check_and_mutate(
                path.as_bytes(),
                newest(None, STATE, Some(state)),
                rewrite,
                vec![],
            )
            .await
    }

    /// The live inline row at `path`: metadata and state. Tombstones count as absent.
    async fn live_object(&self, path: &str) -> Result<Option<(Metadata, Vec<u8>)>> {
        Ok(match self.read(path, false).await? {
            Some(Stored::Object {
                metadata, state, ..
            }) if !rows::expired(&metadata, self.clock.now()) => Some((metadata, state)),
            _ => None,
        })
    }

    /// Applies `write` unless the row is a tombstone, which is returned instead (the
    /// `put` / `delete` protocol of the row contract).
    async fn unless_tombstone(
        &self,
        path: &str,
        write: impl Fn() -> Result<Vec<client::Mutation>>,
        operation: &'static str,
    ) -> Result<Option<Tombstone>> {
        for _ in 0..ROUNDS {
            let is_tombstone = newest(Some(FM), TARGET, None);
            let matched = self
                .table
                .check_and_mutate(path.as_bytes(), is_tombstone, vec![], write()?)
                .await?;
            if !matched {
                return Ok(None);
            }
            if let Some(Stored::Tombstone { tombstone, .. }) = self.read(path, false).await? {
                return Ok(Some(tombstone));
            }
        }
        Err(Error::backend(
            NAME,
            operation,
            "the row kept changing between tombstone and inline object",
        ))
    }
}

#[async_trait]
impl Component for BigtableBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn join(&self) {}
}

#[cfg(test)]
mod tests;
