//! Tests of [`check`] on memory backends: every problem kind is constructed deliberately,
//! found, repaired, and a second check is clean.

use std::sync::Arc;
use std::time::Duration;

use objectstore_types::{ExpirationPolicy, Metadata, ObjectId};

use super::{CheckOptions, CheckReport, check};
use crate::backend::memory::Entry;
use crate::backend::{Backend, ChangeLog, ChangeRecord, Component, LongTermBackend, Tombstone};
use crate::clock::Clock;
use crate::conformance::{id, pattern, stamped};
use crate::stream;
use crate::tiered::{TieredConfig, TieredStorage};

const LARGE: usize = 2 * 1024 * 1024;
const HOUR: Duration = Duration::from_secs(3600);

/// The memory tiers the checked storages run on.
type Env = crate::conformance::MemoryTiers;

impl Env {
    fn tiered(&self) -> TieredStorage {
        TieredStorage::new(
            Arc::new(self.hv.clone()),
            Arc::new(self.lt.clone()),
            self.clock.clone(),
            TieredConfig {
                background: false,
                instance_id: "writer".into(),
                ..TieredConfig::default()
            },
        )
    }

    async fn run(&self, repair: bool) -> CheckReport {
        self.run_with(repair, false).await
    }

    async fn run_with(&self, repair: bool, deep: bool) -> CheckReport {
        let options = CheckOptions {
            repair,
            deep,
            page_size: 2, // exercise the paging
            ..CheckOptions::default()
        };
        check(
            Arc::new(self.hv.clone()),
            Arc::new(self.lt.clone()),
            self.clock.clone(),
            &options,
        )
        .await
        .expect("check runs")
    }

    /// A repairing check, which must leave the store clean; its report.
    async fn repaired(&self) -> CheckReport {
        let report = self.run(true).await;
        assert!(report.is_clean(), "{report:#?}");
        report
    }

    /// Writes through a tiered storage and waits for its cleanups.
    async fn put(&self, key: &str, len: usize, policy: ExpirationPolicy) -> ObjectId {
        let tiered = self.tiered();
        let id = id(key);
        let metadata = stamped(policy, self.clock.now());
        tiered
            .put(&id, &metadata, stream::single(pattern(len, 7)))
            .await
            .unwrap();
        tiered.join().await;
        id
    }

    fn target(&self, id: &ObjectId) -> ObjectId {
        self.hv.entry(id).expect_tombstone().target
    }

    /// A long-term blob of `len` pattern bytes under `revision`, written directly.
    async fn blob(&self, revision: &ObjectId, len: usize) {
        let body = stream::single(pattern(len, 1));
        let put = self.lt.put(revision, &Metadata::default(), body).await;
        put.unwrap();
    }

    /// The id of `key` and a new revision of it, stored as a 3-byte blob that no tombstone
    /// names (a large write before its commit).
    async fn uncommitted(&self, key: &str) -> (ObjectId, ObjectId) {
        let object = id(key);
        let revision = object.new_revision();
        self.blob(&revision, 3).await;
        (object, revision)
    }

    /// An operation of `owner` in flight: its lease runs for `lease` more, and its change
    /// record names the new revision `new` of `object`. The record.
    async fn in_flight(
        &self,
        owner: &str,
        lease: Duration,
        object: &ObjectId,
        new: ObjectId,
    ) -> ChangeRecord {
        let until = self.clock.now() + lease;
        self.hv.renew_lease(owner, until).await.unwrap();
        let record = ChangeRecord {
            change_id: uuid::Uuid::now_v7(),
            owner: owner.into(),
            id: object.clone(),
            old: None,
            new: Some(new),
            upload_id: None,
            not_before: None,
        };
        self.hv.append_record(&record).await.unwrap();
        record
    }
}

/// A repairing check found one due record and recovered it: the store is clean and the
/// change log empty.
#[track_caller]
fn assert_recovered_one(env: &Env, report: &CheckReport) {
    assert_eq!(report.change_log.due, 1, "{report:#?}");
    assert_eq!(report.change_log.recovered, 1);
    assert!(report.is_clean());
    assert!(env.hv.log_records().is_empty());
}

