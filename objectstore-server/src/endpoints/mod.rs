//! The endpoints, one module per resource:
//!
//! * [`objects`]: insert, read, metadata, delete (spec section 4, ranges of section 5), and
//!   the dispatch of resumable-upload requests (18.5.2) on the same routes;
//! * [`expiry`]: PATCH `extend_expiry` (18.4);
//! * [`resumable`]: resumable-upload classification and operations (18.5);
//! * [`multipart`]: multipart uploads with the streamed completion (section 8);
//! * [`batch`]: the batch route's request pipeline and per-operation guard (section 7);
//! * [`internal`]: `/health`, `/ready`, `/keda`, `/metrics` (section 11).

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
