//! The cloud backends against real servers, gated on the variables the service scripts
//! print (`eval "$(scripts/services/moto.sh)"`, `ceph.sh`, `azurite.sh`). When a variable is
//! missing the test fails if `CI=true`, and otherwise prints one "skipped" line and passes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use objectstore_types::{ExpirationPolicy, Metadata};
use sha2::{Digest, Sha256};

use super::super::*;
use crate::backend::LongTermBackend;
use crate::clock::ManualClock;
use crate::conformance::{self, id, pattern, stamped};

const MIB: usize = 1024 * 1024;

type Ctx = conformance::Ctx<dyn LongTermBackend>;
type Check = fn(&Ctx) -> BoxFuture<'_, ()>;
type Factory = std::future::Ready<CloudBackend>;

/// The value of `var`, or `None` after printing why the test is skipped. Fails under CI.
fn server(var: &str, script: &str) -> Option<String> {
    let fix = format!("run `eval \"$(scripts/services/{script})\"`");
    Some(crate::testing::external("cloud", &[var], &fix)?.remove(0))
}

fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"))
}

/// Fast-failing client settings for tests.
fn test_client() -> serde_json::Value {
    serde_json::json!({ "max_retries": 2, "retry_timeout": "10s", "request_timeout": "30s" })
}

/// A fresh prefix per backend, so that every conformance check starts empty.
fn fresh_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

#[cfg(feature = "s3")]
/// A factory of S3 backends from `OS_TEST_{env}_*`, or `None` when not configured.
fn s3_factory(
    prefix: &'static str,
    script: &'static str,
    unquoted_if_match: bool,
) -> Option<impl Fn(SharedClock) -> Factory> {
    let endpoint = server(&format!("OS_TEST_{prefix}_ENDPOINT"), script)?;
    let config = serde_json::json!({
        "bucket": env(&format!("OS_TEST_{prefix}_BUCKET")),
        "endpoint": endpoint,
        "region": env(&format!("OS_TEST_{prefix}_REGION")),
        "access_key_id": env(&format!("OS_TEST_{prefix}_ACCESS_KEY_ID")),
        "secret_access_key": env(&format!("OS_TEST_{prefix}_SECRET_ACCESS_KEY")),
        "allow_http": true,
        "from_env": false,
        "unquoted_if_match": unquoted_if_match,
        "client": test_client(),
    });
    Some(move |clock: SharedClock| {
        let mut config: S3Config = serde_json::from_value(config.clone()).unwrap();
        config.prefix = Some(fresh_prefix());
        std::future::ready(CloudBackend::s3(&config, clock).unwrap())
    })
}

#[cfg(feature = "azure")]
fn azurite_factory() -> Option<impl Fn(SharedClock) -> Factory> {
    let endpoint = server("OS_TEST_AZURE_ENDPOINT", "azurite.sh")?;
    let config = serde_json::json!({
        "container": env("OS_TEST_AZURE_CONTAINER"),
        "account": env("OS_TEST_AZURE_ACCOUNT"),
        "access_key": env("OS_TEST_AZURE_ACCESS_KEY"),
        "endpoint": endpoint,
        "allow_http": true,
        "from_env": false,
        "client": test_client(),
    });
    Some(move |clock: SharedClock| {
        let mut config: AzureConfig = serde_json::from_value(config.clone()).unwrap();
        config.prefix = Some(fresh_prefix());
        std::future::ready(CloudBackend::azure(&config, clock).unwrap())
    })
}

/// Everything a real store must pass. `subsets`: whether the store assembles any ascending
/// selection of the uploaded parts (Ceph radosgw 16 only assembles the uploaded parts from
/// the first on: see [`ceph_refuses_selections_with_gaps`]).
async fn full_suite<F>(make: &F, subsets: bool)
where
    F: Fn(SharedClock) -> Factory,
{
    conformance::backend_suite(make).await;
    long_term_checks(make, subsets).await;
    if !subsets {
        ceph_refuses_selections_with_gaps(make(ManualClock::new()).await).await;
    }
    large_streamed_round_trip(make(ManualClock::new())).await;
    failing_stream_leaves_nothing(make(ManualClock::new())).await;
    expiry_records_are_conditional(make(ManualClock::new())).await;
    abandoned_uploads_are_cleaned(make).await;
    periodic_cleanup_removes_abandoned_uploads(make).await;
    tiered_over_the_store(make, subsets).await;
}

