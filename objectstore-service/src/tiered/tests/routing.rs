//! Routing, overwrites, deletes, CAS conflicts, failures, reads and expiry.

use std::time::Duration;

use objectstore_types::range::ByteRange;
use objectstore_types::{ExpirationPolicy, Metadata, ObjectId};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::*;
use crate::Error;
use crate::backend::Tombstone;
use crate::backend::around::faults::{Fault, Faults};
use crate::clock::Clock as _;

// --- Basic behaviour ---

#[tokio::test]
async fn get_nonexistent_returns_none() {
    let (_env, storage) = env_and_storage();
    assert_eq!(read(&storage, &id("nope")).await, None);
    assert_eq!(storage.head(&id("nope")).await.unwrap(), None);
}

#[tokio::test]
async fn delete_nonexistent_succeeds() {
    let env = Env::new();
    env.storage().delete(&id("nope")).await.unwrap();
}

// --- Put routing ---

#[tokio::test]
async fn put_small_object_stores_inline() {
    let (env, storage, key) = fresh("small");
    put(&storage, &key, b"small payload").await.unwrap();

    let (metadata, bytes) = env.hv.entry(&key).expect_object();
    assert_eq!(&bytes[..], b"small payload");
    assert_eq!(metadata.size, Some(13));
    assert!(env.lt.is_empty(), "leaked to long-term");
    assert_eq!(read(&storage, &key).await.unwrap(), b"small payload");
    assert!(storage.head(&key).await.unwrap().is_some());
}

#[tokio::test]
async fn put_large_object_creates_tombstone() {
    let (env, storage, key) = fresh("large");
    let body = payload(LARGE, 0xCD);
    let mut metadata = Metadata {
        content_type: "image/png".into(),
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(3600)),
        origin: Some("10.0.0.1".into()),
        ..Metadata::default()
    };
    metadata.stamp(env.clock.now());
    storage
        .put(&key, &metadata, stream::single(body.clone()))
        .await
        .unwrap();

    // The tombstone carries the full metadata (size set) and targets a revision key.
    let tombstone = env.hv.entry(&key).expect_tombstone();
    assert_eq!(tombstone.metadata.content_type, "image/png");
    assert_eq!(tombstone.metadata.origin.as_deref(), Some("10.0.0.1"));
    assert_eq!(tombstone.metadata.size, Some(LARGE as u64));
    assert_eq!(tombstone.metadata.time_expires, metadata.time_expires);
    assert_eq!(tombstone.target.context, key.context);
    let prefix = format!("{}/", key.key.as_str());
    assert!(tombstone.target.key.as_str().starts_with(&prefix));

    // The revision holds the bytes; its metadata never expires on its own.
    let (lt_metadata, lt_bytes) = env.lt.entry(&tombstone.target).expect_object();
    assert_eq!(lt_bytes.len(), LARGE);
    assert_eq!(lt_metadata.content_type, "image/png");
    assert_eq!(lt_metadata.expiration_policy, metadata.expiration_policy);
    assert_eq!(lt_metadata.time_expires, None);

    assert_eq!(read(&storage, &key).await.unwrap(), body);
    let head = storage.head(&key).await.unwrap().unwrap();
    assert_eq!(head, tombstone.metadata);
    env.settled(&storage).await;
}

#[tokio::test]
async fn routing_boundary_is_the_threshold() {
    let env = Env::new();
    let config = TieredConfig {
        threshold: 100,
        ..Env::config()
    };
    let storage = env.storage_with(Arc::new(env.hv.clone()), Arc::new(env.lt.clone()), config);
    put(&storage, &id("at"), &payload(100, 1)).await.unwrap();
    put(&storage, &id("over"), &payload(101, 2)).await.unwrap();
    env.hv.entry(&id("at")).expect_object();
    env.hv.entry(&id("over")).expect_tombstone();
    put(&storage, &id("empty"), b"").await.unwrap();
    assert_eq!(read(&storage, &id("empty")).await.unwrap(), b"");
}

