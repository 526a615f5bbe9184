//! Tests of the embedded backend: persistence, locking, atomicity of conditional writes,
//! expiry, TTI and the change log. In `tests/`: the SIGKILL crash tests (`durability`), the
//! group commit's savepoints (`writer`), the shared conformance suites (`conformance`), the
//! value log (`vlog`) and its crash matrix (`vlog_crash`).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use objectstore_types::{ExpirationPolicy, Metadata, ObjectContext, ObjectId, ObjectKey};
use objectstore_types::{Scopes, Usecase, range::ByteRange, time};

use super::*;
use crate::backend::Expected;
use crate::backend::{
    ChangeLog, ChangeRecord, Claim, ExpiryTarget, ExtendOutcome, GetResponse, HighVolumeBackend,
    TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::clock::{Clock, ManualClock, system};
use crate::stream;

mod conformance;
#[cfg(unix)]
mod durability;
mod vlog;
mod vlog_crash;
mod writer;

fn id(key: &str) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("test").unwrap(),
            scopes: Scopes::parse("org=1").unwrap(),
        },
        ObjectKey::new(key).unwrap(),
    )
}

fn metadata(policy: ExpirationPolicy, now: SystemTime) -> Metadata {
    let mut m = Metadata {
        expiration_policy: policy,
        ..Metadata::default()
    };
    m.stamp(now);
    m
}

fn tombstone(key: &str, target: &str) -> Tombstone {
    let mut m = metadata(ExpirationPolicy::Manual, SystemTime::now());
    m.size = Some(5_000_000);
    Tombstone {
        target: id(&format!("{key}/{target}")),
        metadata: m,
    }
}

async fn put(b: &EmbeddedBackend, key: &str, m: &Metadata, bytes: &'static [u8]) {
    b.put(&id(key), m, Bytes::from_static(bytes)).await.unwrap();
}

async fn body(r: GetResponse) -> (Metadata, Vec<u8>) {
    match r {
        GetResponse::Found { metadata, body, .. } => {
            (metadata, stream::read_to_vec(body).await.unwrap())
        }
        other => panic!("expected an object, got {other:?}"),
    }
}