/// The long-term suite, without the check that completes a selection with gaps unless
/// `subsets`.
async fn long_term_checks<B, F, Fut>(make: &F, subsets: bool)
where
    B: LongTermBackend,
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = B>,
{
    if subsets {
        conformance::long_term_suite(make).await;
        return;
    }
    use conformance::long_term::*;
    let checks: [(&str, Check); 11] = [
        ("large_multi_chunk_objects", |cx| {
            Box::pin(large_multi_chunk_objects(cx))
        }),
        ("multipart_round_trip", |cx| {
            Box::pin(multipart_round_trip(cx))
        }),
        ("multipart_complete_replaces_an_existing_object", |cx| {
            Box::pin(multipart_complete_replaces_an_existing_object(cx))
        }),
        ("multipart_list_parts_paginates", |cx| {
            Box::pin(multipart_list_parts_paginates(cx))
        }),
        ("multipart_abort", |cx| Box::pin(multipart_abort(cx))),
        ("multipart_rejections_change_nothing", |cx| {
            Box::pin(multipart_rejections_change_nothing(cx))
        }),
        ("multipart_reupload_replaces_the_part", |cx| {
            Box::pin(multipart_reupload_replaces_the_part(cx))
        }),
        ("multipart_content_length_must_match", |cx| {
            Box::pin(multipart_content_length_must_match(cx))
        }),
        ("multipart_failed_part_stream_stores_nothing", |cx| {
            Box::pin(multipart_failed_part_stream_stores_nothing(cx))
        }),
        ("multipart_unknown_upload_is_not_found", |cx| {
            Box::pin(multipart_unknown_upload_is_not_found(cx))
        }),
        ("multipart_upload_ids_are_opaque_and_safe", |cx| {
            Box::pin(multipart_upload_ids_are_opaque_and_safe(cx))
        }),
    ];
    for (name, check) in checks {
        let clock = ManualClock::new();
        let backend = conformance::metered(make(clock.clone()).await) as Arc<dyn LongTermBackend>;
        let cx = conformance::Ctx { backend, clock };
        conformance::run(name, check(&cx)).await;
    }
}

/// The tiered engine over the in-memory high-volume tier and this store as the long-term
/// tier passes the suites: with a 16-byte threshold nearly every object is a revision in the
/// store behind a tombstone, and multipart uploads go through the tiered protocol.
async fn tiered_over_the_store<F>(make: &F, subsets: bool)
where
    F: Fn(SharedClock) -> Factory,
{
    use crate::backend::memory::MemoryBackend;
    use crate::tiered::{TieredConfig, TieredStorage};

    let tiered = |clock: SharedClock| {
        let lt = make(clock.clone());
        async move {
            let hv = MemoryBackend::new("memory", clock.clone());
            let config = TieredConfig {
                threshold: 16,
                ..TieredConfig::default()
            };
            TieredStorage::new(Arc::new(hv), Arc::new(lt.await), clock, config)
        }
    };
    conformance::backend_suite(&tiered).await;
    long_term_checks(&tiered, subsets).await;
}

#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_on_moto() {
    if let Some(make) = s3_factory("S3", "moto.sh", false) {
        full_suite(&make, true).await;
    }
}

#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_on_ceph_radosgw() {
    if let Some(make) = s3_factory("CEPH", "ceph.sh", true) {
        full_suite(&make, false).await;
    }
}

#[cfg(feature = "azure")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_on_azurite() {
    if let Some(make) = azurite_factory() {
        full_suite(&make, true).await;
    }
}

/// A stream of `len` pattern bytes in 1 MiB chunks that fails after `fail_after` bytes.
fn big_body(len: usize, fail_after: Option<usize>) -> PayloadStream {
    let chunks = (0..len.div_ceil(MIB)).map(move |i| {
        if fail_after.is_some_and(|f| i * MIB >= f) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client went away",
            ));
        }
        Ok(Bytes::from(pattern(MIB.min(len - i * MIB), i as u8)))
    });
    stream::iter(chunks).boxed()
}

fn digest_of(len: usize) -> Vec<u8> {
    let mut hash = Sha256::new();
    for i in 0..len.div_ceil(MIB) {
        hash.update(pattern(MIB.min(len - i * MIB), i as u8));
    }
    hash.finalize().to_vec()
}

