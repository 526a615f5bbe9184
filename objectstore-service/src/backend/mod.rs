//! Backend contracts: what every storage engine behind the tiered layer must do.
//!
//! Every storage component is a [`Component`] (a name for logs and metrics, a shutdown).
//! On top of it, four object-safe contracts, each in its own module:
//!
//! * [`Backend`]: a complete object store on its own (put, get, head, delete, expiry
//!   extension). Standalone stores, the long-term tier and the tiered engine are backends.
//! * [`LongTermBackend`] ([`long_term`]): a backend with multipart uploads and a blob
//!   listing. [`crate::tiered::TieredStorage`] implements it too, so the storage service
//!   holds one `dyn LongTermBackend` whatever the layout.
//! * [`HighVolumeBackend`] ([`high_volume`]): the *row* contract of the high-volume tier:
//!   inline objects and redirect tombstones, the atomic and idempotent
//!   [`HighVolumeBackend::compare_and_write`], expiry scans, and the ordered listing
//!   ([`HighVolumeBackend::list`], by usecase and listing key, through an index). It is not
//!   a [`Backend`]: a high-volume engine serves objects only through the tiered layer.
//! * [`ChangeLog`] ([`change_log`]): the durable change log of the tiered layer and the
//!   instance leases.
//!
//! One capability on top: [`Catalog`] ([`catalog`]), a long-term backend with an index of
//! its objects (the tiered engine): the ordered listing, conditional writes, open uploads.
//!
//! A high-volume engine (embedded, PostgreSQL, Bigtable, memory) implements both of the
//! last two over one store, so that a change record and the rows it protects share one
//! durability domain: that pair is a [`HighVolumeStore`]. A method keeps one name from the
//! trait to the engine's code (`HighVolumeBackend::put` is `sql::put` in the embedded
//! engine). The data types the contracts exchange are in [`types`] (re-exported here).
//!
//! Any backend can be wrapped in a decorator ([`around`]): one generic wrapper that runs
//! every call of every contract through an [`around::Around`] (metrics, fault injection).
//!
//! # Contracts every implementation keeps
//!
//! 1. **Durability:** a call that returns `Ok` has made its effect durable (survives a crash
//!    of the process and, for embedded engines, of the machine).
//! 2. **Expiry:** an object whose `time_expires` is earlier than the backend's clock reads as
//!    absent at once. GET and HEAD count as an access for TTI objects: when
//!    [`crate::expiry::tti_bump`] says so, the stored deadline is moved (best effort); the
//!    response reports the metadata as it was *before* the access.
//! 3. **Sizes:** every stored object's metadata carries `size = Some(stored bytes)`.
//! 4. **Deleting a missing object succeeds.**
//! 5. **Streams:** a put consumes the body stream to its end; if the stream yields an error,
//!    nothing is stored and the previous object (if any) stays as it was. Memory stays
//!    bounded: a backend buffers at most what its own format requires (the high-volume tier
//!    at most [`MAX_INLINE_BYTES`]).
//! 6. **No path escapes:** backends may use [`ObjectId::as_storage_path`] as a name; it is
//!    validated. A filesystem backend still must never produce a path outside its root.
//! 7. **Scans** (`scan_rows`, `scan_records`, `list_leases`, `list_blobs`) see the store as
//!    stored, expired entries included, and page with an opaque cursor: a scan that pages
//!    to the end reports every entry that existed throughout it exactly once (entries
//!    written or removed meanwhile may or may not appear). They serve `objectstore check`
//!    and other offline tools; the one request-path use is `scan_records` for the listing of
//!    open multipart uploads (bounded by the change log's size, see `tiered::uploads`).
//!    Object listings use the index of [`HighVolumeBackend::list`] instead.
//! 8. **Receipts:** a put answers a [`PutReceipt`] with the store's own account of what it
//!    kept (size, MD5: only what the store itself reports, never the caller's numbers
//!    echoed back), so that the tiered layer can verify it ([`crate::integrity`]); a
//!    long-term part upload likewise ([`PartReceipt`]).
//!
//! The shared conformance suite ([`crate::conformance`]) checks these for every
//! implementation.

use std::fmt::Debug;
use std::time::SystemTime;

use async_trait::async_trait;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use crate::error::Result;
use crate::stream::PayloadStream;

pub mod around;
#[cfg(feature = "bigtable")]
pub mod bigtable;
pub mod catalog;
pub mod change_log;
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
pub mod cloud;
#[cfg(any(feature = "postgres", feature = "bigtable"))]
mod duration;
pub mod embedded;
pub mod filesystem;
pub mod high_volume;
mod inline;
pub mod long_term;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod types;

pub use catalog::Catalog;
pub use change_log::{ChangeLog, Claim};
pub use high_volume::HighVolumeBackend;
pub use long_term::LongTermBackend;
pub use types::*;

/// The largest payload a high-volume engine stores inline (2 MiB). The tiered layer's
/// routing threshold (1 MiB by default) must not exceed it; engines refuse a larger inline
/// payload with [`crate::Error::TooLarge`].
pub const MAX_INLINE_BYTES: usize = 2 * 1024 * 1024;

/// What every storage component shares, whichever contracts it implements (a struct that
/// implements several implements this once).
#[async_trait]
pub trait Component: Debug + Send + Sync + 'static {
    /// A short name for logs and metrics (`embedded`, `filesystem`, `tiered`, ...).
    fn name(&self) -> &'static str;

    /// Waits for background work (cleanup, sweeps, queued writes) to finish. Called once at
    /// shutdown.
    async fn join(&self) {}
}

/// An object store. See the module docs for the contract.
#[async_trait]
pub trait Backend: Component {
    /// Stores the object, replacing any previous one (payload and all metadata). The
    /// metadata is already stamped by the caller; the backend sets `size` (and `etag` if it
    /// stamps one). Answers the store's account of what it kept (contract 8).
    async fn put(&self, id: &ObjectId, meta: &Metadata, body: PayloadStream) -> Result<PutReceipt>;

    /// Reads the object, or a range of it.
    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse>;

    /// Reads the metadata only. Counts as an access for TTI.
    async fn head(&self, id: &ObjectId) -> Result<Option<Metadata>>;

    /// Deletes the object. Deleting a missing object succeeds.
    async fn delete(&self, id: &ObjectId) -> Result<()>;

    /// Moves the object's deadline to at least the target (docs/http-api.md §7.2), atomically with
    /// respect to concurrent writes: if the object changes between read and write the
    /// outcome is [`ExtendOutcome::Conflict`]. `now` is the request-start time.
    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome>;
}

/// What a high-volume engine provides: the row contract and the change log over one store.
/// Implemented for every type that implements both; a `dyn HighVolumeStore` upcasts to
/// either contract.
pub trait HighVolumeStore: HighVolumeBackend + ChangeLog {}

impl<T: HighVolumeBackend + ChangeLog + ?Sized> HighVolumeStore for T {}
