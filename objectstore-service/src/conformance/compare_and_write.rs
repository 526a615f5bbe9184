//! Checks of [`HighVolumeBackend::compare_and_write`]: writes apply on the matching
//! revision, stale preconditions change nothing, retries of applied writes succeed without
//! writing, and a race has exactly one winner.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use objectstore_types::{ExpirationPolicy, Metadata, ObjectId};

use super::high_volume::{cas, row, tombstone};
use super::{Ctx, id, stamped, winners, with_size};
use crate::backend::Expected;
use crate::backend::{HighVolumeBackend, TieredMetadata, TieredWrite};

/// Each kind of write applies when the precondition names the row's current revision.
pub async fn compare_and_write_applies_on_matching_revision(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    let key = id("cas/apply");
    let t1 = tombstone("cas/apply/1", &m);
    assert!(
        cas(b, &key, None, TieredWrite::Tombstone(t1.clone())).await,
        "absent -> tombstone"
    );
    assert_eq!(row(b, &key).await, TieredMetadata::Tombstone(t1));
    let t2 = tombstone("cas/apply/2", &m);
    assert!(
        cas(
            b,
            &key,
            Some("cas/apply/1"),
            TieredWrite::Tombstone(t2.clone())
        )
        .await,
        "new revision"
    );
    assert_eq!(row(b, &key).await, TieredMetadata::Tombstone(t2));
    // Same revision, new metadata (a TTI bump or an extension of a large object).
    let m2 = Metadata {
        content_type: "video/mp4".into(),
        ..m.clone()
    };
    let t2b = tombstone("cas/apply/2", &m2);
    assert!(
        cas(
            b,
            &key,
            Some("cas/apply/2"),
            TieredWrite::Tombstone(t2b.clone())
        )
        .await
    );
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Tombstone(t2b),
        "metadata of the revision not updated"
    );
    // Tombstone -> inline; size is set by the backend.
    assert!(
        cas(
            b,
            &key,
            Some("cas/apply/2"),
            TieredWrite::Object(m.clone(), Bytes::from_static(b"abc"))
        )
        .await
    );
    assert_eq!(row(b, &key).await, TieredMetadata::Object(with_size(&m, 3)));
    // Inline (precondition None) -> tombstone -> delete.
    let t3 = tombstone("cas/apply/3", &m);
    assert!(
        cas(b, &key, None, TieredWrite::Tombstone(t3)).await,
        "inline -> tombstone"
    );
    assert!(cas(b, &key, Some("cas/apply/3"), TieredWrite::Delete).await);
    assert_eq!(row(b, &key).await, TieredMetadata::NotFound);
    // Inline -> delete.
    b.put(&key, &m, Bytes::from_static(b"x"))
        .await
        .expect("put failed");
    assert!(
        cas(b, &key, None, TieredWrite::Delete).await,
        "inline -> delete"
    );
    assert_eq!(row(b, &key).await, TieredMetadata::NotFound);
    // An expired tombstone can be swapped.
    let key = id("cas/apply-expired");
    let t = tombstone(
        "cas/apply-expired/1",
        &stamped(
            ExpirationPolicy::TimeToLive(Duration::from_secs(1)),
            cx.now(),
        ),
    );
    assert!(cas(b, &key, None, TieredWrite::Tombstone(t)).await);
    cx.advance(Duration::from_secs(60));
    let fresh = stamped(ExpirationPolicy::Manual, cx.now());
    assert!(
        cas(
            b,
            &key,
            Some("cas/apply-expired/1"),
            TieredWrite::Object(fresh.clone(), Bytes::from_static(b"new"))
        )
        .await
    );
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Object(with_size(&fresh, 3))
    );
}

/// A precondition that does not match the row fails and changes nothing (a lost race).
pub async fn compare_and_write_rejects_stale_revisions(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    let key = id("cas/stale");
    let t2 = tombstone("cas/stale/2", &m);
    assert!(cas(b, &key, None, TieredWrite::Tombstone(t2.clone())).await);
    let t3 = tombstone("cas/stale/3", &m);
    let object = TieredWrite::Object(m.clone(), Bytes::from_static(b"x"));
    for (current, write) in [
        (Some("cas/stale/1"), TieredWrite::Tombstone(t3.clone())),
        (None, TieredWrite::Tombstone(t3.clone())),
        (Some("cas/stale/1"), object.clone()),
        (None, object.clone()),
        (Some("cas/stale/1"), TieredWrite::Delete),
        (None, TieredWrite::Delete),
    ] {
        assert!(
            !cas(b, &key, current, write.clone()).await,
            "{current:?} over tombstone 2: {write:?}"
        );
        assert_eq!(
            row(b, &key).await,
            TieredMetadata::Tombstone(t2.clone()),
            "a failed CAS changed the row"
        );
    }
    let absent = id("cas/stale-absent");
    for write in [TieredWrite::Tombstone(t3.clone()), object.clone()] {
        assert!(!cas(b, &absent, Some("cas/stale/1"), write).await);
        assert_eq!(row(b, &absent).await, TieredMetadata::NotFound);
    }
    let inline = id("cas/stale-inline");
    b.put(&inline, &m, Bytes::from_static(b"keep"))
        .await
        .expect("put failed");
    for write in [TieredWrite::Tombstone(t3), TieredWrite::Delete] {
        assert!(!cas(b, &inline, Some("cas/stale/1"), write).await);
        assert_eq!(
            row(b, &inline).await,
            TieredMetadata::Object(with_size(&m, 4))
        );
    }
}