#[tokio::test]
async fn data_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let m = metadata(ExpirationPolicy::Manual, SystemTime::now());
    let record = ChangeRecord {
        change_id: uuid::Uuid::now_v7(),
        owner: "a".into(),
        id: id("big"),
        old: None,
        new: Some(id("big/rev")),
        upload_id: None,
        not_before: None,
    };
    {
        let b = EmbeddedBackend::open(dir.path(), system()).unwrap();
        put(&b, "small", &m, b"hello").await;
        let t = tombstone("big", "rev");
        assert!(
            b.compare_and_write(
                &id("big"),
                &Expected::revision(None),
                TieredWrite::Tombstone(t)
            )
            .await
            .unwrap()
        );
        b.append_record(&record).await.unwrap();
        b.join().await;
    }
    let b = EmbeddedBackend::open(dir.path(), system()).unwrap();
    let (got, bytes) = body(b.get(&id("small"), None).await.unwrap().into_object()).await;
    assert_eq!(bytes, b"hello");
    assert_eq!(got.size, Some(5));
    assert_eq!(Metadata { size: None, ..got }, m);
    match b.head(&id("big")).await.unwrap() {
        TieredMetadata::Tombstone(t) => assert_eq!(t.target, id("big/rev")),
        other => panic!("expected the tombstone, got {other:?}"),
    }
    assert_eq!(b.get_record(&record.change_id).await.unwrap(), Some(record));
    assert_eq!(b.count_records().await.unwrap(), 1);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedBackend::open(dir.path(), system()).unwrap();
    assert!(first.is_exclusive());
    let err = EmbeddedBackend::open(dir.path(), system()).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("another process"), "{chain}");
    assert!(chain.contains("is locked"), "{chain}");
    // Dropping the last handle stops the writer and releases the lock.
    drop(first);
    EmbeddedBackend::open(dir.path(), system()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_compare_and_write_has_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open(dir.path(), system()).unwrap();
    let mut current: Option<ObjectId> = None;
    for round in 0..3 {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let b = b.clone();
                let current = current.clone();
                let t = tombstone("race", &format!("r{round}-{i}"));
                tokio::spawn(async move {
                    let won = b
                        .compare_and_write(
                            &id("race"),
                            &Expected::revision(current.as_ref()),
                            TieredWrite::Tombstone(t.clone()),
                        )
                        .await
                        .unwrap();
                    won.then_some(t.target)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            winners.extend(task.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        match b.get(&id("race"), None).await.unwrap() {
            TieredGet::Tombstone(t) => assert_eq!(t.target, winners[0]),
            _ => panic!("expected a tombstone"),
        }
        current = winners.pop();
    }
}

#[tokio::test]
async fn compare_and_write_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open(dir.path(), system()).unwrap();
    let key = id("k");
    let t1 = tombstone("k", "one");
    let write = TieredWrite::Tombstone(t1.clone());
    assert!(
        b.compare_and_write(&key, &Expected::revision(None), write.clone())
            .await
            .unwrap()
    );
    // A retry whose precondition no longer holds, but whose write is in place: success.
    assert!(
        b.compare_and_write(&key, &Expected::revision(None), write)
            .await
            .unwrap()
    );
    // A different target with a stale precondition: a lost race.
    let t2 = tombstone("k", "two");
    assert!(
        !b.compare_and_write(&key, &Expected::revision(None), TieredWrite::Tombstone(t2))
            .await
            .unwrap()
    );
    // Tombstones block the non-tombstone primitives and are returned.
    let m = metadata(ExpirationPolicy::Manual, SystemTime::now());
    let got = b.put(&key, &m, Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(got, Some(t1.clone()));
    assert_eq!(b.delete(&key).await.unwrap(), Some(t1.clone()));
    // Tombstone -> inline, then a retried inline write reports success.
    let inline = TieredWrite::Object(m.clone(), Bytes::from_static(b"inline"));
    assert!(
        b.compare_and_write(&key, &Expected::revision(Some(&t1.target)), inline.clone())
            .await
            .unwrap()
    );
    assert!(
        b.compare_and_write(&key, &Expected::revision(Some(&t1.target)), inline)
            .await
            .unwrap()
    );
    let (got, bytes) = body(b.get(&key, None).await.unwrap().into_object()).await;
    assert_eq!((got.size, bytes.as_slice()), (Some(6), &b"inline"[..]));
    // Inline rows are not protected: put/delete act on them.
    assert_eq!(
        b.put(&key, &m, Bytes::from_static(b"y")).await.unwrap(),
        None
    );
    assert_eq!(b.delete(&key).await.unwrap(), None);
    assert!(matches!(
        b.get(&key, None).await.unwrap(),
        TieredGet::NotFound
    ));
    // Delete of a missing row is already done.
    assert!(
        b.compare_and_write(
            &key,
            &Expected::revision(Some(&t1.target)),
            TieredWrite::Delete
        )
        .await
        .unwrap()
    );
}

#[tokio::test]
async fn ranges_slice_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open(dir.path(), system()).unwrap();
    let m = metadata(ExpirationPolicy::Manual, SystemTime::now());
    put(&b, "r", &m, b"0123456789").await;
    match b
        .get(&id("r"), Some(ByteRange::Bounded(2, 4)))
        .await
        .unwrap()
        .into_object()
    {
        GetResponse::Found { range, body, .. } => {
            assert_eq!(range.map(|r| (r.start, r.end, r.total)), Some((2, 4, 10)));
            assert_eq!(stream::read_to_vec(body).await.unwrap(), b"234");
        }
        other => panic!("{other:?}"),
    }
    let (_, tail) = body(
        b.get(&id("r"), Some(ByteRange::Suffix(3)))
            .await
            .unwrap()
            .into_object(),
    )
    .await;
    assert_eq!(tail, b"789");
    match b
        .get(&id("r"), Some(ByteRange::From(10)))
        .await
        .unwrap()
        .into_object()
    {
        GetResponse::RangeNotSatisfiable(m) => assert_eq!(m.size, Some(10)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn put_bounds_memory_and_keeps_the_old_object_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open(dir.path(), system()).unwrap();
    let m = metadata(ExpirationPolicy::Manual, SystemTime::now());
    put(&b, "k", &m, b"old").await;
    let huge = Bytes::from(vec![7u8; 3 * 1024 * 1024]);
    let err = b.put(&id("k"), &m, huge).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge(_)), "{err:?}");
    // Bodies reach the engine through the tiered layer, which reads them first.
    let failing = futures::stream::iter([
        Ok(Bytes::from_static(b"new")),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    let same = |_| std::future::ready(b.clone());
    let tiered = crate::conformance::tiered_over(&same)(system()).await;
    let err = crate::backend::Backend::put(&tiered, &id("k"), &m, failing)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ClientStream(_)), "{err:?}");
    assert_eq!(
        body(b.get(&id("k"), None).await.unwrap().into_object())
            .await
            .1,
        b"old"
    );
    b.delete(&id("k")).await.unwrap();
    b.delete(&id("k")).await.unwrap();
    assert!(b.head(&id("k")).await.unwrap().into_object().is_none());
}

#[tokio::test]
async fn expiry_hides_scans_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let b = EmbeddedBackend::open(dir.path(), clock.clone()).unwrap();
    let start = clock.now();
    let ttl = |s| metadata(ExpirationPolicy::TimeToLive(Duration::from_secs(s)), start);
    put(&b, "a", &ttl(10), b"a").await;
    put(&b, "b", &ttl(20), b"b").await;
    put(&b, "keep", &ttl(1000), b"k").await;
    let mut t = tombstone("t", "rev");
    t.metadata = ttl(10);
    b.compare_and_write(
        &id("t"),
        &Expected::revision(None),
        TieredWrite::Tombstone(t.clone()),
    )
    .await
    .unwrap();

    clock.advance(Duration::from_secs(30));
    let now = clock.now();
    assert!(matches!(
        b.get(&id("a"), None).await.unwrap().into_object(),
        GetResponse::NotFound
    ));
    assert!(b.head(&id("b")).await.unwrap().into_object().is_none());
    assert!(matches!(
        b.get(&id("a"), None).await.unwrap(),
        TieredGet::NotFound
    ));
    // Expired tombstones are still returned by the tiered primitives.
    assert!(matches!(
        b.head(&id("t")).await.unwrap(),
        TieredMetadata::Tombstone(_)
    ));

    let first = b.scan_expired(now, None, 2).await.unwrap();
    let names: Vec<_> = first
        .iter()
        .map(|r| r.id.key().as_str().to_owned())
        .collect();
    assert_eq!(names, ["a", "t"]);
    assert_eq!(first[1].tombstone, Some(t.clone()));
    assert_eq!(first[0].expires, ttl(10).time_expires.unwrap());
    let cursor = (first[1].expires, first[1].id.as_storage_path());
    let rest = b.scan_expired(now, Some(&cursor), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        [id("b")]
    );

    assert_eq!(b.delete_if_expired(&id("t"), now).await.unwrap(), Some(t));
    assert_eq!(b.delete_if_expired(&id("a"), now).await.unwrap(), None);
    assert_eq!(b.delete_if_expired(&id("keep"), now).await.unwrap(), None);
    assert!(b.head(&id("keep")).await.unwrap().into_object().is_some());
    let left = b.scan_expired(now, None, 10).await.unwrap();
    assert_eq!(
        left.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        [id("b")]
    );
}

#[tokio::test]
async fn tti_reads_bump_the_deadline_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let b = EmbeddedBackend::open(dir.path(), clock.clone()).unwrap();
    let mut m = metadata(
        ExpirationPolicy::TimeToIdle(Duration::from_secs(400)),
        clock.now(),
    );
    m.size = Some(1);
    put(&b, "k", &m, b"x").await;
    clock.advance(Duration::from_secs(50));
    // Within the debounce: no bump.
    assert_eq!(
        b.head(&id("k")).await.unwrap().into_object(),
        Some(m.clone())
    );
    clock.advance(Duration::from_secs(100));
    // Due: the response shows the deadline before the access.
    let (seen, _) = body(b.get(&id("k"), None).await.unwrap().into_object()).await;
    assert_eq!(seen, m);
    // The next read sees the bump at once, whether it is committed or still pending.
    let expected = time::ceil_to_second(clock.now()) + Duration::from_secs(400);
    let next = b.head(&id("k")).await.unwrap().into_object().unwrap();
    assert_eq!(next.time_expires, Some(expected));
    // A bump never shows through on a replaced object.
    let tti = ExpirationPolicy::TimeToIdle(Duration::from_secs(1000));
    let mut replaced = metadata(tti, clock.now());
    replaced.size = Some(1);
    put(&b, "k", &replaced, b"y").await;
    assert_eq!(
        b.head(&id("k")).await.unwrap().into_object(),
        Some(replaced.clone())
    );
    // `join` runs every queued job, including a bump, before stopping the writer.
    clock.advance(Duration::from_secs(300));
    assert_eq!(
        b.head(&id("k")).await.unwrap().into_object(),
        Some(replaced)
    );
    b.join().await;
    // After join, writes fail cleanly.
    let err = b.delete(&id("k")).await.unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    drop(b);
    let b = EmbeddedBackend::open(dir.path(), clock.clone()).unwrap();
    let stored = b.head(&id("k")).await.unwrap().into_object().unwrap();
    let expected = time::ceil_to_second(clock.now()) + Duration::from_secs(1000);
    assert_eq!(stored.time_expires, Some(expected));
}

