//! Batch execution: many small operations on one usecase and scopes, run concurrently with a
//! bounded window, results in completion order (spec section 7).
//!
//! **Invariants**
//!
//! * At most [`BATCH_WINDOW`] operations of one batch run at once, so memory is bounded by
//!   the window, not by the batch size.
//! * Every operation yields exactly one result, tagged with its index; one operation's
//!   failure (or panic) never affects another's.

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey};

use crate::backend::GetResponse;
use crate::error::Result;
use crate::service::StorageService;

/// Operations of one batch running at once.
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
    /// Executes a batch. `ops` yields `(index, op)`; the result stream yields `(index,
    /// result)` for each, in completion order.
    pub fn batch<S>(
        &self,
        context: ObjectContext,
        ops: S,
    ) -> BoxStream<'static, (usize, Result<BatchOutcome>)>
    where
        S: Stream<Item = (usize, BatchOp)> + Send + 'static,
    {
        let service = self.clone();
        ops.map(move |(index, op)| {
            let service = service.clone();
            let context = context.clone();
            async move { (index, service.execute_one(context, op).await) }
        })
        .buffer_unordered(BATCH_WINDOW)
        .boxed()
    }

    async fn execute_one(&self, context: ObjectContext, op: BatchOp) -> Result<BatchOutcome> {
        let id = |key: ObjectKey| ObjectId::new(context.clone(), key);
        match op {
            BatchOp::Get { key } => {
                let response = self.get(id(key.clone()), None).await?;
                Ok(BatchOutcome::Get { key, response })
            }
            BatchOp::Head { key } => {
                let metadata = self.head(id(key.clone())).await?;
                Ok(BatchOutcome::Head { key, metadata })
            }
            BatchOp::Insert {
                key,
                metadata,
                payload,
            } => {
                let key = key.unwrap_or_else(ObjectKey::generate);
                self.put(id(key.clone()), *metadata, crate::stream::single(payload))
                    .await?;
                Ok(BatchOutcome::Insert { key })
            }
            BatchOp::Delete { key } => {
                self.delete(id(key.clone())).await?;
                Ok(BatchOutcome::Delete { key })
            }
        }
    }
}
