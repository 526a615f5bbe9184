//! Checks of [`HighVolumeBackend::compare_and_write`] with a [`Precondition`] (S3's
//! conditional writes): the precondition is judged on inline rows and tombstones at the
//! backend's clock (expired rows count as absent, an object without a stored ETag has the
//! derived one), a refused write changes nothing, a conditional inline write is not
//! idempotent, and racing writers: exactly one winner for `Absent`, only the writers whose
//! `ETagMatches` still holds for `If-Match`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use objectstore_types::{ExpirationPolicy, Metadata, ObjectId};

use super::high_volume::{row, tombstone};
use super::{Ctx, id, stamped, winners, with_size};
use crate::backend::{
    Expected, HighVolumeBackend, Precondition, TieredMetadata, TieredWrite, Tombstone,
};
use crate::digest::entity_tag;

#[allow(
    clippy::unnecessary_wraps,
    reason = "every caller passes it where an optional precondition is expected"
)]
fn absent() -> Option<Precondition> {
    Some(Precondition::Absent)
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "every caller passes it where an optional precondition is expected"
)]
fn etag_is(etag: &str) -> Option<Precondition> {
    Some(Precondition::ETagMatches(etag.to_owned()))
}

/// Metadata with a stored ETag.
fn tagged(metadata: &Metadata, etag: &str) -> Metadata {
    Metadata {
        etag: Some(etag.to_owned()),
        ..metadata.clone()
    }
}

async fn cas_if(
    b: &dyn HighVolumeBackend,
    key: &ObjectId,
    revision: Option<&ObjectId>,
    precondition: Option<Precondition>,
    write: TieredWrite,
) -> bool {
    b.compare_and_write(key, &Expected::revision(revision).and(precondition), write)
        .await
        .expect("compare_and_write failed")
}

fn object(metadata: &Metadata, payload: &'static [u8]) -> TieredWrite {
    TieredWrite::Object(metadata.clone(), Bytes::from_static(payload))
}

/// `Absent` and `ETagMatches` on absent rows, live and expired inline rows and tombstones;
/// a refused write leaves the row as it was.
pub async fn conditional_writes_judge_the_row(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let manual = stamped(ExpirationPolicy::Manual, cx.now());
    let m1 = tagged(&manual, "11111111111111111111111111111111");

    // Absent row: `Absent` applies, `ETagMatches` does not.
    let key = id("cond/absent");
    assert!(!cas_if(b, &key, None, etag_is("1111"), object(&m1, b"x")).await);
    assert_eq!(row(b, &key).await, TieredMetadata::NotFound);
    assert!(cas_if(b, &key, None, absent(), object(&m1, b"one")).await);
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Object(with_size(&m1, 3))
    );

    // A live inline row: `Absent` is refused (also on a retry of the winning write: no
    // idempotency for conditional inline writes), `ETagMatches` judges the stored tag.
    let m2 = tagged(&manual, "22222222222222222222222222222222");
    assert!(!cas_if(b, &key, None, absent(), object(&m1, b"one")).await);
    assert!(!cas_if(b, &key, None, etag_is("2222"), object(&m2, b"two")).await);
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Object(with_size(&m1, 3))
    );
    let tag1 = m1.etag.clone().unwrap_or_default();
    assert!(cas_if(b, &key, None, etag_is(&tag1), object(&m2, b"two")).await);
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Object(with_size(&m2, 3))
    );
    // The revision is still part of the expectation: no tombstone there.
    let tag2 = m2.etag.clone().unwrap_or_default();
    let stale = id("cond/absent/rev");
    assert!(!cas_if(b, &key, Some(&stale), etag_is(&tag2), TieredWrite::Delete).await);
    assert!(cas_if(b, &key, None, etag_is(&tag2), TieredWrite::Delete).await);
    assert_eq!(row(b, &key).await, TieredMetadata::NotFound);

    // An object stored without an ETag has the derived one.
    let key = id("cond/legacy");
    b.put(&key, &manual, Bytes::from_static(b"old"))
        .await
        .expect("put failed");
    let derived = entity_tag(&with_size(&manual, 3));
    assert!(derived.ends_with("-0"), "{derived}");
    assert!(!cas_if(b, &key, None, etag_is("00"), TieredWrite::Delete).await);
    assert!(cas_if(b, &key, None, etag_is(&derived), object(&m1, b"new")).await);

    // Expired rows count as absent: inline and tombstone alike.
    let ttl = tagged(
        &stamped(
            ExpirationPolicy::TimeToLive(Duration::from_secs(10)),
            cx.now(),
        ),
        "33333333333333333333333333333333",
    );
    let inline = id("cond/expired-inline");
    assert!(cas_if(b, &inline, None, absent(), object(&ttl, b"ttl")).await);
    let tomb = id("cond/expired-tomb");
    let t = tombstone("cond/expired-tomb/rev", &ttl);
    assert!(cas_if(b, &tomb, None, absent(), TieredWrite::Tombstone(t.clone())).await);
    let tag3 = ttl.etag.clone().unwrap_or_default();
    assert!(!cas_if(b, &tomb, Some(&t.target), absent(), TieredWrite::Delete).await);
    cx.advance(Duration::from_secs(11));
    assert!(!cas_if(b, &inline, None, etag_is(&tag3), TieredWrite::Delete).await);
    assert!(cas_if(b, &inline, None, absent(), object(&m1, b"re")).await);
    assert!(
        !cas_if(
            b,
            &tomb,
            Some(&t.target),
            etag_is(&tag3),
            TieredWrite::Delete
        )
        .await,
        "an expired tombstone matched If-Match"
    );
    let t2 = tombstone("cond/expired-tomb/rev2", &m1);
    assert!(
        cas_if(
            b,
            &tomb,
            Some(&t.target),
            absent(),
            TieredWrite::Tombstone(t2.clone())
        )
        .await,
        "an expired tombstone is absent"
    );
    assert_eq!(row(b, &tomb).await, TieredMetadata::Tombstone(t2.clone()));

    // A live tombstone: judged by its metadata; a retried tombstone write is idempotent.
    assert!(!cas_if(b, &tomb, Some(&t2.target), absent(), TieredWrite::Delete).await);
    let t3 = tombstone("cond/expired-tomb/rev3", &m2);
    let write = TieredWrite::Tombstone(t3.clone());
    assert!(cas_if(b, &tomb, Some(&t2.target), etag_is(&tag1), write.clone()).await);
    assert!(
        cas_if(b, &tomb, Some(&t2.target), etag_is(&tag1), write).await,
        "a retried conditional tombstone write is not idempotent"
    );
    assert_eq!(row(b, &tomb).await, TieredMetadata::Tombstone(t3));
}

