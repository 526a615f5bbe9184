//! The endpoints, one module per resource:
//!
//! * [`objects`]: insert, read, metadata, delete (docs/http-api.md §4, ranges §5), and
//!   the dispatch of resumable-upload requests (§10.2) on the same routes;
//! * [`expiry`]: PATCH `extend_expiry` (§7);
//! * [`resumable`]: resumable-upload classification and operations (§10);
//! * [`multipart`]: multipart uploads with the streamed completion (§9);
//! * [`batch`]: the batch route's request pipeline and per-operation guard (§8);
//! * [`internal`]: `/health`, `/ready`, `/keda`, `/metrics` (§13).

use serde::Serialize;

pub(crate) mod batch;
pub(crate) mod expiry;
pub(crate) mod internal;
pub(crate) mod multipart;
pub(crate) mod objects;
pub(crate) mod resumable;

/// The `{"key": ...}` body of inserts.
#[derive(Debug, Serialize)]
pub(crate) struct KeyBody {
    /// The key as stored.
    pub key: String,
}