/// Seeded property: whatever the chunking, a body is stored inline iff it fits the
/// threshold, and reads back unchanged.
#[test]
fn routing_by_size_holds_for_any_chunking() {
    const THRESHOLD: usize = 64;
    let config = Config {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7153_0e11),
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let strategy = proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8);
    runner
        .run(&strategy, |chunks| {
            runtime.block_on(async {
                let env = Env::new();
                let config = TieredConfig {
                    threshold: THRESHOLD,
                    ..Env::config()
                };
                let storage =
                    env.storage_with(Arc::new(env.hv.clone()), Arc::new(env.lt.clone()), config);
                let whole: Vec<u8> = chunks.concat();
                let body =
                    futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))).boxed();
                let key = id("prop");
                storage.put(&key, &Metadata::default(), body).await.unwrap();
                let inline = matches!(env.hv.entry(&key), Entry::Object(..));
                prop_assert_eq!(inline, whole.len() <= THRESHOLD);
                prop_assert_eq!(read(&storage, &key).await.unwrap(), whole);
                env.settled(&storage).await;
                Ok(())
            })
        })
        .unwrap();
}

// --- Overwrites ---

#[tokio::test]
async fn reinsert_small_over_large_swaps_to_inline() {
    let (env, storage, key) = fresh("reinsert");
    put(&storage, &key, &payload(LARGE, 0xAB)).await.unwrap();
    let old = env.tombstone_target(&key);

    put(&storage, &key, &payload(100, 0xCD)).await.unwrap();
    env.hv.entry(&key).expect_object();
    settle(&storage).await;
    env.lt.entry(&old).expect_not_found();
    assert_eq!(read(&storage, &key).await.unwrap(), payload(100, 0xCD));
    env.assert_consistent();
}

#[tokio::test]
async fn overwrite_large_with_large_replaces_revision() {
    let (env, storage, key) = fresh("overwrite");
    put(&storage, &key, &payload(LARGE, 0xAA)).await.unwrap();
    let first = env.tombstone_target(&key);
    put(&storage, &key, &payload(LARGE, 0xBB)).await.unwrap();
    let second = env.tombstone_target(&key);
    assert_ne!(first, second, "a new revision per write");

    settle(&storage).await;
    env.lt.entry(&first).expect_not_found();
    env.lt.entry(&second).expect_object();
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 0xBB));
    env.assert_consistent();
}

#[tokio::test]
async fn overwrite_inline_with_large() {
    let (env, storage, key) = fresh("grow");
    put(&storage, &key, b"tiny").await.unwrap();
    put(&storage, &key, &payload(LARGE, 1)).await.unwrap();
    env.hv.entry(&key).expect_tombstone();
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));
    env.settled(&storage).await;
}

// --- Delete ---

#[tokio::test]
async fn delete_small_object() {
    let (env, storage, key) = fresh("delete-small");
    put(&storage, &key, b"tiny").await.unwrap();
    storage.delete(&key).await.unwrap();
    env.hv.entry(&key).expect_not_found();
    assert_eq!(read(&storage, &key).await, None);
    assert_eq!(env.hv.log_records(), vec![], "no record for inline deletes");
}

#[tokio::test]
async fn delete_large_object_cleans_up_both_backends() {
    let (env, storage, key) = fresh("delete-large");
    put(&storage, &key, &payload(LARGE, 0)).await.unwrap();
    let target = env.tombstone_target(&key);
    storage.delete(&key).await.unwrap();
    settle(&storage).await;
    assert!(!env.hv.contains(&key), "tombstone not removed");
    assert!(!env.lt.contains(&target), "blob not removed");
    env.assert_consistent();
}

