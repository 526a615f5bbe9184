//! Batch execution: many small operations on one usecase and scopes, run concurrently with a
//! bounded window, results in completion order (docs/http-api.md §8).
//!
//! # How a batch runs
//!
//! 1. The caller hands [`StorageService::batch`] a stream of `(index, op)`. The input is
//!    pulled lazily: at most [`StorageService::batch_window`] operations of one batch are
//!    in flight at once, so memory is bounded by the window (each op at most 1 MiB), not by
//!    the batch size.
//! 2. For each op, a *bulk* permit is reserved from the service's limiter **before** anything
//!    is spawned ([`crate::limiter::ConcurrencyLimiter::acquire_bulk`]: waits at most
//!    `concurrency_timeout`). No permit → that op's result is [`crate::Error::Overloaded`] (a 429
//!    part); the other ops are unaffected.
//! 3. With the permit, the op runs in its own spawned task: it runs to completion even if
//!    the result stream is dropped, and a panic becomes [`crate::Error::Internal`] for that op only.
//!    The task holds the permit until it ends; a GET's body keeps it until the body is read
//!    or dropped (see [`crate::service`]).
//! 4. Results are yielded in completion order, each tagged with its index.
//!
//! **Invariants**
//!
//! * Every op pulled from the input yields exactly one result, with its own index.
//! * One op's failure or panic never affects another's.
//! * A batch never uses more than the bulk share of the service's permits, and its window is
//!   never larger than that share (so a batch does not time out waiting on itself).
//! * Ops of a batch use the backend directly under their bulk permit; they never also take
//!   a single-operation permit.
//! * Dropping the result stream stops pulling new ops; ops already spawned still finish.

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey};

use crate::backend::GetResponse;
use crate::error::Result;
use crate::limiter::Permit;
use crate::service::{StorageService, hold_permit, spawn_isolated};

/// Operations of one batch running at once, at most (see [`StorageService::batch_window`]).
pub const BATCH_WINDOW: usize = 16;

/// One operation of a batch. Keys are relative to the batch's context.
#[derive(Debug)]
pub enum BatchOp {
    /// Read an object.
    Get {
        /// The key.
        key: ObjectKey,
    },
    /// Read an object's metadata.
    Head {
        /// The key.
        key: ObjectKey,
    },
    /// Store an object (the payload is at most 1 MiB, buffered by the caller).
    Insert {
        /// The key, or `None` for a server-generated one.
        key: Option<ObjectKey>,
        /// Client metadata (not yet stamped).
        metadata: Box<Metadata>,
        /// The payload.
        payload: Bytes,
    },
    /// Delete an object.
    Delete {
        /// The key.
        key: ObjectKey,
    },
}

/// The result of one successful batch operation.
#[derive(Debug)]
pub enum BatchOutcome {
    /// A get; the response may be `NotFound`.
    Get {
        /// The key.
        key: ObjectKey,
        /// What was found.
        response: GetResponse,
    },
    /// A head; `None` when absent.
    Head {
        /// The key.
        key: ObjectKey,
        /// The metadata, if found.
        metadata: Option<Metadata>,
    },
    /// An insert (new or overwrite).
    Insert {
        /// The key written (generated when none was given).
        key: ObjectKey,
    },
    /// A delete.
    Delete {
        /// The key.
        key: ObjectKey,
    },
}

impl StorageService {
    /// How many ops of one batch run at once: [`BATCH_WINDOW`], or the bulk share of the
    /// limiter when that is smaller.
    pub fn batch_window(&self) -> usize {
        BATCH_WINDOW.min(self.limiter().bulk_limit()).max(1)
    }

    /// Executes a batch. `ops` yields `(index, op)`; the result stream yields `(index,
    /// result)` for each, in completion order. See the module docs.
    pub fn batch<S>(
        &self,
        context: ObjectContext,
        ops: S,
    ) -> BoxStream<'static, (usize, Result<BatchOutcome>)>
    where
        S: Stream<Item = (usize, BatchOp)> + Send + 'static,
    {
        let service = self.clone();
        let window = self.batch_window();
        ops.map(move |(index, op)| {
            let service = service.clone();
            let context = context.clone();
            async move {
                let result = match service.limiter().acquire_bulk().await {
                    Ok(permit) => spawn_isolated(execute_one(service, context, op, permit)).await,
                    Err(e) => Err(e),
                };
                (index, result)
            }
        })
        .buffer_unordered(window)
        .boxed()
    }
}

/// Runs one op (inside its own task) under `permit`.
async fn execute_one(
    service: StorageService,
    context: ObjectContext,
    op: BatchOp,
    permit: Permit,
) -> Result<BatchOutcome> {
    let backend = service.backend();
    let id = |key: &ObjectKey| ObjectId::new(context.clone(), key.clone());
    let outcome = match op {
        BatchOp::Get { key } => {
            let response = backend.get(&id(&key), None).await?;
            // The body carries the permit; the task's own reference is gone after this.
            return Ok(BatchOutcome::Get {
                key,
                response: hold_permit(response, permit),
            });
        }
        BatchOp::Head { key } => {
            let metadata = backend.head(&id(&key)).await?;
            BatchOutcome::Head { key, metadata }
        }
        BatchOp::Insert {
            key,
            mut metadata,
            payload,
        } => {
            let key = key.unwrap_or_else(ObjectKey::generate);
            metadata.stamp(service.now());
            backend
                .put(&id(&key), &metadata, crate::stream::single(payload))
                .await?;
            BatchOutcome::Insert { key }
        }
        BatchOp::Delete { key } => {
            backend.delete(&id(&key)).await?;
            BatchOutcome::Delete { key }
        }
    };
    drop(permit);
    Ok(outcome)
}

#[cfg(test)]
mod tests;
