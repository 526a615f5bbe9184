//! The conformance suite: one set of checks that every backend implementation must pass.
//!
//! A backend's tests call the suites that match the traits it implements, e.g. for an
//! embedded high-volume engine:
//!
//! ```ignore
//! #[tokio::test]
//! async fn conformance() {
//!     let root = tempfile::tempdir().unwrap();
//!     let dirs = Dirs::new(root.path());
//!     let make = |clock| std::future::ready(EmbeddedBackend::open(&dirs.next(), clock).unwrap());
//!     conformance::backend_suite(&tiered_over(&make)).await;
//!     conformance::high_volume_suite(&make).await;
//! }
//! ```
//!
//! * [`backend_suite`]: the [`Backend`] contract (module docs of [`crate::backend`]): round
//!   trips, overwrites, ranges, deletes, failing and multi-chunk streams, TTL expiry, TTI
//!   bumps, expiry extension.
//! * [`high_volume_suite`]: the row contract ([`HighVolumeBackend`]: tombstone-aware puts,
//!   reads and deletes, the inline size limit, compare-and-write including idempotency and
//!   a race with exactly one winner, conditional writes and their races, expiry scans, the
//!   ordered listing; [`high_volume`], [`compare_and_write`], [`conditional`], [`listing`])
//!   and the [`ChangeLog`] (records, claims, leases; [`change_log`]).
//! * [`long_term_suite`]: multipart uploads, objects larger than 1 MiB, and `list_blobs`.
//! * Both also check receipts and ETags ([`etags`]): what a backend reports about a write is
//!   what it kept, a stamped ETag is the payload's MD5, a part that differs from the
//!   caller's digest is never stored.
//! * The suites check the scans of their contracts ([`scan`]).
//! * [`shared_store_suite`]: two handles (instances) on one store: compare-and-write races
//!   and change-log claims across handles ([`shared`]). Every store that several server
//!   processes share runs it.
//! * [`MemoryTiers`]: two memory tiers on one manual clock, the set-up of tests that build
//!   tiered storages on memory backends and inspect the backends.
//!
//! **High-volume engines and the plain contract.** A high-volume engine is no [`Backend`]:
//! it serves objects through the tiered layer. [`tiered_over`] builds a
//! [`TieredStorage`] over the engine with an in-memory long-term tier and the default 1 MiB
//! threshold, and the engine's tests run [`backend_suite`] on that. Every object of the
//! suite is at most 1 MiB, so every object stays inline in the engine: what the suite
//! checks there (round trips, ranges, TTI bumps, extensions, expiry, stream handling up to
//! the inline buffer) is the engine's row contract as the tiered layer uses it.
//!
//! **Through the decorator.** Every suite wraps what the factory returns in the metering
//! decorator ([`crate::backend::around`]) before checking it, so the decorator's forwarding
//! of every contract method is under test with every backend; reads go through
//! [`etags::StampedEtags`] too, which checks a stamped ETag's form and leaves it out of the
//! metadata comparisons (it is checked on its own).
//!
//! **How the suites run:** every check gets a *fresh* backend from the factory (so the
//! factory is called once per check: on-disk backends should hand out a new directory each
//! time) together with the [`ManualClock`] the backend must read, and uses its own keys.
//! Checks move that clock forward to test expiry; they never sleep. A failing check panics
//! with ``conformance check `NAME` failed: WHY``, the name saying which contract broke.
//! Every check is also a `pub async fn` that can be called on its own while debugging.
//!
//! The suites must run inside a tokio runtime (the race checks spawn tasks); use the
//! multi-thread flavor so that races really run in parallel.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, stream};
use objectstore_types::{
    Compression, ContentRange, ExpirationPolicy, Metadata, ObjectContext, ObjectId, ObjectKey,
    Scopes, Usecase,
};

use crate::backend::around::Decorated;
use crate::backend::around::metering::Metering;
use crate::backend::memory::MemoryBackend;
use crate::backend::{
    Backend, ChangeLog, Component, GetResponse, HighVolumeBackend, HighVolumeStore, LongTermBackend,
};
use crate::clock::{Clock, ManualClock, SharedClock};
use crate::stream::PayloadStream;
use crate::tiered::{TieredConfig, TieredStorage};

pub mod backend;
pub mod change_log;
pub mod compare_and_write;
pub mod conditional;
pub mod etags;
pub mod high_volume;
pub mod listing;
pub mod long_term;
pub mod scan;
pub mod shared;
#[cfg(test)]
mod tests;
pub mod tiers;