/// 20 MiB streamed through the multipart path (5 MiB parts) comes back intact, whole and
/// as a range across part boundaries.
async fn large_streamed_round_trip(b: Factory) {
    let b = b.await.with_uploads(UploadSettings {
        part_size: 5 * MIB,
        max_parts_in_flight: 2,
        ..UploadSettings::default()
    });
    let key = id("large/20mib");
    let len = 20 * MIB;
    let metadata = stamped(ExpirationPolicy::Manual, b.clock.now());
    b.put(&key, &metadata, big_body(len, None))
        .await
        .expect("put failed");
    let (m, _, mut body) = conformance::found(b.get(&key, None).await.expect("get failed"));
    assert_eq!(m.size, Some(len as u64));
    let mut hash = Sha256::new();
    let mut read = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("body failed");
        read += chunk.len();
        hash.update(&chunk);
    }
    assert_eq!(read, len);
    assert!(
        hash.finalize().to_vec() == digest_of(len),
        "20 MiB object changed"
    );
    let range = ByteRange::Bounded(5 * MIB as u64 - 3, 5 * MIB as u64 + 2);
    let (_, resolved, bytes) =
        conformance::read_found(b.get(&key, Some(range)).await.expect("get failed")).await;
    assert_eq!(
        resolved.map(|r| (r.start, r.end)),
        Some((5 * MIB as u64 - 3, 5 * MIB as u64 + 2))
    );
    let mut want = pattern(MIB, 4)[MIB - 3..].to_vec();
    want.extend_from_slice(&pattern(MIB, 5)[..3]);
    assert_eq!(bytes, want);
}

/// A body failing after 12 MiB (two parts sent) stores nothing and leaves an old object.
async fn failing_stream_leaves_nothing(b: Factory) {
    let b = b.await.with_uploads(UploadSettings {
        part_size: 5 * MIB,
        max_parts_in_flight: 2,
        ..UploadSettings::default()
    });
    let metadata = stamped(ExpirationPolicy::Manual, b.clock.now());
    let fresh = id("failing/large-fresh");
    let err = b
        .put(&fresh, &metadata, big_body(20 * MIB, Some(12 * MIB)))
        .await
        .expect_err("a failing stream must fail the put");
    assert!(matches!(err, Error::ClientStream(_)), "{err:?}");
    assert!(conformance::read_object(&b, &fresh).await.is_none());

    let existing = id("failing/large-existing");
    b.put(&existing, &metadata, crate::stream::single("old"))
        .await
        .expect("put failed");
    b.put(&existing, &metadata, big_body(20 * MIB, Some(12 * MIB)))
        .await
        .expect_err("a failing stream must fail the put");
    let (m, bytes) = conformance::read_object(&b, &existing)
        .await
        .expect("the old object is gone");
    assert_eq!((m.size, bytes), (Some(3), b"old".to_vec()));
}

/// Expiry records are written with preconditions: a stale version or a lost creation race
/// is refused (so an extension reports a conflict), and an overwrite makes a record stale.
async fn expiry_records_are_conditional(b: Factory) {
    let b = b.await;
    let key = id("expiry/conditional");
    let day = Duration::from_secs(86_400);
    let metadata = stamped(ExpirationPolicy::TimeToLive(day), b.clock.now());
    b.put(&key, &metadata, crate::stream::single("x"))
        .await
        .expect("put failed");
    let path = codec::object_path(&key).unwrap();
    let (stored, _) = b.head_path(&path).await.unwrap().expect("object missing");
    let extended = Metadata {
        time_expires: metadata.time_expires.map(|t| t + day),
        ..metadata.clone()
    };
    assert!(
        b.write_expiry(&key, &stored.revision, &extended, None)
            .await
            .unwrap()
    );
    let (_, version) = b.read_expiry(&key).await.unwrap().expect("record missing");
    // A second creation loses; an update from the current version wins once. (Records
    // are content-addressed on S3: a rewrite of equal content keeps its ETag, and is
    // harmless, so each write here changes the deadline.)
    assert!(
        !b.write_expiry(&key, &stored.revision, &extended, None)
            .await
            .unwrap()
    );
    let further = Metadata {
        time_expires: extended.time_expires.map(|t| t + day),
        ..metadata.clone()
    };
    assert!(
        b.write_expiry(&key, &stored.revision, &further, Some(version.clone()))
            .await
            .unwrap(),
        "an update from the current version was refused"
    );
    assert!(
        !b.write_expiry(&key, &stored.revision, &extended, Some(version))
            .await
            .unwrap(),
        "an update from a stale version was accepted"
    );
    let head = b.head(&key).await.unwrap().expect("object missing");
    assert_eq!(head.time_expires, further.time_expires);
    // An overwrite starts from its own metadata, whatever the old record says.
    b.put(&key, &metadata, crate::stream::single("y"))
        .await
        .expect("put failed");
    let head = b.head(&key).await.unwrap().expect("object missing");
    assert_eq!(head.time_expires, metadata.time_expires);
}

