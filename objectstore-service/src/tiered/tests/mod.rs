//! Tests of the tiered engine, on [`MemoryBackend`]s (inspected directly), decorated for
//! fault injection ([`Faults`], [`crash_hooks::Crash`]).
//!
//! * `routing`: size routing, overwrites, deletes, CAS conflicts, failures before and after
//!   the commit, orphan tombstones, explicit targets, multi-chunk streams, reads.
//! * `expiry`: expired tombstones, TTI bumps, expiry extensions.
//! * `guard`: the change guard (join, cancellation of the caller, drop without runtime) and
//!   cleanup / recovery after failures.
//! * `multipart`: every multipart case, including the seed-001 cleanup race.
//! * `conditional`: conditional writes (early refusal, atomic commit, races), the listing
//!   and the open uploads.
//! * `crash`: a crash at every backend call of every protocol, then recovery by a new
//!   instance.
//! * `faults`: every backend call of every protocol fails once, the instance lives on.
//! * `sweep`: the expiry sweeper.
//! * `integrity`: ETags, and a long-term store that damages bytes on write or read.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};

use super::{TieredConfig, TieredStorage};
use crate::backend::around::faults::{Calls, Fault, Faults};
use crate::backend::around::{Around, Decorated, Method};
use crate::backend::memory::{Entry, MemoryBackend};
use crate::backend::{
    Backend, CompletedPart, Component, GetResponse, HighVolumeBackend, HighVolumeStore,
    LongTermBackend,
};
use crate::clock::SharedClock;
use crate::stream::{self, PayloadStream};

mod conditional;
mod conformance;
mod crash;
mod crash_hooks;
mod expiry;
mod faults;
mod guard;
mod integrity;
mod multipart;
mod routing;
mod sweep;

/// 2 MiB: over the default threshold.
const LARGE: usize = 2 * 1024 * 1024;

fn id(key: &str) -> ObjectId {
    let context = ObjectContext {
        usecase: Usecase::new("testing").unwrap(),
        scopes: Scopes::parse("testing=value").unwrap(),
    };
    ObjectId::new(context, ObjectKey::new(key).unwrap())
}

/// Two shared memory backends and a manual clock: any number of storages (instances) can
/// be built on them.
type Env = crate::conformance::MemoryTiers;

impl Env {
    fn shared_clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// Defaults, but no background loop (tests drive recovery and sweeps).
    fn config() -> TieredConfig {
        TieredConfig {
            background: false,
            ..TieredConfig::default()
        }
    }

    /// [`Env::config`] with a 16-byte threshold: nearly every object is large.
    fn tiny_threshold() -> TieredConfig {
        TieredConfig {
            threshold: 16,
            ..Self::config()
        }
    }

    /// A storage directly on the memory backends, with [`Env::tiny_threshold`].
    fn tiny_storage(&self) -> TieredStorage {
        let (hv, lt) = (Arc::new(self.hv.clone()), Arc::new(self.lt.clone()));
        self.storage_with(hv, lt, Self::tiny_threshold())
    }

    /// A storage directly on the memory backends.
    fn storage(&self) -> TieredStorage {
        self.storage_on(Arc::new(self.hv.clone()), Arc::new(self.lt.clone()))
    }

    fn storage_on(
        &self,
        hv: Arc<dyn HighVolumeStore>,
        lt: Arc<dyn LongTermBackend>,
    ) -> TieredStorage {
        self.storage_with(hv, lt, Self::config())
    }

    fn storage_with(
        &self,
        hv: Arc<dyn HighVolumeStore>,
        lt: Arc<dyn LongTermBackend>,
        config: TieredConfig,
    ) -> TieredStorage {
        TieredStorage::new(hv, lt, self.shared_clock(), config)
    }

    /// A storage whose high-volume calls go through `around`.
    fn with_hv_around(&self, around: impl Around) -> TieredStorage {
        self.storage_on(decorate(&self.hv, around), Arc::new(self.lt.clone()))
    }

    /// A storage whose long-term calls go through `around`.
    fn with_lt_around(&self, around: impl Around) -> TieredStorage {
        self.storage_on(Arc::new(self.hv.clone()), decorate(&self.lt, around))
    }

    /// Writes a large object filled with `fill` under `key` through a fresh storage; the
    /// revision its tombstone names.
    async fn large_at(&self, key: &ObjectId, fill: u8) -> ObjectId {
        put(&self.storage(), key, &payload(LARGE, fill))
            .await
            .unwrap();
        self.tombstone_target(key)
    }

    fn tombstone_target(&self, id: &ObjectId) -> ObjectId {
        self.hv.entry(id).expect_tombstone().target
    }

    /// The targets of all tombstones.
    fn referenced(&self) -> BTreeSet<ObjectId> {
        self.hv
            .ids()
            .into_iter()
            .filter_map(|id| match self.hv.entry(&id) {
                Entry::Tombstone(t) => Some(t.target),
                _ => None,
            })
            .collect()
    }