pub use shared::shared_store_suite;
pub use tiers::MemoryTiers;

/// What a check works with: the backend under test and the clock it reads.
pub struct Ctx<B: ?Sized> {
    /// The backend under test (shared so that checks can race tasks against it).
    pub backend: Arc<B>,
    /// The clock the backend was built with.
    pub clock: Arc<ManualClock>,
}

impl<B: ?Sized> Ctx<B> {
    /// The clock's current time.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Moves the clock to exactly `t` (which must not be in the past).
    pub fn advance_to(&self, t: SystemTime) {
        let by = t
            .duration_since(self.now())
            .expect("advance_to: the target lies in the past");
        self.clock.advance(by);
    }
}

/// What the checks get: the backend in the metering decorator, read through
/// [`etags::StampedEtags`].
pub type Checked<B> = Decorated<Decorated<B, Metering>, etags::StampedEtags>;

/// `backend` wrapped in the metering decorator, read through [`etags::StampedEtags`]: what
/// every check gets (also for tests that pick their own checks).
pub fn metered<B: Component>(backend: B) -> Arc<Checked<B>> {
    let metered = Decorated::new(Arc::new(backend), Metering::new("conformance"));
    Arc::new(Decorated::new(Arc::new(metered), etags::StampedEtags))
}

/// Builds a fresh backend, wrapped in the metering decorator, and its clock.
async fn fresh<B, F, Fut>(make: &F) -> (Arc<Checked<B>>, Arc<ManualClock>)
where
    B: Component,
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = B>,
{
    let clock = ManualClock::new();
    let backend = make(Arc::clone(&clock) as SharedClock).await;
    (metered(backend), clock)
}

/// A factory of [`TieredStorage`]s over the high-volume stores `make` hands out, with an
/// in-memory long-term tier, the default threshold and no background loop: how a
/// high-volume engine runs [`backend_suite`] (see the module docs).
pub fn tiered_over<'a, S, F, Fut>(
    make: &'a F,
) -> impl Fn(SharedClock) -> BoxFuture<'a, TieredStorage> + 'a
where
    S: HighVolumeStore,
    F: Fn(SharedClock) -> Fut + Sync,
    Fut: Future<Output = S> + Send + 'a,
{
    tiered_with(make, TieredConfig::default().threshold)
}

/// [`tiered_over`] with another routing threshold (a tiny one puts nearly every object of
/// the suites behind a tombstone, so the tiering protocols run against the engine).
pub fn tiered_with<'a, S, F, Fut>(
    make: &'a F,
    threshold: usize,
) -> impl Fn(SharedClock) -> BoxFuture<'a, TieredStorage> + 'a
where
    S: HighVolumeStore,
    F: Fn(SharedClock) -> Fut + Sync,
    Fut: Future<Output = S> + Send + 'a,
{
    tiered_on(make, &memory_lt, threshold)
}

/// [`tiered_with`] over the long-term backends `make_lt` hands out.
pub fn tiered_on<'a, S, L, F, G, Fs, Fl>(
    make_hv: &'a F,
    make_lt: &'a G,
    threshold: usize,
) -> impl Fn(SharedClock) -> BoxFuture<'a, TieredStorage> + 'a
where
    S: HighVolumeStore,
    L: LongTermBackend,
    F: Fn(SharedClock) -> Fs + Sync,
    G: Fn(SharedClock) -> Fl + Sync,
    Fs: Future<Output = S> + Send + 'a,
    Fl: Future<Output = L> + Send + 'a,
{
    move |clock: SharedClock| {
        async move {
            let hv = make_hv(clock.clone()).await;
            let lt = make_lt(clock.clone()).await;
            let config = TieredConfig {
                threshold,
                background: false,
                ..TieredConfig::default()
            };
            TieredStorage::new(Arc::new(hv), Arc::new(lt), clock, config)
        }
        .boxed()
    }
}

fn memory_lt(clock: SharedClock) -> std::future::Ready<MemoryBackend> {
    std::future::ready(MemoryBackend::new("lt", clock))
}

/// Fresh directories for on-disk stores, one per call of [`Dirs::next`] (`0`, `1`, ...
/// below `root`): how their factories hand out a fresh store per check.
#[derive(Debug)]
pub struct Dirs {
    root: PathBuf,
    next: AtomicUsize,
}

impl Dirs {
    /// Directories below `root` (which the caller owns and removes).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            next: AtomicUsize::new(0),
        }
    }

    /// A directory no earlier call returned.
    pub fn next(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.root.join(n.to_string())
    }
}

