//! Multipart uploads: every case of the seed, token validation, deadlines, and the seed-001
//! race (cleanup of a failed complete vs. its retry on the same revision key).

use std::sync::atomic::Ordering;
use std::time::Duration;

use objectstore_types::{ExpirationPolicy, Metadata};

use super::*;
use crate::Error;
use crate::backend::CompletedPart;
use crate::backend::around::faults::{Calls, Fault, Faults, Gate};
use crate::clock::Clock as _;
use crate::tiered::multipart::{decode, encode};

/// Past every multipart deadline and grace of the defaults.
const AFTER_DEADLINE: Duration = Duration::from_secs(26 * 3600);

/// Lets every deferred record come due and recovers with a fresh instance.
async fn recover_after_deadline(env: &Env) {
    env.clock.advance(AFTER_DEADLINE);
    env.storage().recover_now(false).await.unwrap();
}

/// Completes once expecting an error, then again expecting success, settling the
/// background work after each call.
async fn complete_fails_then_succeeds(
    storage: &TieredStorage,
    key: &ObjectId,
    upload_id: &str,
    parts: &[CompletedPart],
) {
    let first = storage.complete_multipart(key, upload_id, parts).await;
    assert!(first.is_err(), "the first complete must fail: {first:?}");
    settle(storage).await;
    let retry = storage.complete_multipart(key, upload_id, parts).await;
    assert_eq!(retry.unwrap(), None, "the retried complete must succeed");
    settle(storage).await;
}

// --- Upload id ---

#[test]
fn upload_id_roundtrip_and_validation() {
    let key = id("my-key");
    let revision = ObjectId::new(
        key.context.clone(),
        key.key.with_revision(&uuid::Uuid::now_v7()),
    );
    let token = encode(&revision, "upstream-id").unwrap();
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let upload = decode(&key, &token).unwrap();
    assert_eq!(upload.revision, revision);
    assert_eq!(upload.lt_upload, "upstream-id");

    // Another object's upload: not found, never a write elsewhere.
    assert!(matches!(
        decode(&id("other"), &token),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(decode(&id("my"), &token), Err(Error::NotFound(_))));
    // Undecodable.
    assert!(matches!(decode(&key, "%%%"), Err(Error::InvalidRequest(_))));
    assert!(matches!(
        decode(&key, "bm90IGpzb24"),
        Err(Error::InvalidRequest(_))
    ));
    // A revision that is not `{key}/{uuid_v7}`.
    for revision in [
        "my-key/x/0190b6c4-7e28-7b9a-9c1d-abcdef123456".to_owned(),
        "my-key".to_owned(),
        format!("my-key/{}", uuid::Uuid::new_v4()),
        "my-key/0190B6C4-7E28-7B9A-9C1D-ABCDEF123456".to_owned(),
    ] {
        use base64::Engine as _;
        let json = serde_json::json!({"revision": revision, "upload_id": "u"}).to_string();
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        assert!(
            matches!(decode(&key, &token), Err(Error::NotFound(_))),
            "{revision}"
        );
    }
}

/// An upload id of object A used on object B fails and writes nothing to B.
#[tokio::test]
async fn an_upload_id_of_another_object_is_not_found() {
    let (env, storage) = env_and_storage();
    let (a, b) = (id("a"), id("b"));
    put(&storage, &b, b"b stays").await.unwrap();
    let (upload_id, parts) = upload(&storage, &a, &[payload(100, 1)]).await;

    let result = storage
        .upload_part(&b, &upload_id, 1, 3, stream::single(b"abc".to_vec()))
        .await;
    assert!(matches!(result, Err(Error::NotFound(_))), "{result:?}");
    let result = storage.complete_multipart(&b, &upload_id, &parts).await;
    assert!(matches!(result, Err(Error::NotFound(_))), "{result:?}");
    let result = storage
        .list_parts(crate::backend::PartsQuery::all(&b, &upload_id))
        .await;
    assert!(matches!(result, Err(Error::NotFound(_))), "{result:?}");
    // Aborting it through B is a no-op (unknown upload of B): A's upload stays open.
    storage.abort_multipart(&b, &upload_id).await.unwrap();
    storage
        .abort_multipart(&b, "not-even-base64!")
        .await
        .unwrap();
    assert_eq!(env.lt.pending_uploads(), 1);
    assert_eq!(read(&storage, &b).await.unwrap(), b"b stays");
    assert_eq!(read(&storage, &a).await, None);
}

// --- The seed's cases ---

#[tokio::test]
async fn multipart_single_part_roundtrip() {
    let (env, storage, key) = fresh("mp-single");
    let mut metadata = Metadata {
        content_type: "application/x-test".into(),
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(3600)),
        ..Metadata::default()
    };
    metadata.stamp(env.clock.now());
    let body = payload(LARGE, 0xAB);
    let upload_id = storage.initiate_multipart(&key, &metadata).await.unwrap();
    let etag = storage
        .upload_part(
            &key,
            &upload_id,
            1,
            LARGE as u64,
            stream::single(body.clone()),
        )
        .await
        .unwrap();
    let parts = [CompletedPart {
        part_number: 1,
        etag,
    }];
    complete(&storage, &key, &upload_id, &parts).await;

    assert_eq!(read(&storage, &key).await.unwrap(), body);
    let tombstone = env.hv.entry(&key).expect_tombstone();
    assert_eq!(tombstone.target, decode(&key, &upload_id).unwrap().revision);
    assert_eq!(tombstone.metadata.content_type, "application/x-test");
    assert_eq!(tombstone.metadata.size, Some(LARGE as u64));
    // The deadline is the one fixed at initiation.
    assert_eq!(tombstone.metadata.time_expires, metadata.time_expires);
    env.lt.entry(&tombstone.target).expect_object();
}

