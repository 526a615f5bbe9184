//! The objectstore storage engine: no HTTP in here.
//!
//! # Architecture
//!
//! ```text
//! StorageService        one spawned task per operation, concurrency limits, batches
//!   TieredStorage       size routing, tombstones, revision keys, CAS commits,
//!                       durable change log, cleanup, crash recovery, expiry sweeps
//!     HighVolumeStore     rows (HighVolumeBackend) + change log (ChangeLog):
//!                         embedded (SQLite) | postgres | bigtable | memory (tests)
//!     LongTermBackend     filesystem | s3 / azure / gcs | memory (tests)
//! ```
//!
//! * [`backend`]: the contracts between the layers ([`backend::Backend`],
//!   [`backend::LongTermBackend`], [`backend::HighVolumeBackend`], [`backend::ChangeLog`]),
//!   their implementations, and one decorator mechanism ([`backend::around`]: metrics, fault
//!   injection) for all of them.
//! * [`tiered`]: the heart: how one logical object spans both tiers consistently, without
//!   locks. Its module docs give every protocol as numbered steps with each outcome.
//! * [`service`]: what the HTTP layer calls; [`limiter`] bounds its backend work,
//!   [`batch`] runs batches and [`resumable`] resumable uploads on top of it.
//! * [`expiry`]: TTL/TTI arithmetic shared by all backends.
//! * [`digest`] and [`integrity`]: MD5 ETags computed while streaming, and the checks that
//!   treat the long-term store as untrusted (writes verified against the store's own
//!   account before they commit, reads against what was stored).
//! * `conformance` and `testing` (feature `testing`): the shared backend suites, and the rule
//!   for tests that need an external service.
//!
//! **Architecture invariants**
//!
//! * No acknowledged write is lost: every backend makes a write durable before returning.
//! * A read never returns bytes of a different revision than its metadata.
//! * An acknowledged write was verified against the store's own account of it; a corrupt
//!   read never looks like success.
//! * No long-term blob stays unreferenced after recovery, beyond its grace period.

pub mod backend;
pub mod batch;
pub mod check;
pub mod clock;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod digest;
pub mod error;
pub mod expiry;
pub mod integrity;
pub mod limiter;
pub mod resumable;
pub mod service;
pub mod stream;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tiered;

pub use error::{Error, Result};
