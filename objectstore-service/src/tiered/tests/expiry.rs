//! Expiry through tombstones: reads of expired objects, TTI bumps, extensions.

use std::time::Duration;

use objectstore_types::{ExpirationPolicy, Metadata};

use super::*;
use crate::backend::{ExpiryTarget, ExtendOutcome};
use crate::clock::Clock as _;

fn stamped(policy: ExpirationPolicy, env: &Env) -> Metadata {
    let mut metadata = Metadata {
        expiration_policy: policy,
        ..Metadata::default()
    };
    metadata.stamp(env.clock.now());
    metadata
}

#[tokio::test]
async fn expired_tombstone_reads_as_absent() {
    let (env, storage, key) = fresh("ttl");
    let metadata = stamped(ExpirationPolicy::TimeToLive(Duration::from_secs(60)), &env);
    storage
        .put(&key, &metadata, stream::single(payload(LARGE, 1)))
        .await
        .unwrap();
    assert!(read(&storage, &key).await.is_some());
    env.clock.advance(Duration::from_secs(61));
    assert_eq!(read(&storage, &key).await, None);
    assert_eq!(storage.head(&key).await.unwrap(), None);
    assert!(
        env.hv.contains(&key),
        "the sweeper removes it, not the read"
    );
}

#[tokio::test]
async fn reads_bump_a_tti_tombstone_and_report_the_old_deadline() {
    let (env, storage, key) = fresh("tti");
    let tti = Duration::from_secs(3600);
    let metadata = stamped(ExpirationPolicy::TimeToIdle(tti), &env);
    storage
        .put(&key, &metadata, stream::single(payload(LARGE, 1)))
        .await
        .unwrap();
    let first = metadata.time_expires.unwrap();

    // Within the debounce window (tti / 4): no bump.
    env.clock.advance(Duration::from_secs(600));
    storage.head(&key).await.unwrap();
    assert_eq!(
        env.hv.entry(&key).expect_tombstone().metadata.time_expires,
        Some(first)
    );

    // Past it: the read reports the old deadline and moves the stored one.
    env.clock.advance(Duration::from_secs(1800));
    let GetResponse::Found { metadata: seen, .. } = storage.get(&key, None).await.unwrap() else {
        panic!("expected the object");
    };
    assert_eq!(seen.time_expires, Some(first));
    let bumped = env
        .hv
        .entry(&key)
        .expect_tombstone()
        .metadata
        .time_expires
        .unwrap();
    assert!(bumped > first + Duration::from_secs(1800), "{bumped:?}");

    // The object outlives its original deadline.
    env.clock.advance(Duration::from_secs(1800));
    assert!(read(&storage, &key).await.is_some());
}

#[tokio::test]
async fn extend_expiry_of_inline_and_large_objects() {
    let (env, storage) = env_and_storage();
    let now = env.clock.now();
    let ttl = stamped(ExpirationPolicy::TimeToLive(Duration::from_secs(60)), &env);
    let (small, large) = (id("extend-small"), id("extend-large"));
    storage
        .put(&small, &ttl, stream::single(b"tiny".to_vec()))
        .await
        .unwrap();
    storage
        .put(&large, &ttl, stream::single(payload(LARGE, 1)))
        .await
        .unwrap();
    let day = Duration::from_secs(86_400);
    for key in [&small, &large] {
        let outcome = storage
            .extend_expiry(key, ExpiryTarget::AfterNow(day), now)
            .await
            .unwrap();
        assert_eq!(outcome, ExtendOutcome::Satisfied);
        let metadata = storage.head(key).await.unwrap().unwrap();
        assert!(metadata.time_expires.unwrap() >= now + day);
    }
    // The large object's deadline lives in its tombstone and survives the old one.
    env.clock.advance(Duration::from_secs(120));
    assert!(read(&storage, &large).await.is_some());

    let outcome = storage
        .extend_expiry(&id("absent"), ExpiryTarget::AfterNow(day), now)
        .await
        .unwrap();
    assert_eq!(outcome, ExtendOutcome::NotFound);
    let manual = id("manual");
    put(&storage, &manual, &payload(LARGE, 2)).await.unwrap();
    let outcome = storage
        .extend_expiry(&manual, ExpiryTarget::AfterNow(day), now)
        .await
        .unwrap();
    assert_eq!(outcome, ExtendOutcome::Rejected);
}

#[tokio::test]
async fn extend_expiry_of_a_tombstone_reports_a_lost_race_as_conflict() {
    let (env, key) = (Env::new(), id("extend-conflict"));
    let ttl = stamped(ExpirationPolicy::TimeToLive(Duration::from_secs(60)), &env);
    env.storage()
        .put(&key, &ttl, stream::single(payload(LARGE, 1)))
        .await
        .unwrap();
    let storage = env.with_hv_around(cas_conflict());
    let outcome = storage
        .extend_expiry(
            &key,
            ExpiryTarget::AfterNow(Duration::from_secs(600)),
            env.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, ExtendOutcome::Conflict);
}
