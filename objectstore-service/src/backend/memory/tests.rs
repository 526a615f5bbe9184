//! Unit tests of the memory backend beyond the conformance suite.

use std::time::Duration;

use objectstore_types::{ExpirationPolicy, ObjectContext, ObjectKey, Scopes, Usecase};

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::stream;

fn id(key: &str) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("testing").unwrap(),
            scopes: Scopes::empty(),
        },
        ObjectKey::new(key).unwrap(),
    )
}

#[tokio::test]
async fn clones_share_state_and_inspection_sees_raw_rows() {
    let clock = ManualClock::new();
    let a = MemoryBackend::new("mem", clock.clone());
    let b = a.clone();
    let mut metadata = Metadata {
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(10)),
        ..Metadata::default()
    };
    metadata.stamp(clock.now());
    a.put_object(&id("k"), &metadata, stream::single("hello"))
        .await
        .unwrap();
    assert!(b.contains(&id("k")));
    let (m, bytes) = b.entry(&id("k")).expect_object();
    assert_eq!(m.size, Some(5));
    assert_eq!(&bytes[..], b"hello");

    clock.advance(Duration::from_secs(60));
    assert!(b.get_metadata(&id("k")).await.unwrap().is_none());
    // Inspection still sees the expired row.
    b.entry(&id("k")).expect_object();
    assert_eq!(b.len(), 1);
    assert!(b.remove(&id("k")));
    assert!(a.is_empty());
    a.entry(&id("k")).expect_not_found();
}

#[tokio::test]
async fn tombstones_are_absent_through_the_plain_api() {
    let m = MemoryBackend::new("mem", ManualClock::new());
    let tombstone = Tombstone {
        target: id("k/rev"),
        metadata: sized(&Metadata::default(), 3),
    };
    assert!(
        m.compare_and_write(&id("k"), None, TieredWrite::Tombstone(tombstone.clone()))
            .await
            .unwrap()
    );
    assert_eq!(m.get(&id("k")).expect_tombstone(), tombstone);
    assert!(m.get_metadata(&id("k")).await.unwrap().is_none());
    assert!(matches!(
        m.get_object(&id("k"), None).await.unwrap(),
        GetResponse::NotFound
    ));
    assert_eq!(
        m.extend_expiry(
            &id("k"),
            ExpiryTarget::AfterNow(Duration::ZERO),
            m.clock.now()
        )
        .await
        .unwrap(),
        ExtendOutcome::NotFound
    );
}

#[tokio::test]
async fn claimed_deferred_records_lose_their_deferral() {
    let clock = ManualClock::new();
    let m = MemoryBackend::new("mem", clock.clone());
    let record = ChangeRecord {
        change_id: uuid::Uuid::now_v7(),
        owner: "a".into(),
        id: id("k"),
        old: None,
        new: Some(id("k/rev")),
        upload_id: Some("u".into()),
        not_before: Some(clock.now()),
    };
    m.lease_renew("a", clock.now() + Duration::from_secs(60))
        .await
        .unwrap();
    m.log_append(&record).await.unwrap();
    let claimed = m.log_claim("b", clock.now(), false, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].owner, "b");
    assert_eq!(claimed[0].not_before, None);
    // b holds no lease, but "c" still cannot take it while b's lease is live.
    m.lease_renew("b", clock.now() + Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        m.log_claim("c", clock.now(), false, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(m.log_records(), claimed);
}