#[tokio::test]
async fn a_healthy_store_is_clean() {
    let env = Env::new();
    env.put("small", 10, ExpirationPolicy::Manual).await;
    env.put("large", LARGE, ExpirationPolicy::Manual).await;
    env.put("large2", LARGE, ExpirationPolicy::Manual).await;
    let report = env.run(false).await;
    assert_eq!((report.rows, report.tombstones, report.blobs), (3, 2, 2));
    assert_eq!(report.problems(), 0, "{report:#?}");
    assert!(report.is_clean());
    assert_eq!(report.change_log.records, 0);
}

#[tokio::test]
async fn dangling_tombstones_are_found_and_removed() {
    let env = Env::new();
    let lost = env.put("lost", LARGE, ExpirationPolicy::Manual).await;
    let kept = env.put("kept", LARGE, ExpirationPolicy::Manual).await;
    let target = env.target(&lost);
    assert!(env.lt.remove(&target));

    let report = env.run(false).await;
    assert_eq!(report.dangling_tombstones.len(), 1, "{report:#?}");
    assert_eq!(report.dangling_tombstones[0].id, lost.as_storage_path());
    assert_eq!(
        report.dangling_tombstones[0].target,
        target.as_storage_path()
    );
    assert!(!report.dangling_tombstones[0].repaired);
    assert!(!report.is_clean());
    env.hv.entry(&lost).expect_tombstone();

    let report = env.run(true).await;
    assert!(report.dangling_tombstones[0].repaired, "{report:#?}");
    assert!(report.is_clean(), "{report:#?}");
    env.hv.entry(&lost).expect_not_found();
    env.hv.entry(&kept).expect_tombstone();
    assert!(env.run(false).await.problems() == 0);
}

#[tokio::test]
async fn unreferenced_blobs_are_deleted_after_the_grace_only() {
    let env = Env::new();
    let live = env.put("live", LARGE, ExpirationPolicy::Manual).await;
    let live_target = env.target(&live);
    // A leaked revision of the same object and a foreign blob of another key.
    let leaked = live.new_revision();
    let stray = id("stray").new_revision();
    for blob in [&leaked, &stray] {
        env.blob(blob, 5).await;
    }

    let young = env.run(true).await;
    assert_eq!(young.recent_unreferenced_blobs, 2, "{young:#?}");
    assert!(young.unreferenced_blobs.is_empty());
    assert!(young.is_clean());
    assert!(env.lt.contains(&leaked) && env.lt.contains(&stray));

    env.clock.advance(HOUR + Duration::from_secs(1));
    let report = env.run(false).await;
    let mut found: Vec<_> = report
        .unreferenced_blobs
        .iter()
        .map(|b| b.id.clone())
        .collect();
    found.sort();
    let mut expected = vec![leaked.as_storage_path(), stray.as_storage_path()];
    expected.sort();
    assert_eq!(found, expected, "{report:#?}");
    assert!(
        report
            .unreferenced_blobs
            .iter()
            .all(|b| b.size == 5 && !b.repaired)
    );
    assert!(!report.is_clean());

    let report = env.repaired().await;
    assert!(
        report.unreferenced_blobs.iter().all(|b| b.repaired),
        "{report:#?}"
    );
    assert!(!env.lt.contains(&leaked) && !env.lt.contains(&stray));
    assert!(
        env.lt.contains(&live_target),
        "the referenced revision stays"
    );
    assert_eq!(env.run(false).await.problems(), 0);
}