#[tokio::test]
async fn extend_expiry_follows_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let b = EmbeddedBackend::open(dir.path(), clock.clone()).unwrap();
    const DAY: Duration = Duration::from_secs(86_400);
    let m = metadata(ExpirationPolicy::TimeToLive(DAY), clock.now());
    put(&b, "k", &m, b"payload").await;
    let now = clock.now();
    let key = id("k");
    let extend = |t| b.extend_expiry(&key, t, now);
    assert_eq!(
        extend(ExpiryTarget::AfterCreation(3 * DAY)).await.unwrap(),
        ExtendOutcome::Satisfied
    );
    let after = b.head(&id("k")).await.unwrap().into_object().unwrap();
    assert_eq!(after.time_expires, Some(m.time_created.unwrap() + 3 * DAY));
    assert_eq!(
        after.expiration_policy,
        ExpirationPolicy::TimeToLive(3 * DAY)
    );
    assert_eq!(
        extend(ExpiryTarget::AfterCreation(2 * DAY)).await.unwrap(),
        ExtendOutcome::Satisfied
    );
    assert_eq!(
        b.head(&id("k")).await.unwrap().into_object().unwrap(),
        after
    );
    assert_eq!(
        body(b.get(&id("k"), None).await.unwrap().into_object())
            .await
            .1,
        b"payload"
    );
    // The deadline column follows: the object outlives its original TTL.
    clock.advance(2 * DAY);
    assert!(b.head(&id("k")).await.unwrap().into_object().is_some());
    assert!(
        b.scan_expired(clock.now(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let manual = metadata(ExpirationPolicy::Manual, clock.now());
    put(&b, "manual", &manual, b"m").await;
    let now = clock.now();
    let target = ExpiryTarget::AfterNow(DAY);
    assert_eq!(
        b.extend_expiry(&id("manual"), target, now).await.unwrap(),
        ExtendOutcome::Rejected
    );
    assert_eq!(
        b.extend_expiry(&id("none"), target, now).await.unwrap(),
        ExtendOutcome::NotFound
    );
}

#[tokio::test]
async fn change_log_claims_respect_leases_and_deferral() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let b = EmbeddedBackend::open(dir.path(), clock.clone()).unwrap();
    let now = clock.now();
    let record = |owner: &str, not_before: Option<SystemTime>| ChangeRecord {
        change_id: uuid::Uuid::now_v7(),
        owner: owner.into(),
        id: id("k"),
        old: Some(id("k/old")),
        new: Some(id("k/new")),
        upload_id: None,
        not_before,
    };
    let live = record("a", None);
    let dead = record("b", None);
    let deferred = record("a", Some(now + Duration::from_secs(60)));
    for r in [&live, &dead, &deferred] {
        b.append_record(r).await.unwrap();
    }
    b.renew_lease("a", now + Duration::from_secs(30))
        .await
        .unwrap();
    b.renew_lease("b", now - Duration::from_secs(1))
        .await
        .unwrap();
    b.renew_lease("c", now + Duration::from_secs(30))
        .await
        .unwrap();

    // Only b's record is due: a's lease is live, the deferred one waits.
    let claimed = b
        .claim_records(&Claim::new("c", now, false, 10))
        .await
        .unwrap();
    let expected = ChangeRecord {
        owner: "c".into(),
        ..dead.clone()
    };
    assert_eq!(claimed, std::slice::from_ref(&expected));
    assert_eq!(b.get_record(&dead.change_id).await.unwrap(), Some(expected));
    // c's lease is live: nobody else gets it, and nothing else is due.
    assert!(
        b.claim_records(&Claim::new("d", now, false, 10))
            .await
            .unwrap()
            .is_empty()
    );

    // After 60 s a's lease expired and the deferral passed.
    let later = now + Duration::from_secs(61);
    b.renew_lease("c", later + Duration::from_secs(30))
        .await
        .unwrap();
    let claimed = b
        .claim_records(&Claim::new("d", later, false, 1))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let claimed = [
        claimed,
        b.claim_records(&Claim::new("d", later, false, 10))
            .await
            .unwrap(),
    ]
    .concat();
    let mut ids: Vec<_> = claimed.iter().map(|r| r.change_id).collect();
    let mut expected = vec![live.change_id, deferred.change_id];
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(claimed.iter().all(|r| r.owner == "d"));
    // A claimed deferred record is protected by its claimant's lease like any other.
    b.renew_lease("d", later + Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        b.claim_records(&Claim::new("e", later, false, 10))
            .await
            .unwrap()
            .is_empty()
    );
    // ignore_leases takes over everything owned by others.
    assert_eq!(
        b.claim_records(&Claim::new("e", later, true, 10))
            .await
            .unwrap()
            .len(),
        3
    );
    // Releasing a lease makes its records due at once.
    b.release_lease("e").await.unwrap();
    assert_eq!(
        b.claim_records(&Claim::new("f", later, false, 10))
            .await
            .unwrap()
            .len(),
        3
    );

    b.remove_record(&live.change_id).await.unwrap();
    b.remove_record(&live.change_id).await.unwrap();
    assert_eq!(b.count_records().await.unwrap(), 2);
    assert_eq!(b.get_record(&live.change_id).await.unwrap(), None);
}