/// The delete commits at the tombstone removal; a failing blob cleanup does not fail it,
/// and the record stays for recovery, which removes the blob later.
#[tokio::test]
async fn delete_succeeds_when_long_term_cleanup_fails() {
    let (env, key) = (Env::new(), id("fail-delete"));
    put(&env.storage(), &key, &payload(LARGE, 0xAB))
        .await
        .unwrap();
    let target = env.tombstone_target(&key);

    let broken = env.with_lt_around(always(Method::Delete, Fault::Fail));
    broken.delete(&key).await.unwrap();
    settle(&broken).await;
    env.hv.entry(&key).expect_not_found();
    assert_eq!(read(&broken, &key).await, None);
    assert!(env.lt.contains(&target), "cleanup failed, blob still there");
    assert_eq!(env.hv.log_records().len(), 1, "record kept for recovery");

    // A healthy instance recovers it (the broken one released its lease in `join`).
    let report = env.storage().recover_now(false).await.unwrap();
    assert_eq!((report.claimed, report.cleaned), (1, 1));
    env.assert_consistent();
}

// --- CAS conflicts ---

/// A large write that loses the CAS race still succeeds (last writer wins) and removes its
/// own blob.
#[tokio::test]
async fn put_large_cas_conflict_cleans_up_new_blob() {
    let env = Env::new();
    let storage = env.with_hv_around(cas_conflict());
    put(&storage, &id("conflict"), &payload(LARGE, 1))
        .await
        .unwrap();
    settle(&storage).await;
    assert!(env.lt.is_empty(), "the losing blob was not cleaned up");
    env.assert_consistent();
}

/// A small write over a tombstone that loses the race succeeds and deletes nothing (the
/// winner cleans the old blob).
#[tokio::test]
async fn put_small_over_tombstone_cas_conflict_succeeds() {
    let (env, key) = (Env::new(), id("conflict-small"));
    let target = env.large_at(&key, 1).await;
    let storage = env.with_hv_around(cas_conflict());
    put(&storage, &key, b"tiny").await.unwrap();
    settle(&storage).await;
    assert_eq!(env.tombstone_target(&key), target);
    env.lt.entry(&target).expect_object();
    env.assert_consistent();
}

// --- Failures before and after the commit ---

/// The tombstone write fails (nothing committed): the new blob is removed.
#[tokio::test]
async fn no_orphan_when_tombstone_write_fails() {
    let env = Env::new();
    let storage = env.with_hv_around(always(Method::CompareAndWrite, Fault::Fail));
    let result = put(&storage, &id("orphan"), &payload(LARGE, 1)).await;
    assert!(matches!(result, Err(Error::Backend { .. })), "{result:?}");
    settle(&storage).await;
    assert!(env.lt.is_empty(), "long-term blob not cleaned up");
    env.assert_consistent();
}

/// A failing body stream stores nothing and leaves the previous object in place.
#[tokio::test]
async fn failing_body_stores_nothing() {
    let (env, storage, key) = fresh("stream-error");
    put(&storage, &key, &payload(LARGE, 7)).await.unwrap();
    let failing = chunked(3, 600 * 1024)
        .chain(futures::stream::iter([Err(std::io::Error::other(
            "client went away",
        ))]))
        .boxed();
    let result = storage.put(&key, &Metadata::default(), failing).await;
    assert!(matches!(result, Err(Error::ClientStream(_))), "{result:?}");
    let small = futures::stream::iter([Err(std::io::Error::other("early"))]).boxed();
    let result = storage.put(&key, &Metadata::default(), small).await;
    assert!(matches!(result, Err(Error::ClientStream(_))), "{result:?}");

    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 7));
    env.settled(&storage).await;
}

// --- Orphan tombstones and explicit targets ---

/// A tombstone whose blob is gone (lost data) reads as absent. HEAD answers from the
/// tombstone alone (no long-term call), so it still reports the metadata: a deliberate
/// difference from the seed, which probed the long-term tier on HEAD.
#[tokio::test]
async fn orphan_tombstone_reads_as_absent() {
    let (env, storage, key) = fresh("orphan-tombstone");
    put(&storage, &key, &payload(LARGE, 3)).await.unwrap();
    env.lt.remove(&env.tombstone_target(&key));
    assert_eq!(read(&storage, &key).await, None);
    assert!(storage.head(&key).await.unwrap().is_some());
}

