//! The expiry sweeper.

use std::time::Duration;

use objectstore_types::{ExpirationPolicy, Metadata};

use super::*;
use crate::backend::around::faults::{Calls, Fault, Faults};
use crate::clock::Clock as _;

fn ttl(env: &Env, secs: u64) -> Metadata {
    let mut metadata = Metadata {
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(secs)),
        ..Metadata::default()
    };
    metadata.stamp(env.clock.now());
    metadata
}

async fn put_with(storage: &TieredStorage, key: &ObjectId, metadata: &Metadata, body: Vec<u8>) {
    storage
        .put(key, metadata, stream::single(body))
        .await
        .unwrap();
}

#[tokio::test]
async fn sweeps_expired_inline_objects_and_tombstones_with_their_blobs() {
    let (env, storage) = env_and_storage();
    let short = ttl(&env, 60);
    let long = ttl(&env, 3600);
    put_with(&storage, &id("small-expired"), &short, b"x".to_vec()).await;
    put_with(&storage, &id("large-expired"), &short, payload(LARGE, 1)).await;
    put_with(&storage, &id("small-live"), &long, b"y".to_vec()).await;
    put_with(&storage, &id("large-live"), &long, payload(LARGE, 2)).await;
    put(&storage, &id("manual"), &payload(LARGE, 3))
        .await
        .unwrap();

    env.clock.advance(Duration::from_secs(61));
    let report = storage.sweep_expired().await.unwrap();
    settle(&storage).await;
    assert_eq!(report.scanned, 2);
    assert_eq!(
        (report.objects, report.tombstones, report.failed),
        (1, 1, 0)
    );
    let mut left = env.hv.ids();
    left.sort();
    let mut expected = vec![id("large-live"), id("manual"), id("small-live")];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(env.lt.len(), 2);
    env.assert_consistent();
}

/// A tombstone bumped by a read after the scan is not deleted (the delete is conditional),
/// and its blob stays.
#[tokio::test]
async fn a_tombstone_that_is_no_longer_expired_is_kept() {
    let (env, storage, key) = fresh("extended");
    put_with(&storage, &key, &ttl(&env, 60), payload(LARGE, 1)).await;
    env.clock.advance(Duration::from_secs(61));
    // Simulate an extension racing the sweep: the row is live again at delete time, with
    // the same revision.
    let mut tombstone = env.hv.entry(&key).expect_tombstone();
    let scanned = env
        .hv
        .scan_expired(env.clock.now(), None, 10)
        .await
        .unwrap();
    assert_eq!(scanned.len(), 1);
    tombstone.metadata.time_expires = Some(env.clock.now() + Duration::from_secs(3600));
    env.hv.insert_raw(&key, Entry::Tombstone(tombstone));
    let row = &scanned[0];
    let swept = storage
        .inner()
        .sweep_row(row, env.clock.now())
        .await
        .unwrap();
    assert_eq!(swept, crate::tiered::sweeper::Swept::Nothing);
    settle(&storage).await;
    assert!(read(&storage, &key).await.is_some());
    env.assert_consistent();
}

/// A failing blob delete leaves the record; recovery removes the blob later.
#[tokio::test]
async fn failed_blob_cleanup_of_a_swept_tombstone_is_recovered() {
    let (env, key) = (Env::new(), id("sweep-fail"));
    put_with(&env.storage(), &key, &ttl(&env, 60), payload(LARGE, 1)).await;
    env.clock.advance(Duration::from_secs(61));
    let broken = env.with_lt_around(always(Method::Delete, Fault::Fail));
    broken.sweep_expired().await.unwrap();
    settle(&broken).await;
    assert!(!env.hv.contains(&key));
    assert_eq!(env.lt.len(), 1);
    assert_eq!(env.hv.log_records().len(), 1);
    env.storage().recover_now(false).await.unwrap();
    env.assert_consistent();
    assert!(env.lt.is_empty());
}

/// Stores `count` small objects that expired a second ago; returns the test config with a
/// sweep rate of `rows_per_second`.
async fn expired_objects(env: &Env, count: usize, rows_per_second: u32) -> TieredConfig {
    for i in 0..count {
        let key = id(&format!("k{i}"));
        put_with(&env.storage(), &key, &ttl(env, 60), b"x".to_vec()).await;
    }
    env.clock.advance(Duration::from_secs(61));
    TieredConfig {
        sweep_rows_per_second: rows_per_second,
        ..Env::config()
    }
}

/// A row that cannot be deleted does not stall the pass: the cursor moves on.
#[tokio::test]
async fn a_failing_row_does_not_stall_the_pass() {
    let env = Env::new();
    let config = expired_objects(&env, 5, 2).await;
    let hv = decorate(
        &env.hv,
        Faults::new().on(Method::DeleteIfExpired, Calls::Nth(1), Fault::Fail),
    );
    let storage = env.storage_with(hv, Arc::new(env.lt.clone()), config);
    tokio::time::pause();
    let report = storage.sweep_expired().await.unwrap();
    assert_eq!((report.scanned, report.objects, report.failed), (5, 4, 1));
    assert_eq!(env.hv.len(), 1);
    // The next pass gets the straggler.
    let report = storage.sweep_expired().await.unwrap();
    assert_eq!((report.scanned, report.objects), (1, 1));
    assert!(env.hv.is_empty());
}

/// The sweeper pauses between batches so that a pass handles at most the configured number
/// of rows per second (virtual time: no real waiting, no timing assertion on wall time).
#[tokio::test(start_paused = true)]
async fn the_pass_is_rate_bounded() {
    let env = Env::new();
    let config = expired_objects(&env, 10, 4).await;
    let storage = env.storage_with(Arc::new(env.hv.clone()), Arc::new(env.lt.clone()), config);
    let started = tokio::time::Instant::now();
    let report = storage.sweep_expired().await.unwrap();
    assert_eq!(report.objects, 10);
    // Batches of 4, 4, 2: two full batches, each followed by a one-second pause.
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

/// A multipart object that expires before its upload deadline: the sweeper removes the
/// tombstone, the blob waits for the upload's deferred record.
#[tokio::test]
async fn an_expired_multipart_object_keeps_its_blob_until_the_upload_is_due() {
    let (env, storage, key) = fresh("mp-expiring");
    let upload_id = storage
        .initiate_multipart(&key, &ttl(&env, 60))
        .await
        .unwrap();
    let etag = storage
        .upload_part(&key, &upload_id, 1, 3, stream::single(b"abc".to_vec()))
        .await
        .unwrap();
    let parts = [CompletedPart {
        part_number: 1,
        etag,
    }];
    storage
        .complete_multipart(&key, &upload_id, &parts)
        .await
        .unwrap();
    let target = env.tombstone_target(&key);

    env.clock.advance(Duration::from_secs(61));
    assert_eq!(read(&storage, &key).await, None);
    storage.sweep_expired().await.unwrap();
    settle(&storage).await;
    assert!(!env.hv.contains(&key));
    env.lt.entry(&target).expect_object();

    env.clock.advance(Duration::from_secs(26 * 3600));
    env.storage().recover_now(false).await.unwrap();
    env.assert_consistent();
    assert!(env.lt.is_empty());
}
