//! `compare_and_write` with a [`Precondition`](crate::backend::Precondition) (S3's
//! `If-None-Match: *` and `If-Match`): the row's metadata decides, which no Bigtable
//! predicate can judge (the entity tag of an object stored without one is derived from its
//! metadata), so the backend judges a read and commits on the exact state it read.
//!
//! 1. Read the row (metadata, target, state `v`).
//! 2. Judge the expectation (revision and precondition, at the backend clock's `now`). Not
//!    met → `true` only if the row already holds the tombstone being written (idempotency),
//!    else `false`; nothing written.
//! 3. `CheckAndMutateRow`: the row still has the state read (`state_is(v)`; for a missing
//!    row: no `v` cell) → the write's mutations. **Commit point.** Applied → `true`.
//! 4. Not applied: the row changed since step 1 (every write of a row gives it a new state):
//!    back to 1, at most `ROUNDS` times, then a retryable error.
//!
//! Exactly the writers whose expectation holds on the row they replace win: a commit
//! applies only to the state that was judged.

use bytes::Bytes;
use objectstore_types::ObjectId;

use super::client::{Mutation, latest_of, newest};
use super::rows::{self, STATE, Stored};
use super::{BigtableBackend, NAME, ROUNDS};
use crate::backend::Expected;
use crate::error::{Error, Result};

impl BigtableBackend {
    /// `compare_and_write` with a precondition (module docs). `mutations` write the row;
    /// `written_target` is the storage path of the tombstone target being written, if any.
    pub(super) async fn compare_and_write_if(
        &self,
        id: &ObjectId,
        expected: &Expected,
        mutations: Vec<Mutation>,
        written_target: Option<String>,
    ) -> Result<bool> {
        let path = id.as_storage_path();
        let key = path.as_bytes();
        for _ in 0..ROUNDS {
            // 1. Read.
            let cells = self.table.read_row(key, latest_of("m|t|v")).await?;
            let (stored, state) = match &cells {
                None => (None, None),
                Some(cells) => {
                    let state = cells
                        .iter()
                        .find(|c| c.qualifier == STATE.as_bytes())
                        .map(|c| Bytes::from(c.value.clone()));
                    (rows::decode(key, cells, false)?, state)
                }
            };
            // 2. Judge.
            let (revision, metadata) = match &stored {
                None => (None, None),
                Some(Stored::Tombstone { tombstone, .. }) => {
                    (Some(&tombstone.target), Some(&tombstone.metadata))
                }
                Some(Stored::Object { metadata, .. }) => (None, Some(metadata)),
            };
            if !expected.matches(revision, metadata, self.clock.now()) {
                let target = revision.map(ObjectId::as_storage_path);
                return Ok(written_target.is_some() && target == written_target);
            }
            // 3. Commit on the state read.
            let applied = match &state {
                Some(state) => {
                    let state_is = newest(None, STATE, Some(state));
                    self.table
                        .check_and_mutate(key, state_is, mutations.clone(), vec![])
                        .await?
                }
                None => {
                    let has_state = newest(None, STATE, None);
                    !self
                        .table
                        .check_and_mutate(key, has_state, vec![], mutations.clone())
                        .await?
                }
            };
            if applied {
                return Ok(true);
            }
        }
        Err(Error::backend(
            NAME,
            "write conditionally",
            "the row kept changing between read and write",
        ))
    }
}