#[tokio::test]
async fn multipart_upload_assembles_parts_in_order() {
    let (_env, storage, key) = fresh("multipart");
    let upload_id = storage
        .initiate_multipart(&key, &Metadata::default())
        .await
        .unwrap();
    let parts: Vec<Vec<u8>> = (0..3u8).map(|i| payload(512 * 1024, 0xAA + i)).collect();
    let mut completed = Vec::new();
    for number in [3u32, 2, 1] {
        let part = &parts[number as usize - 1];
        completed.push(upload_part(&storage, &key, &upload_id, number, part).await);
    }
    completed.sort_by_key(|p| p.part_number);
    complete(&storage, &key, &upload_id, &completed).await;
    assert_eq!(read(&storage, &key).await.unwrap(), parts.concat());
}

#[tokio::test]
async fn multipart_abort() {
    let (env, storage, key) = fresh("mp-abort");
    let (upload_id, _) = upload(&storage, &key, &[payload(100, 1)]).await;
    storage.abort_multipart(&key, &upload_id).await.unwrap();
    env.hv.entry(&key).expect_not_found();
    assert_eq!(read(&storage, &key).await, None);
    assert_eq!(env.lt.pending_uploads(), 0);
    // The deferred record goes at its due time.
    recover_after_deadline(&env).await;
    env.assert_consistent();
}

#[tokio::test]
async fn multipart_list_parts() {
    let (_env, storage, key) = fresh("mp-list");
    let (upload_id, _) = upload(&storage, &key, &[payload(100, 1), payload(200, 2)]).await;
    let page = storage
        .list_parts(crate::backend::PartsQuery::all(&key, &upload_id))
        .await
        .unwrap();
    let seen: Vec<(u32, u64)> = page.parts.iter().map(|p| (p.part_number, p.size)).collect();
    assert_eq!(seen, vec![(1, 100), (2, 200)]);
}