#[tokio::test]
async fn blobs_named_by_change_records_are_not_unreferenced() {
    let env = Env::new();
    let (object, revision) = env.uncommitted("pending").await;
    // A live owner's record (an operation in flight) names the revision.
    let record = env
        .in_flight("alive", HOUR * 10, &object, revision.clone())
        .await;
    env.clock.advance(HOUR * 2);

    let report = env.run(true).await;
    assert!(report.unreferenced_blobs.is_empty(), "{report:#?}");
    assert_eq!(report.change_log.records, 1);
    assert_eq!(report.change_log.due, 0);
    assert_eq!(report.change_log.owners.len(), 1);
    assert!(report.change_log.owners[0].lease_live);
    // The record's age comes from its UUID v7 (the system clock at creation), the check's
    // time from the manual clock: within a second of the two hours advanced.
    let age = report.change_log.oldest_age_secs.expect("an age");
    assert!((2 * 3600 - 1..=2 * 3600).contains(&age), "{age}");
    assert!(report.is_clean());
    assert!(env.lt.contains(&revision));
    assert_eq!(env.hv.log_records(), vec![record]);
}

#[tokio::test]
async fn records_of_dead_owners_are_recovered() {
    let env = Env::new();
    let (object, revision) = env.uncommitted("crashed").await;
    // A crashed large write: its lease expired, the revision was never committed.
    let lease = Duration::from_secs(30);
    env.in_flight("dead", lease, &object, revision.clone())
        .await;
    env.clock.advance(Duration::from_secs(60));

    let report = env.run(false).await;
    assert_eq!(report.change_log.due, 1, "{report:#?}");
    assert_eq!(report.change_log.owners[0].owner, "dead");
    assert!(!report.change_log.owners[0].lease_live);
    assert!(!report.is_clean());
    assert!(env.lt.contains(&revision));

    let report = env.run(true).await;
    assert_eq!(report.change_log.recovered, 1, "{report:#?}");
    assert!(report.is_clean());
    assert!(
        !env.lt.contains(&revision),
        "recovery deleted the uncommitted revision"
    );
    let leases = env.hv.list_leases().await.unwrap();
    assert!(
        leases
            .iter()
            .all(|l| !l.instance.starts_with("objectstore-check-")),
        "the check released its lease: {leases:?}"
    );
    assert!(env.hv.log_records().is_empty());
    assert_eq!(env.run(false).await.problems(), 0);
}

#[tokio::test]
async fn deferred_records_wait_for_their_time() {
    let env = Env::new();
    let tiered = env.tiered();
    let object = id("upload");
    let metadata = stamped(ExpirationPolicy::Manual, env.clock.now());
    tiered.initiate_multipart(&object, &metadata).await.unwrap();
    tiered.join().await;

    let report = env.run(false).await;
    assert_eq!(
        (report.change_log.records, report.change_log.deferred),
        (1, 1)
    );
    assert_eq!(report.change_log.due, 0, "{report:#?}");
    assert!(report.is_clean());

    env.clock.advance(HOUR * 26);
    let report = env.run(true).await;
    assert_recovered_one(&env, &report);
}

#[tokio::test]
async fn expired_rows_are_swept_with_their_blobs() {
    let env = Env::new();
    let ttl = ExpirationPolicy::TimeToLive(Duration::from_secs(60));
    let small = env.put("small", 10, ttl).await;
    let large = env.put("large", LARGE, ttl).await;
    let keep = env.put("keep", 10, ExpirationPolicy::Manual).await;
    let target = env.target(&large);
    env.clock.advance(Duration::from_secs(120));

    let report = env.run(false).await;
    let mut expired: Vec<_> = report
        .expired_rows
        .iter()
        .map(|f| (f.id.clone(), f.tombstone, f.repaired))
        .collect();
    expired.sort();
    let mut want = vec![
        (large.as_storage_path(), true, false),
        (small.as_storage_path(), false, false),
    ];
    want.sort();
    assert_eq!(expired, want, "{report:#?}");
    assert!(report.expired_rows.iter().all(|f| f.expired_secs >= 59));
    assert!(!report.is_clean());

    let report = env.repaired().await;
    assert!(
        report.expired_rows.iter().all(|f| f.repaired),
        "{report:#?}"
    );
    assert_eq!(env.hv.entry(&small), Entry::NotFound);
    assert_eq!(env.hv.entry(&large), Entry::NotFound);
    assert!(
        !env.lt.contains(&target),
        "the blob went with its tombstone"
    );
    assert!(env.hv.contains(&keep));
    assert!(env.hv.log_records().is_empty());
    assert_eq!(env.run(false).await.problems(), 0);
}