/// A tombstone whose target is not a revision key of the object is still followed on reads
/// and cleaned up on deletes.
#[tokio::test]
async fn tombstone_target_is_used_for_reads_and_deletes() {
    let (env, storage) = env_and_storage();
    let (hv_key, lt_key) = (id("hv-key"), id("lt-key"));
    let bytes = payload(100, 0xAB);
    Backend::put(
        &env.lt,
        &lt_key,
        &Metadata::default(),
        stream::single(bytes.clone()),
    )
    .await
    .unwrap();
    let metadata = Metadata {
        size: Some(100),
        ..Metadata::default()
    };
    let tombstone = Tombstone {
        target: lt_key.clone(),
        metadata,
    };
    env.hv.insert_raw(&hv_key, Entry::Tombstone(tombstone));

    assert_eq!(read(&storage, &hv_key).await.unwrap(), bytes);
    storage.delete(&hv_key).await.unwrap();
    settle(&storage).await;
    assert!(!env.hv.contains(&hv_key));
    assert!(!env.lt.contains(&lt_key));
    env.assert_consistent();
}

// --- Multi-chunk ---

#[tokio::test]
async fn multi_chunk_large_object_chains_buffered_and_remaining() {
    let (env, storage, key) = fresh("multi-chunk");
    let (chunks, size) = (4, 512 * 1024);
    storage
        .put(&key, &Metadata::default(), chunked(chunks, size))
        .await
        .unwrap();

    let target = env.tombstone_target(&key);
    let (_, bytes) = env.lt.entry(&target).expect_object();
    assert_eq!(bytes.len(), chunks * size);
    for i in 0..chunks {
        assert!(
            bytes[i * size..(i + 1) * size]
                .iter()
                .all(|&b| b == i as u8),
            "data mismatch in chunk {i}"
        );
    }
    assert_eq!(
        env.hv.entry(&key).expect_tombstone().metadata.size,
        Some((chunks * size) as u64)
    );
}

// --- Reads ---

#[tokio::test]
async fn ranges_pass_through_to_the_revision() {
    let (_env, storage, key) = fresh("range");
    let body: Vec<u8> = (0..LARGE).map(|i| (i % 251) as u8).collect();
    put(&storage, &key, &body).await.unwrap();

    let GetResponse::Found {
        metadata,
        range,
        body: stream,
    } = storage
        .get(&key, Some(ByteRange::Bounded(10, 19)))
        .await
        .unwrap()
    else {
        panic!("expected the range");
    };
    assert_eq!(metadata.size, Some(LARGE as u64));
    let range = range.unwrap();
    assert_eq!(
        (range.start, range.end, range.total),
        (10, 19, LARGE as u64)
    );
    assert_eq!(stream::read_to_vec(stream).await.unwrap(), &body[10..20]);

    let response = storage
        .get(&key, Some(ByteRange::From(LARGE as u64 + 5)))
        .await
        .unwrap();
    let GetResponse::RangeNotSatisfiable(metadata) = response else {
        panic!("expected 416, got {response:?}");
    };
    assert_eq!(metadata.size, Some(LARGE as u64));
}

#[tokio::test]
async fn head_of_a_large_object_needs_no_long_term_call() {
    let (env, key) = (Env::new(), id("head"));
    put(&env.storage(), &key, &payload(LARGE, 1)).await.unwrap();
    let faults = Faults::new();
    let storage = env.with_lt_around(faults.clone());
    let metadata = storage.head(&key).await.unwrap().unwrap();
    assert_eq!(metadata.size, Some(LARGE as u64));
    assert_eq!(faults.calls(Method::Head), 0);
    assert_eq!(faults.calls(Method::Get), 0);
}

// --- Revision keys ---

#[test]
fn revision_keys_preserve_the_context_roundtrip_and_are_unique() {
    let key = id("base/key");
    let a = key.new_revision();
    let b = key.new_revision();
    assert_eq!(a.context, key.context);
    assert!(a.key.as_str().starts_with("base/key/"), "{}", a.key);
    assert_ne!(a, b);
    let parsed = ObjectId::from_storage_path(&a.as_storage_path()).unwrap();
    assert_eq!(parsed, a);
    assert!(crate::tiered::changes::revision_uuid(&a).is_some());
    assert!(crate::tiered::changes::revision_uuid(&key).is_none());
}