/// Uploads older than the cleanup age are aborted; younger ones stay.
async fn abandoned_uploads_are_cleaned<F>(make: &F)
where
    F: Fn(SharedClock) -> Factory,
{
    let clock = ManualClock::new();
    let b = make(clock.clone()).await;
    let metadata = stamped(ExpirationPolicy::Manual, b.clock.now());
    let key = id("mp/abandoned");
    let upload = b.initiate_multipart(&key, &metadata).await.unwrap();
    b.upload_part(&key, &upload, 1, 4, crate::stream::single("part"))
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    assert_eq!(b.cleanup_abandoned_uploads(hour).await.unwrap(), 0);
    assert_eq!(
        b.list_parts(crate::backend::PartsQuery::all(&key, &upload))
            .await
            .unwrap()
            .parts
            .len(),
        1
    );
    // Bookkeeping an ended upload left behind (a part entry without a record).
    let orphan = codec::part_dir("orphan", 1).unwrap().join("0.1.x.y");
    b.store.put(&orphan, PutPayload::new()).await.unwrap();
    assert_eq!(b.cleanup_abandoned_uploads(hour).await.unwrap(), 0);
    // Two hours later (by the backend's clock; the store's own clock dates the upload).
    clock.advance(2 * hour);
    assert_eq!(b.cleanup_abandoned_uploads(hour).await.unwrap(), 2);
    let gone = b
        .list_parts(crate::backend::PartsQuery::all(&key, &upload))
        .await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
    assert!(conformance::read_object(&b, &key).await.is_none());
    let left: Vec<_> = b
        .store
        .list(None)
        .map(|m| m.unwrap().location)
        .collect()
        .await;
    assert!(left.is_empty(), "bookkeeping left behind: {left:?}");
}

/// The periodic cleanup finds an abandoned upload without being called.
async fn periodic_cleanup_removes_abandoned_uploads<F>(make: &F)
where
    F: Fn(SharedClock) -> Factory,
{
    let clock = ManualClock::new();
    let b = make(clock.clone()).await.with_uploads(UploadSettings {
        abandoned_after: Duration::from_secs(3600),
        cleanup_interval: Duration::from_millis(50),
        ..UploadSettings::default()
    });
    let metadata = stamped(ExpirationPolicy::Manual, b.clock.now());
    let key = id("mp/periodic");
    let upload = b.initiate_multipart(&key, &metadata).await.unwrap();
    b.upload_part(&key, &upload, 1, 4, crate::stream::single("part"))
        .await
        .unwrap();
    let task = b
        .spawn_upload_cleanup()
        .expect("a native store runs the cleanup");
    // Young uploads survive passes (several run while this one is checked).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        b.list_parts(crate::backend::PartsQuery::all(&key, &upload))
            .await
            .is_ok()
    );
    clock.advance(Duration::from_secs(2 * 3600));
    let mut gone = false;
    for _ in 0..200 {
        if matches!(
            b.list_parts(crate::backend::PartsQuery::all(&key, &upload))
                .await,
            Err(Error::NotFound(_))
        ) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    assert!(
        gone,
        "the periodic cleanup never removed the abandoned upload"
    );
}

/// Ceph radosgw 16 compares the listed parts with the uploaded ones in lockstep from the
/// first, so it refuses a selection with gaps (parts 1 and 3 of 1, 2, 3). The backend passes
/// that on as a rejection: nothing changes, the upload stays open, and completing every
/// uploaded part still works.
async fn ceph_refuses_selections_with_gaps(b: CloudBackend) {
    let key = id("mp/ceph-gaps");
    let metadata = stamped(ExpirationPolicy::Manual, b.clock.now());
    let upload = b.initiate_multipart(&key, &metadata).await.unwrap();
    let mut etags = Vec::new();
    for n in 1..=3u32 {
        let body = crate::stream::single(pattern(1000, n as u8));
        etags.push(b.upload_part(&key, &upload, n, 1000, body).await.unwrap());
    }
    let part = |n: u32| crate::backend::CompletedPart {
        part_number: n,
        etag: etags[n as usize - 1].clone(),
    };
    let rejection = b
        .complete_multipart(&key, &upload, &[part(1), part(3)])
        .await
        .unwrap()
        .expect("Ceph assembled a selection with gaps: enable the subset checks for it");
    assert_eq!(rejection.code, "InvalidPart");
    assert!(
        rejection.message.contains("selection"),
        "{}",
        rejection.message
    );
    assert!(conformance::read_object(&b, &key).await.is_none());
    let all = [part(1), part(2), part(3)];
    assert_eq!(
        b.complete_multipart(&key, &upload, &all).await.unwrap(),
        None
    );
    let (_, bytes) = conformance::read_object(&b, &key)
        .await
        .expect("object missing");
    assert_eq!(
        bytes,
        [pattern(1000, 1), pattern(1000, 2), pattern(1000, 3)].concat()
    );
}