#[tokio::test]
async fn exclusive_stores_treat_every_plain_record_as_due() {
    let env = Env::new();
    // A server killed a moment ago: its lease still looks live.
    let object = id("x");
    let lease = Duration::from_secs(30);
    env.in_flight("killed", lease, &object, object.new_revision())
        .await;
    let exclusive = env.hv.clone().with_exclusive(true);
    let report = check(
        Arc::new(exclusive),
        Arc::new(env.lt.clone()),
        env.clock.clone(),
        &CheckOptions {
            repair: true,
            ..CheckOptions::default()
        },
    )
    .await
    .unwrap();
    assert_recovered_one(&env, &report);
}

#[tokio::test]
async fn a_tombstone_is_not_dangling_when_rewritten_during_the_check() {
    // The candidate re-read: a tombstone whose target exists only under a new revision.
    let env = Env::new();
    let object = env.put("moving", LARGE, ExpirationPolicy::Manual).await;
    let tombstone: Tombstone = env.hv.entry(&object).expect_tombstone();
    let dangling = || super::is_dangling(&env.hv, &env.lt, &object, &tombstone.target);
    assert!(!dangling().await.unwrap());
    env.lt.remove(&tombstone.target);
    assert!(dangling().await.unwrap());
    env.hv.insert_raw(&object, Entry::NotFound);
    assert!(!dangling().await.unwrap());
    let _ = crate::backend::HighVolumeBackend::scan_rows(&env.hv, None, 1)
        .await
        .unwrap();
}

/// `--deep`: a blob whose size or bytes differ from what its tombstone records is found
/// (only by a deep check) and never repaired; healthy blobs are not reported.
#[tokio::test]
async fn deep_check_finds_corrupt_blobs_and_never_repairs_them() {
    let env = Env::new();
    let flipped = env.put("flipped", LARGE, ExpirationPolicy::Manual).await;
    let short = env.put("short", LARGE, ExpirationPolicy::Manual).await;
    let healthy = env.put("healthy", LARGE, ExpirationPolicy::Manual).await;
    env.put("inline", 10, ExpirationPolicy::Manual).await;
    // The store changes its bytes behind the engine's back.
    for (object, bytes) in [
        (&flipped, pattern(LARGE, 8)),
        (&short, pattern(LARGE - 1, 7)),
    ] {
        let target = env.target(object);
        let (mut metadata, _) = env.lt.entry(&target).expect_object();
        metadata.size = Some(bytes.len() as u64);
        env.lt
            .insert_raw(&target, Entry::Object(metadata, bytes.into()));
    }

    let shallow = env.run(false).await;
    assert!(shallow.corrupt_objects.is_empty() && !shallow.deep);
    assert!(shallow.is_clean(), "{shallow:#?}");

    let report = env.run_with(true, true).await;
    assert!(report.deep);
    let mut found: Vec<(&str, &str)> = report
        .corrupt_objects
        .iter()
        .map(|c| (c.id.as_str(), c.problem.split(':').next().unwrap_or("")))
        .collect();
    found.sort_unstable();
    let (flipped_path, short_path) = (flipped.as_storage_path(), short.as_storage_path());
    let mut want = vec![
        (flipped_path.as_str(), "md5"),
        (short_path.as_str(), "size"),
    ];
    want.sort_unstable();
    assert_eq!(found, want, "{report:#?}");
    assert_eq!(report.problems(), 2);
    assert!(
        !report.is_clean(),
        "corrupt objects are problems left unrepaired"
    );
    // The repair touched neither the tombstones nor the blobs.
    for object in [&flipped, &short, &healthy] {
        let target = env.target(object);
        env.lt.entry(&target).expect_object();
    }
    assert_eq!(env.run_with(false, true).await.corrupt_objects.len(), 2);
}