/// Runs one check, re-raising a panic with the check's name in front (also for suites of
/// checks run outside `run_checks!`, such as the object-store servers').
pub async fn run(name: &str, check: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(check).catch_unwind().await {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(non-string panic)");
        panic!("conformance check `{name}` failed: {why}");
    }
}

/// Runs each listed check on a fresh backend seen as `$dyn`.
macro_rules! run_checks {
    ($make:ident as $dyn:ty: $($check:path),* $(,)?) => {
        $({
            let (backend, clock) = fresh($make).await;
            let cx: Ctx<$dyn> = Ctx { backend: backend as Arc<$dyn>, clock };
            // Boxed: the suites' futures stay small however large one check's state is.
            run(stringify!($check), Box::pin($check(&cx))).await;
            cx.backend.join().await;
        })*
    };
}

/// Runs every [`Backend`] check (see [`backend`]).
pub async fn backend_suite<B, F, Fut>(make: &F)
where
    B: Backend,
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = B>,
{
    use backend::*;
    run_checks!(make as dyn Backend:
        round_trip_keeps_every_metadata_field,
        missing_objects_read_as_absent,
        overwrite_replaces_payload_and_metadata,
        ranges_resolve_against_the_size,
        zero_length_objects,
        delete_removes_and_missing_delete_succeeds,
        failed_stream_stores_nothing,
        multi_chunk_streams_are_stored_in_order,
        ttl_objects_read_as_absent_once_expired,
        tti_reads_bump_the_deadline_debounced,
        extend_expiry_outcomes,
        extend_expiry_of_expired_or_timeless_objects,
    );
    run_checks!(make as dyn Backend: etags::put_receipts_report_what_was_kept);
}

/// Runs every [`HighVolumeBackend`] and [`ChangeLog`] check (see [`high_volume`],
/// [`compare_and_write`] and [`change_log`]). Run [`backend_suite`] over [`tiered_over`]
/// too.
pub async fn high_volume_suite<B, F, Fut>(make: &F)
where
    B: HighVolumeStore,
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = B>,
{
    use high_volume::*;
    run_checks!(make as dyn HighVolumeBackend:
        put_respects_tombstones,
        payloads_over_the_inline_limit_are_refused,
        get_distinguishes_rows,
        row_reads_return_expired_tombstones_raw,
        row_reads_bump_inline_tti_only,
        delete_keeps_tombstones,
        delete_if_expired_checks_the_deadline,
        scan_expired_orders_and_pages,
    );
    use compare_and_write::*;
    run_checks!(make as dyn HighVolumeBackend:
        compare_and_write_applies_on_matching_revision,
        compare_and_write_rejects_stale_revisions,
        compare_and_write_is_idempotent,
        compare_and_write_race_has_one_winner,
    );
    use conditional::*;
    run_checks!(make as dyn HighVolumeBackend:
        conditional_writes_judge_the_row,
        conditional_write_races_have_the_allowed_winners,
    );
    use change_log::*;
    run_checks!(make as dyn ChangeLog:
        change_log_append_get_remove_len,
        claim_records_respects_owners_and_leases,
        claim_records_honours_deferral,
        claim_records_ignore_leases,
        claim_records_limit,
        claim_records_concurrent_claimants_never_share,
        release_lease_frees_records,
    );
    use listing::*;
    run_checks!(make as dyn HighVolumeBackend:
        list_orders_by_key_bytes,
        list_prefix_and_start_after,
        list_pages_with_limit,
        list_skips_expired_rows,
        list_reports_tombstones_with_their_metadata,
    );
    use scan::*;
    run_checks!(make as dyn HighVolumeBackend: scan_rows_lists_every_row_once);
    run_checks!(make as dyn ChangeLog:
        scan_records_pages_in_change_id_order,
        list_leases_reports_leases,
    );
}

/// Runs every [`LongTermBackend`] check (see [`long_term`]). Call [`backend_suite`] too.
pub async fn long_term_suite<B, F, Fut>(make: &F)
where
    B: LongTermBackend,
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = B>,
{
    use long_term::*;
    run_checks!(make as dyn LongTermBackend:
        large_multi_chunk_objects,
        multipart_round_trip,
        multipart_complete_uses_listed_parts_in_order,
        multipart_complete_replaces_an_existing_object,
        multipart_list_parts_paginates,
        multipart_abort,
        multipart_rejections_change_nothing,
        multipart_reupload_replaces_the_part,
        multipart_content_length_must_match,
        multipart_failed_part_stream_stores_nothing,
        multipart_unknown_upload_is_not_found,
        multipart_upload_ids_are_opaque_and_safe,
    );
    run_checks!(make as dyn LongTermBackend: etags::part_receipts_and_checks);
    run_checks!(make as dyn LongTermBackend: scan::list_blobs_lists_every_object_once);
}

