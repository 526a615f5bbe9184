//! The conformance suite: one set of checks that every backend implementation must pass.
//!
//! A backend's tests call the suites that match the traits it implements, e.g. for an
//! embedded high-volume engine:
//!
//! ```ignore
//! #[tokio::test]
//! async fn conformance() {
//!     let root = tempfile::tempdir().unwrap();
//!     let n = std::sync::atomic::AtomicUsize::new(0);
//!     let make = |clock: SharedClock| {
//!         let dir = root.path().join(n.fetch_add(1, Ordering::Relaxed).to_string());
//!         async move { EmbeddedBackend::open(&dir, clock).unwrap() }
//!     };
//!     conformance::backend_suite(&make).await;
//!     conformance::high_volume_suite(&make).await;
//! }
//! ```
//!
//! * [`backend_suite`]: the [`Backend`] contract (module docs of [`crate::backend`]): round
//!   trips, overwrites, ranges, deletes, failing and multi-chunk streams (at most 1 MiB, so
//!   high-volume engines pass it standalone), TTL expiry, TTI bumps, expiry extension.
//! * [`high_volume_suite`]: the tiering primitives, compare-and-write (including idempotency
//!   and a race with exactly one winner; [`high_volume`], [`compare_and_write`]), expiry
//!   scans, the change log and leases ([`change_log`]).
//! * [`long_term_suite`]: multipart uploads, objects larger than 1 MiB, and `list_blobs`.
//! * Both trait suites check their scans ([`scan`]).
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
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{FutureExt, StreamExt, stream};
use objectstore_types::{
    Compression, ContentRange, ExpirationPolicy, Metadata, ObjectContext, ObjectId, ObjectKey,
    Scopes, Usecase,
};

use crate::backend::{Backend, GetResponse, HighVolumeBackend, LongTermBackend};
use crate::clock::{Clock, ManualClock, SharedClock};
use crate::stream::PayloadStream;

pub mod backend;
pub mod change_log;
pub mod compare_and_write;
pub mod high_volume;
pub mod long_term;
pub mod scan;
#[cfg(test)]
mod tests;

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

/// Builds a fresh backend and its clock.
async fn fresh<B, F, Fut>(make: &F) -> (Arc<B>, Arc<ManualClock>)
where
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = B>,
{
    let clock = ManualClock::new();
    let backend = make(Arc::clone(&clock) as SharedClock).await;
    (Arc::new(backend), clock)
}

/// Runs one check, re-raising a panic with the check's name in front.
async fn run(name: &str, check: impl Future<Output = ()>) {
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
            run(stringify!($check), $check(&cx)).await;
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
}

/// Runs every [`HighVolumeBackend`] check (see [`high_volume`], [`compare_and_write`] and
/// [`change_log`]). Call [`backend_suite`]
/// too.
pub async fn high_volume_suite<B, F, Fut>(make: &F)
where
    B: HighVolumeBackend,
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = B>,
{
    use high_volume::*;
    run_checks!(make as dyn HighVolumeBackend:
        put_non_tombstone_respects_tombstones,
        get_tiered_distinguishes_rows,
        tiered_reads_return_expired_tombstones_raw,
        tiered_reads_bump_inline_tti_only,
        delete_non_tombstone_keeps_tombstones,
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
    use change_log::*;
    run_checks!(make as dyn HighVolumeBackend:
        change_log_append_get_remove_len,
        log_claim_respects_owners_and_leases,
        log_claim_honours_deferral,
        log_claim_ignore_leases,
        log_claim_limit,
        log_claim_concurrent_claimants_never_share,
        lease_release_frees_records,
    );
    use scan::*;
    run_checks!(make as dyn HighVolumeBackend:
        scan_rows_lists_every_row_once,
        log_scan_pages_in_change_id_order,
        lease_list_reports_leases,
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

/// Reads the whole object under `id` through [`Backend::get_object`]; `None` when absent.
pub async fn read_object(b: &dyn Backend, id: &ObjectId) -> Option<(Metadata, Vec<u8>)> {
    match b.get_object(id, None).await.expect("get_object failed") {
        GetResponse::NotFound => None,
        response => {
            let (metadata, range, bytes) = read_found(response).await;
            assert_eq!(range, None, "a GET without a range reported one");
            Some((metadata, bytes))
        }
    }
}
