//! Unit tests of the memory backend beyond the conformance suite.

use std::time::Duration;

use objectstore_types::ExpirationPolicy;

use super::*;
use crate::backend::Expected;
use crate::backend::{ChangeLog, Claim, HighVolumeBackend, TieredWrite};
use crate::clock::{Clock, ManualClock};
use crate::conformance::id;
use crate::stream;

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
    Backend::put(&a, &id("k"), &metadata, stream::single("hello"))
        .await
        .unwrap();
    assert!(b.contains(&id("k")));
    let (m, bytes) = b.entry(&id("k")).expect_object();
    assert_eq!(m.size, Some(5));
    assert_eq!(&bytes[..], b"hello");

    clock.advance(Duration::from_secs(60));
    assert!(Backend::head(&b, &id("k")).await.unwrap().is_none());
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
        m.compare_and_write(
            &id("k"),
            &Expected::revision(None),
            TieredWrite::Tombstone(tombstone.clone())
        )
        .await
        .unwrap()
    );
    assert_eq!(m.entry(&id("k")).expect_tombstone(), tombstone);
    assert!(Backend::head(&m, &id("k")).await.unwrap().is_none());
    assert!(matches!(
        Backend::get(&m, &id("k"), None).await.unwrap(),
        GetResponse::NotFound
    ));
    assert_eq!(
        Backend::extend_expiry(
            &m,
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
    m.renew_lease("a", clock.now() + Duration::from_secs(60))
        .await
        .unwrap();
    m.append_record(&record).await.unwrap();
    let claimed = m
        .claim_records(&Claim::new("b", clock.now(), false, 10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].owner, "b");
    assert_eq!(claimed[0].not_before, None);
    // b holds no lease, but "c" still cannot take it while b's lease is live.
    m.renew_lease("b", clock.now() + Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        m.claim_records(&Claim::new("c", clock.now(), false, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(m.log_records(), claimed);
}