    /// The architecture invariants after all work settled: every tombstone's blob exists,
    /// every blob is referenced, the change log is empty and no upload is left open.
    #[track_caller]
    fn assert_consistent(&self) {
        self.assert_blobs_and_log_consistent();
        assert_eq!(self.lt.pending_uploads(), 0, "open multipart uploads");
    }

    /// Waits for `storage`'s background work ([`settle`]), then [`Env::assert_consistent`].
    async fn settled(&self, storage: &TieredStorage) {
        settle(storage).await;
        self.assert_consistent();
    }

    /// [`Env::assert_consistent`] without the check of open uploads.
    #[track_caller]
    fn assert_blobs_and_log_consistent(&self) {
        let blobs: BTreeSet<ObjectId> = self.lt.ids().into_iter().collect();
        let referenced = self.referenced();
        let dangling: Vec<_> = referenced.difference(&blobs).collect();
        assert!(dangling.is_empty(), "tombstones without blob: {dangling:?}");
        let orphans: Vec<_> = blobs.difference(&referenced).collect();
        assert!(orphans.is_empty(), "unreferenced blobs: {orphans:?}");
        assert_eq!(self.hv.log_records(), vec![], "change log not empty");
    }
}

/// A fresh environment and a storage directly on it.
fn env_and_storage() -> (Env, TieredStorage) {
    let env = Env::new();
    let storage = env.storage();
    (env, storage)
}

/// [`env_and_storage`] and the id of `key`.
fn fresh(key: &str) -> (Env, TieredStorage, ObjectId) {
    let (env, storage) = env_and_storage();
    (env, storage, id(key))
}

fn payload(len: usize, fill: u8) -> Vec<u8> {
    vec![fill; len]
}

async fn put(storage: &TieredStorage, id: &ObjectId, body: &[u8]) -> crate::Result<()> {
    storage
        .put(id, &Metadata::default(), stream::single(body.to_vec()))
        .await
        .map(drop)
}

/// The whole object through the storage, `None` when absent.
async fn read(storage: &TieredStorage, id: &ObjectId) -> Option<Vec<u8>> {
    match storage.get(id, None).await.unwrap() {
        GetResponse::Found { metadata, body, .. } => {
            let bytes = stream::read_to_vec(body).await.unwrap();
            assert_eq!(metadata.size, Some(bytes.len() as u64), "size metadata");
            Some(bytes)
        }
        GetResponse::NotFound => None,
        other => panic!("unexpected {other:?}"),
    }
}

/// A body delivered in `chunks` chunks of `size` bytes, chunk `i` filled with `i`.
fn chunked(chunks: usize, size: usize) -> PayloadStream {
    futures::stream::iter((0..chunks).map(move |i| Ok(Bytes::from(vec![i as u8; size])))).boxed()
}

/// Initiates an upload of `key` and uploads `parts` (numbered from 1).
async fn upload(
    storage: &TieredStorage,
    key: &ObjectId,
    parts: &[Vec<u8>],
) -> (String, Vec<CompletedPart>) {
    let upload_id = storage
        .initiate_multipart(key, &Metadata::default())
        .await
        .unwrap();
    let mut completed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        completed.push(upload_part(storage, key, &upload_id, i as u32 + 1, part).await);
    }
    (upload_id, completed)
}

/// Uploads part `number` of an upload; the part as a complete names it.
async fn upload_part(
    storage: &TieredStorage,
    key: &ObjectId,
    upload_id: &str,
    number: u32,
    part: &[u8],
) -> CompletedPart {
    let body = stream::single(part.to_vec());
    let etag = (storage
        .upload_part(key, upload_id, number, part.len() as u64, body)
        .await)
        .expect("upload_part failed");
    CompletedPart {
        part_number: number,
        etag,
    }
}

/// Completes an upload, which must succeed (no rejection).
async fn complete(
    storage: &TieredStorage,
    key: &ObjectId,
    upload_id: &str,
    parts: &[CompletedPart],
) {
    let result = storage.complete_multipart(key, upload_id, parts).await;
    assert_eq!(result.unwrap(), None, "the complete must succeed");
}

/// Waits for `storage`'s background cleanups (and releases its lease).
async fn settle(storage: &TieredStorage) {
    storage.join().await;
}

/// `memory` (shared state) with its calls going through `around`.
fn decorate<A: Around>(memory: &MemoryBackend, around: A) -> Arc<Decorated<MemoryBackend, A>> {
    Arc::new(Decorated::new(Arc::new(memory.clone()), around))
}

/// Faults with one rule: every call of `method` meets `fault`.
fn always(method: Method, fault: Fault) -> Faults {
    Faults::new().on(method, Calls::All, fault)
}

/// Every compare-and-write reports a lost race.
fn cas_conflict() -> Faults {
    always(Method::CompareAndWrite, Fault::reply(|| false))
}

/// Long enough for any lease of the defaults to expire.
const AFTER_LEASES: Duration = Duration::from_secs(3600);