/// A retried write that already took effect reports success without writing again.
pub async fn compare_and_write_is_idempotent(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    let key = id("cas/idem");
    let t2 = tombstone("cas/idem/2", &m);
    assert!(
        !cas(
            b,
            &key,
            Some("cas/idem/1"),
            TieredWrite::Tombstone(t2.clone())
        )
        .await
    );
    assert!(cas(b, &key, None, TieredWrite::Tombstone(t2.clone())).await);
    // Retry of "1 -> 2" after the lost response: same target, reported as done, not rewritten.
    let other = Metadata {
        content_type: "text/other".into(),
        ..m.clone()
    };
    let retry = tombstone("cas/idem/2", &other);
    assert!(
        cas(b, &key, Some("cas/idem/1"), TieredWrite::Tombstone(retry)).await,
        "retried tombstone write"
    );
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Tombstone(t2),
        "an idempotent retry wrote"
    );
    // Retry of a delete.
    assert!(cas(b, &key, Some("cas/idem/2"), TieredWrite::Delete).await);
    assert!(
        cas(b, &key, Some("cas/idem/2"), TieredWrite::Delete).await,
        "retried delete"
    );
    // Retry of an inline write.
    let t3 = tombstone("cas/idem/3", &m);
    assert!(cas(b, &key, None, TieredWrite::Tombstone(t3)).await);
    assert!(
        cas(
            b,
            &key,
            Some("cas/idem/3"),
            TieredWrite::Object(m.clone(), Bytes::from_static(b"a"))
        )
        .await
    );
    assert!(
        cas(
            b,
            &key,
            Some("cas/idem/3"),
            TieredWrite::Object(m.clone(), Bytes::from_static(b"bb"))
        )
        .await,
        "retried inline write"
    );
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Object(with_size(&m, 1)),
        "an idempotent retry wrote"
    );
}

/// Many writers swap the same revision at once: exactly one wins and the row holds its
/// tombstone.
pub async fn compare_and_write_race_has_one_winner(cx: &Ctx<dyn HighVolumeBackend>) {
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    let handles = [Arc::clone(&cx.backend)];
    for start in [None, Some("race/0")] {
        let key = id(&format!("race/{}", start.is_some()));
        if let Some(rev) = start {
            assert!(
                cas(
                    &*cx.backend,
                    &key,
                    None,
                    TieredWrite::Tombstone(tombstone(rev, &m))
                )
                .await
            );
        }
        let winners = race(&handles, &key, start, "race", 16, &m).await;
        assert_eq!(winners.len(), 1, "from {start:?}: winners {winners:?}");
        let want = tombstone(&format!("race/{}", winners[0]), &m);
        assert_eq!(
            row(&*cx.backend, &key).await,
            TieredMetadata::Tombstone(want),
            "the row does not hold the winner's write"
        );
    }
}

/// Races `racers` compare-and-writes on `key`, racer `i` (from 1) writing a tombstone of
/// revision `{prefix}/{i}` with `metadata` through `handles[i % handles.len()]`, all from
/// the revision `start` (`None`: the row is no tombstone). Returns the racers that won.
pub async fn race(
    handles: &[Arc<dyn HighVolumeBackend>],
    key: &ObjectId,
    start: Option<&str>,
    prefix: &str,
    racers: usize,
    metadata: &Metadata,
) -> Vec<usize> {
    let start = start.map(id);
    let tasks: Vec<_> = (1..=racers)
        .map(|i| {
            let b = Arc::clone(&handles[i % handles.len()]);
            let (key, start) = (key.clone(), start.clone());
            let t = tombstone(&format!("{prefix}/{i}"), metadata);
            tokio::spawn(async move {
                let won = b
                    .compare_and_write(
                        &key,
                        &Expected::revision(start.as_ref()),
                        TieredWrite::Tombstone(t),
                    )
                    .await
                    .expect("compare_and_write failed");
                (i, won)
            })
        })
        .collect();
    winners(tasks).await
}