/// Races conditional writes of distinct inline objects on `key` (racer `i` of `racers`
/// writes metadata with ETag `{i:032x}` through `handles[i % handles.len()]`); returns the
/// winners.
pub async fn race_inline(
    handles: &[Arc<dyn HighVolumeBackend>],
    key: &ObjectId,
    precondition: Option<Precondition>,
    racers: std::ops::RangeInclusive<usize>,
    metadata: &Metadata,
) -> Vec<usize> {
    let tasks: Vec<_> = racers
        .map(|i| {
            let b = Arc::clone(&handles[i % handles.len()]);
            let key = key.clone();
            let m = tagged(metadata, &format!("{i:032x}"));
            let expected = Expected::revision(None).and(precondition.clone());
            tokio::spawn(async move {
                let write = TieredWrite::Object(m, Bytes::from(format!("racer {i}")));
                let won = b
                    .compare_and_write(&key, &expected, write)
                    .await
                    .expect("compare_and_write failed");
                (i, won)
            })
        })
        .collect();
    winners(tasks).await
}

/// Of many `Absent` writers of an absent object exactly one wins, and the row holds its
/// write; of many `ETagMatches(e)` writers of an object tagged `e` exactly one wins (each
/// writes another tag).
pub async fn conditional_write_races_have_the_allowed_winners(cx: &Ctx<dyn HighVolumeBackend>) {
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    let key = id("cond/race");
    let handles = [Arc::clone(&cx.backend)];
    let winners = race_inline(&handles, &key, absent(), 1..=16, &m).await;
    assert_eq!(winners.len(), 1, "If-None-Match: * winners {winners:?}");
    let winner = format!("{:032x}", winners[0]);
    let TieredMetadata::Object(stored) = row(&*cx.backend, &key).await else {
        panic!("the race left no inline row");
    };
    assert_eq!(stored.etag.as_deref(), Some(winner.as_str()));

    let winners = race_inline(&handles, &key, etag_is(&winner), 101..=116, &m).await;
    assert_eq!(winners.len(), 1, "If-Match winners {winners:?}");
    let TieredMetadata::Object(stored) = row(&*cx.backend, &key).await else {
        panic!("the race left no inline row");
    };
    assert_eq!(stored.etag, Some(format!("{:032x}", winners[0])));

    // From a tombstone: the precondition and the revision together.
    let key = id("cond/race-tomb");
    let t: Tombstone = tombstone("cond/race-tomb/0", &tagged(&m, "aa"));
    assert!(
        cx.backend
            .compare_and_write(
                &key,
                &Expected::revision(None),
                TieredWrite::Tombstone(t.clone())
            )
            .await
            .expect("compare_and_write failed")
    );
    let tasks: Vec<_> = (1..=8)
        .map(|i| {
            let b = Arc::clone(&cx.backend);
            let (key, target) = (key.clone(), t.target.clone());
            let next = tombstone(&format!("cond/race-tomb/{i}"), &tagged(&m, "bb"));
            tokio::spawn(async move {
                let expected = Expected::revision(Some(&target)).and(etag_is("aa"));
                b.compare_and_write(&key, &expected, TieredWrite::Tombstone(next))
                    .await
                    .expect("compare_and_write failed")
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.expect("racing task panicked"));
    }
    assert_eq!(won, 1, "tombstone If-Match winners");
}