#[tokio::test]
async fn multipart_overwrites_existing_tombstone() {
    let (env, storage, key) = fresh("mp-overwrite");
    put(&storage, &key, &payload(LARGE, 0xAA)).await.unwrap();
    let old = env.tombstone_target(&key);

    let (upload_id, parts) = upload(&storage, &key, &[payload(LARGE, 0xBB)]).await;
    assert_eq!(
        env.tombstone_target(&key),
        old,
        "not visible before complete"
    );
    complete(&storage, &key, &upload_id, &parts).await;
    let new = env.tombstone_target(&key);
    assert_ne!(new, old);
    settle(&storage).await;
    env.lt.entry(&old).expect_not_found();
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 0xBB));
    recover_after_deadline(&env).await;
    env.assert_consistent();
}

/// Backend rejections are proxied; the upload stays open and a correct complete works.
#[tokio::test]
async fn rejected_complete_is_proxied_and_retryable() {
    let (env, storage, key) = fresh("mp-reject");
    let (upload_id, parts) = upload(&storage, &key, &[payload(100, 1)]).await;
    let wrong = [CompletedPart {
        part_number: 1,
        etag: "\"nope\"".into(),
    }];
    let rejection = storage
        .complete_multipart(&key, &upload_id, &wrong)
        .await
        .unwrap();
    assert!(rejection.is_some_and(|r| !r.code.is_empty()));
    env.hv.entry(&key).expect_not_found();
    complete(&storage, &key, &upload_id, &parts).await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(100, 1));
}

// --- Failed completes, retries and delayed cleanup ---

/// The long-term complete assembles the blob but reports an error, and the metadata read
/// fails too: the complete fails, the blob stays (a retry may still commit it), and once the
/// deadline and grace passed, recovery deletes it and aborts the upload.
#[tokio::test]
async fn orphan_of_a_failed_complete_is_cleaned_after_the_deadline() {
    let (env, key) = (Env::new(), id("mp-orphan"));
    let (upload_id, parts) = upload(&env.storage(), &key, &[payload(LARGE, 1)]).await;
    let revision = decode(&key, &upload_id).unwrap().revision;
    let broken = env.with_lt_around(
        Faults::new()
            .on(
                Method::CompleteMultipart,
                Calls::All,
                Fault::FailAfterCommit,
            )
            .on(Method::Head, Calls::All, Fault::Fail),
    );
    assert!(
        broken
            .complete_multipart(&key, &upload_id, &parts)
            .await
            .is_err()
    );
    settle(&broken).await;
    env.lt.entry(&revision).expect_object();
    env.hv.entry(&key).expect_not_found();

    // Before the due time nothing happens, even for another instance.
    env.clock.advance(AFTER_LEASES);
    env.storage().recover_now(false).await.unwrap();
    env.lt.entry(&revision).expect_object();

    recover_after_deadline(&env).await;
    env.lt.entry(&revision).expect_not_found();
    env.assert_consistent();
}

/// The first complete fails before assembling; the retry succeeds; the deferred cleanup
/// later keeps the committed revision.
#[tokio::test]
async fn complete_succeeds_on_retry_after_a_long_term_error() {
    let (env, key) = (Env::new(), id("mp-retry"));
    let (upload_id, parts) = upload(&env.storage(), &key, &[payload(LARGE, 1)]).await;
    let storage =
        env.with_lt_around(Faults::new().on(Method::CompleteMultipart, Calls::Nth(1), Fault::Fail));
    complete_fails_then_succeeds(&storage, &key, &upload_id, &parts).await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));

    recover_after_deadline(&env).await;
    assert_eq!(
        env.tombstone_target(&key),
        decode(&key, &upload_id).unwrap().revision
    );
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));
    env.assert_consistent();
}

