//! `compare_and_write` with a [`Precondition`](crate::backend::Precondition) (S3's
//! `If-None-Match: *` and `If-Match`): the row's metadata decides, which a single statement
//! cannot judge (the entity tag of an object stored without one is derived from its
//! metadata in Rust), so it runs as one short transaction on the locked row.
//!
//! 1. `BEGIN`; `SELECT kind, metadata, target … WHERE path = $1 FOR UPDATE`: an existing
//!    row is locked until the end of the transaction (a concurrent writer of the row waits,
//!    then sees this transaction's result).
//! 2. Judge the expectation (revision and precondition, at the backend clock's `now`). Not
//!    met → roll back; `true` only if the row already holds the tombstone being written
//!    (idempotency), else `false` (nothing written).
//! 3. Write: an existing (locked) row is updated or deleted by path; no row: `INSERT … ON
//!    CONFLICT (path) DO NOTHING RETURNING 1`. Nothing inserted means a concurrent writer
//!    created the row after step 1 (it cannot be locked before it exists): roll back and go
//!    back to 1, which now sees and locks that row (at most [`ROUNDS`] times, then a
//!    retryable error).
//! 4. `COMMIT`: the commit point. An error before it changed nothing; an error of the
//!    commit itself may or may not have applied (the caller treats it as unknown).
//!
//! Of racing conditional writers of one row, each judges the row only while holding its
//! lock (or, for a missing row, inserts only if it is still missing), so the row each one
//! judges is the one it replaces: exactly the writers whose precondition holds in that
//! order win.

use sqlx::Row as _;

use super::listing::ListingColumns;
use super::rows::{self, WriteRow};
use super::schema::q;
use super::{NAME, PostgresBackend, map_err};
use crate::backend::{Expected, TieredWrite};
use crate::error::{Error, Result};

/// Attempts before a row that keeps appearing between lock and insert is reported.
const ROUNDS: usize = 4;

impl PostgresBackend {
    /// `compare_and_write` with a precondition (module docs).
    pub(super) async fn compare_and_write_if(
        &self,
        path: &str,
        listing: &ListingColumns,
        expected: &Expected,
        new_row: Option<&WriteRow<'_>>,
        written_target: Option<String>,
    ) -> Result<bool> {
        let err = |e| map_err("write conditionally", e);
        for _ in 0..ROUNDS {
            let mut tx = self.pool.begin().await.map_err(err)?;
            // 1. Lock and read the row.
            let row = q(&self.sql.cond.lock_row)
                .bind(path)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
            let stored = row
                .as_ref()
                .map(|row| -> Result<(Option<String>, rows::Stored)> {
                    let target: Option<String> = row
                        .try_get("target")
                        .map_err(|e| Error::Internal(format!("{NAME}: row {path:?}: {e}")))?;
                    Ok((target, rows::stored(path, row, false)?))
                })
                .transpose()?;
            // 2. Judge.
            let (revision, metadata, target) = match &stored {
                None => (None, None, None),
                Some((target, rows::Stored::Tombstone(t))) => {
                    (Some(&t.target), Some(&t.metadata), target.clone())
                }
                Some((_, rows::Stored::Object { metadata, .. })) => (None, Some(metadata), None),
            };
            if !expected.matches(revision, metadata, self.clock.now()) {
                tx.rollback().await.map_err(err)?;
                return Ok(written_target.is_some() && target == written_target);
            }
            // 3. Write.
            let applied = match (stored.is_some(), new_row) {
                (true, None) => {
                    q(&self.sql.cond.delete_row)
                        .bind(path)
                        .execute(&mut *tx)
                        .await
                        .map_err(err)?;
                    true
                }
                (true, Some(row)) => {
                    Self::bind_row(&self.sql.cond.update_row, path, row, listing)
                        .execute(&mut *tx)
                        .await
                        .map_err(err)?;
                    true
                }
                (false, None) => true,
                (false, Some(row)) => Self::bind_row(&self.sql.cond.insert_row, path, row, listing)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(err)?
                    .is_some(),
            };
            if !applied {
                tx.rollback().await.map_err(err)?;
                continue;
            }
            // 4. Commit.
            tx.commit().await.map_err(err)?;
            return Ok(true);
        }
        Err(Error::backend(
            NAME,
            "write conditionally",
            "the row kept appearing between the read and the insert",
        ))
    }
}

/// The write of a [`TieredWrite`] as row columns (`None`: delete) and the tombstone target it
/// writes (for the idempotency check).
pub(super) fn planned(write: &TieredWrite) -> Result<(Option<WriteRow<'_>>, Option<String>)> {
    Ok(match write {
        TieredWrite::Object(m, b) => (Some(WriteRow::object(m, b)?), None),
        TieredWrite::Tombstone(t) => (
            Some(WriteRow::tombstone(t)?),
            Some(t.target.as_storage_path()),
        ),
        TieredWrite::Delete => (None, None),
    })
}