// --- Helpers shared by the checks ---------------------------------------------------------

/// An id in the suite's context (`conformance/org.17/project.42/objects/{key}`).
pub fn id(key: &str) -> ObjectId {
    let scopes = Scopes::parse("org=17;project=42").expect("valid scopes");
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("conformance").expect("valid usecase"),
            scopes,
        },
        ObjectKey::new(key).expect("valid key"),
    )
}

/// Metadata with `policy`, stamped at `now`.
pub fn stamped(policy: ExpirationPolicy, now: SystemTime) -> Metadata {
    let mut m = Metadata {
        expiration_policy: policy,
        ..Metadata::default()
    };
    m.stamp(now);
    m
}

/// Metadata with every field a client can set, stamped at `now`, `size` unset.
pub fn full_metadata(now: SystemTime) -> Metadata {
    let mut m = Metadata {
        content_type: "text/plain; charset=utf-8".into(),
        compression: Some(Compression::Gzip),
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(30 * 86_400)),
        origin: Some("203.0.113.9".into()),
        filename: Some("résumé 100%.txt".into()),
        ..Metadata::default()
    };
    m.custom.insert("release".into(), "vérsion-1.0-🚀".into());
    m.custom.insert("note".into(), "100% done".into());
    m.stamp(now);
    m
}

/// `metadata` with `size` set.
pub fn with_size(metadata: &Metadata, size: usize) -> Metadata {
    let mut m = metadata.clone();
    m.size = Some(size as u64);
    m
}

/// `len` bytes of a recognisable pattern (differs per `seed`).
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_mul(37))
        .collect()
}

/// A stream yielding `data` in chunks of `chunk` bytes.
pub fn chunked(data: &[u8], chunk: usize) -> PayloadStream {
    let chunks: Vec<std::io::Result<Bytes>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks).boxed()
}

/// A stream yielding `prefix` and then failing.
pub fn failing(prefix: &[u8]) -> PayloadStream {
    let items: Vec<std::io::Result<Bytes>> = vec![
        Ok(Bytes::copy_from_slice(prefix)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ];
    stream::iter(items).boxed()
}

/// What a GET found: metadata, resolved range and the bytes. Panics unless `Found`.
#[track_caller]
pub fn found(response: GetResponse) -> (Metadata, Option<ContentRange>, PayloadStream) {
    match response {
        GetResponse::Found {
            metadata,
            range,
            body,
        } => (metadata, range, body),
        other => panic!("expected Found, got {other:?}"),
    }
}

/// Reads a GET that must be `Found` to the end.
pub async fn read_found(response: GetResponse) -> (Metadata, Option<ContentRange>, Vec<u8>) {
    let (metadata, range, body) = found(response);
    let bytes = crate::stream::read_to_vec(body)
        .await
        .expect("the response body stream failed");
    (metadata, range, bytes)
}

/// Reads the whole object under `id` through [`Backend::get`]; `None` when absent.
pub async fn read_object(b: &dyn Backend, id: &ObjectId) -> Option<(Metadata, Vec<u8>)> {
    read_whole(b.get(id, None).await.expect("get failed")).await
}

/// Reads the whole inline object under `id` through [`HighVolumeBackend::get`] (a tombstone
/// reads as absent); `None` when absent.
pub async fn read_inline(b: &dyn HighVolumeBackend, id: &ObjectId) -> Option<(Metadata, Vec<u8>)> {
    read_whole(b.get(id, None).await.expect("get failed").into_object()).await
}

/// The metadata and bytes of a GET without a range; `None` for `NotFound`.
async fn read_whole(response: GetResponse) -> Option<(Metadata, Vec<u8>)> {
    match response {
        GetResponse::NotFound => None,
        response => {
            let (metadata, range, bytes) = read_found(response).await;
            assert_eq!(range, None, "a GET without a range reported one");
            Some((metadata, bytes))
        }
    }
}

/// Awaits every spawned racer (each reports its number and whether it won); the numbers
/// of those that won, in racer order.
pub async fn winners(tasks: Vec<tokio::task::JoinHandle<(usize, bool)>>) -> Vec<usize> {
    let mut winners = Vec::new();
    for task in tasks {
        let (i, won) = task.await.expect("racing task panicked");
        if won {
            winners.push(i);
        }
    }
    winners
}