/// The first complete assembles the blob, then its metadata read fails; the retry finds the
/// assembled revision (its own complete call fails: the upload is gone) and commits it.
#[tokio::test]
async fn complete_succeeds_on_retry_if_the_metadata_read_fails() {
    let (env, key) = (Env::new(), id("mp-retry-meta"));
    let (upload_id, parts) = upload(&env.storage(), &key, &[payload(LARGE, 1)]).await;
    let storage = env.with_lt_around(Faults::new().on(Method::Head, Calls::Nth(1), Fault::Fail));
    complete_fails_then_succeeds(&storage, &key, &upload_id, &parts).await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));

    recover_after_deadline(&env).await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));
    env.assert_consistent();
}

/// The tombstone swap commits but its response is lost; the retry reports success at once.
#[tokio::test]
async fn complete_retry_after_a_lost_commit_response_succeeds() {
    let (env, key) = (Env::new(), id("mp-lost-response"));
    let (upload_id, parts) = upload(&env.storage(), &key, &[payload(LARGE, 1)]).await;
    let storage = env.with_hv_around(Faults::new().on(
        Method::CompareAndWrite,
        Calls::Nth(1),
        Fault::FailAfterCommit,
    ));
    complete_fails_then_succeeds(&storage, &key, &upload_id, &parts).await;
    recover_after_deadline(&env).await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));
    env.assert_consistent();
}

/// A retried complete after the object was overwritten reports success without
/// resurrecting the old revision; the revision's blob waits for its deferred record.
#[tokio::test]
async fn retry_after_an_overwrite_reports_success_without_recommitting() {
    let (env, storage, key) = fresh("mp-overwritten");
    let (upload_id, parts) = upload(&storage, &key, &[payload(LARGE, 1)]).await;
    let revision = decode(&key, &upload_id).unwrap().revision;
    complete(&storage, &key, &upload_id, &parts).await;
    put(&storage, &key, &payload(LARGE, 2)).await.unwrap();
    settle(&storage).await;
    env.lt.entry(&revision).expect_object(); // owned by the deferred record until due

    complete(&storage, &key, &upload_id, &parts).await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 2));
    recover_after_deadline(&env).await;
    env.lt.entry(&revision).expect_not_found();
    env.assert_consistent();
}

/// Without the commit marker (its append failed), a retry after an overwrite commits the
/// same revision again: a legitimate later write whose blob the deferred record kept.
#[tokio::test]
async fn retry_without_marker_recommits_the_same_revision_safely() {
    let (env, key) = (Env::new(), id("mp-no-marker"));
    // Appends: 1 deferred record, 2 guard, 3 marker.
    let storage =
        env.with_hv_around(Faults::new().on(Method::AppendRecord, Calls::Nth(3), Fault::Fail));
    let (upload_id, parts) = upload(&storage, &key, &[payload(LARGE, 1)]).await;
    complete(&storage, &key, &upload_id, &parts).await;
    put(&storage, &key, &payload(LARGE, 2)).await.unwrap();
    complete(&storage, &key, &upload_id, &parts).await;
    settle(&storage).await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));
    recover_after_deadline(&env).await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));
    env.assert_consistent();
}

// --- Deadlines ---

#[tokio::test]
async fn parts_and_completes_are_refused_after_the_deadline() {
    let (env, storage, key) = fresh("mp-late");
    let (upload_id, parts) = upload(&storage, &key, &[payload(100, 1)]).await;
    env.clock.advance(Duration::from_secs(24 * 3600 + 1));
    let result = storage
        .upload_part(&key, &upload_id, 2, 1, stream::single(b"x".to_vec()))
        .await;
    assert!(matches!(result, Err(Error::Gone(_))), "{result:?}");
    let result = storage.complete_multipart(&key, &upload_id, &parts).await;
    assert!(matches!(result, Err(Error::Gone(_))), "{result:?}");
    env.hv.entry(&key).expect_not_found();

    // The abandoned upload (parts included) is cleaned after the grace period.
    recover_after_deadline(&env).await;
    env.assert_consistent();
    let result = storage.complete_multipart(&key, &upload_id, &parts).await;
    assert!(matches!(result, Err(Error::Gone(_))), "{result:?}");
}

#[tokio::test]
async fn complete_of_an_unknown_upload_is_not_found() {
    let (env, storage, key) = fresh("mp-unknown");
    let revision = ObjectId::new(
        key.context.clone(),
        key.key.with_revision(&uuid::Uuid::now_v7()),
    );
    let token = encode(&revision, "made-up").unwrap();
    let result = storage.complete_multipart(&key, &token, &[]).await;
    assert!(matches!(result, Err(Error::NotFound(_))), "{result:?}");
    env.hv.entry(&key).expect_not_found();
    assert_eq!(env.hv.log_records(), vec![]);
}

// --- Seed 001: cleanup of a failed complete racing its retry ---

/// Complete #1 assembles the revision, then its tombstone swap fails. Its cleanup runs in
/// the background and is paused right before deleting a long-term blob (if it deletes
/// any); meanwhile the client retries and the retry commits. Then the cleanup resumes.
/// Returns what a read finds afterwards.
async fn retry_race(naive: bool) -> Option<Vec<u8>> {
    let (env, key) = (Env::new(), id("race"));
    let gate = Gate::new();
    let hv = decorate(
        &env.hv,
        Faults::new().on(Method::CompareAndWrite, Calls::Nth(1), Fault::Fail),
    );
    let lt = decorate(
        &env.lt,
        always(Method::Delete, Fault::PauseBefore(gate.clone())),
    );
    let storage = env.storage_on(hv, lt);
    storage
        .inner()
        .naive_multipart
        .store(naive, Ordering::SeqCst);
    let (upload_id, parts) = upload(&storage, &key, &[payload(LARGE, 7)]).await;

    assert!(
        storage
            .complete_multipart(&key, &upload_id, &parts)
            .await
            .is_err()
    );
    // Naive: the cleanup decided the revision is unreferenced and is about to delete it.
    // Ours: the cleanup deletes nothing and finishes.
    tokio::select! {
        () = gate.reached() => assert!(naive, "our cleanup must not delete the revision"),
        () = storage.join() => {}
    }
    complete(&storage, &key, &upload_id, &parts).await;
    gate.release();
    storage.join().await;
    read(&storage, &key).await
}

/// The seed's design loses the acknowledged object: the tombstone points at a revision
/// its own (stale) cleanup deleted.
#[tokio::test]
async fn seed_001_race_loses_the_object_with_the_naive_design() {
    assert_eq!(retry_race(true).await, None);
}

/// Ours: the new revision is owned by the deferred record, so no cleanup of a failed
/// attempt can delete it; the retried complete's object survives.
#[tokio::test]
async fn seed_001_race_keeps_the_object_with_deferred_ownership() {
    assert_eq!(retry_race(false).await, Some(payload(LARGE, 7)));
}

/// A complete that started in time but reaches its commit too close to the deferred
/// record's due time gives up instead of committing a revision recovery may be deleting.
#[tokio::test]
async fn a_complete_that_reaches_its_commit_too_late_does_not_commit() {
    let (env, key) = (Env::new(), id("mp-too-late"));
    let (upload_id, parts) = upload(&env.storage(), &key, &[payload(100, 1)]).await;
    let gate = Gate::new();
    let storage =
        Arc::new(env.with_lt_around(always(Method::Head, Fault::PauseAfter(gate.clone()))));
    let completing = tokio::spawn({
        let (storage, key) = (storage.clone(), key.clone());
        async move { storage.complete_multipart(&key, &upload_id, &parts).await }
    });
    gate.reached().await;
    // Deadline (24 h) plus more than half the grace (1 h) later.
    env.clock.advance(Duration::from_secs(24 * 3600 + 31 * 60));
    gate.release();
    let result = completing.await.unwrap();
    assert!(matches!(result, Err(Error::Gone(_))), "{result:?}");
    env.hv.entry(&key).expect_not_found();
    settle(&storage).await;
    recover_after_deadline(&env).await;
    env.assert_consistent();
}
