//! Checks for shared stores: one high-volume store that several instances (server
//! processes) use at once, each through its own handle (PostgreSQL tables, a Bigtable
//! table; two clones of one memory store stand in for them in the reference run).
//!
//! What must hold across handles exactly as within one: of racing compare-and-writes on
//! one row exactly one wins, whichever handle each came through, and the row holds its
//! write; claimants on different handles never get the same change record, and every due
//! record is claimed by someone.
//!
//! The factory hands out two handles on one fresh store, both reading the given clock;
//! each handle is wrapped in the metering decorator, as in the other suites.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use objectstore_types::Metadata;

use super::change_log::record;
use super::compare_and_write::race;
use super::high_volume::tombstone;
use super::{id, metered, run};
use crate::backend::{
    ChangeRecord, Claim, HighVolumeBackend, HighVolumeStore, TieredMetadata, TieredWrite,
};
use crate::clock::{Clock, ManualClock, SharedClock};

/// What a shared-store check works with: two handles on one store and their clock.
pub struct Instances {
    /// The handles, as two instances would hold them.
    pub handles: [Arc<dyn HighVolumeStore>; 2],
    /// The clock both handles read.
    pub clock: Arc<ManualClock>,
}

impl Instances {
    /// The clock's current time.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }
}

/// Runs every shared-store check, each on a fresh store.
pub async fn shared_store_suite<B, F, Fut>(make: &F)
where
    B: HighVolumeStore,
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = [B; 2]>,
{
    macro_rules! checks {
        ($($check:ident),* $(,)?) => {$({
            let clock = ManualClock::new();
            let [a, b] = make(Arc::clone(&clock) as SharedClock).await;
            let handles: [Arc<dyn HighVolumeStore>; 2] = [metered(a), metered(b)];
            let cx = Instances { handles, clock };
            run(stringify!($check), $check(&cx)).await;
            for handle in &cx.handles {
                handle.join().await;
            }
        })*};
    }
    checks!(
        cas_racers_on_two_instances_have_one_winner,
        claimants_on_two_instances_never_share_a_record,
    );
}

/// Twelve compare-and-writes race on one row through both handles, from an absent row and
/// from a tombstone: exactly one wins each round, and the row holds its write.
pub async fn cas_racers_on_two_instances_have_one_winner(cx: &Instances) {
    let instances = &cx.handles;
    let handles: Vec<Arc<dyn HighVolumeBackend>> =
        instances.iter().map(|h| Arc::clone(h) as _).collect();
    let manual = Metadata::default();
    for round in 0..10 {
        let key = id(&format!("race/{round}"));
        // Odd rounds race from a tombstone, even rounds from an absent row.
        let start = (round % 2 == 1).then(|| format!("race/{round}/start"));
        if let Some(start) = &start {
            let t = tombstone(start, &manual);
            assert!(
                instances[0]
                    .compare_and_write(&key, None, TieredWrite::Tombstone(t))
                    .await
                    .expect("compare_and_write failed")
            );
        }
        let prefix = format!("race/{round}");
        let winners = race(&handles, &key, start.as_deref(), &prefix, 12, &manual).await;
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let stored = instances[1].head(&key).await.expect("head failed");
        let winner = tombstone(&format!("race/{round}/{}", winners[0]), &manual);
        assert_eq!(
            stored,
            TieredMetadata::Tombstone(winner),
            "round {round}: the row does not hold the winner's write"
        );
    }
}

/// Six claimants (three per handle, each with a live lease) drain 120 records of a dead
/// owner: every record is claimed exactly once, and stored with its claimant as owner.
pub async fn claimants_on_two_instances_never_share_a_record(cx: &Instances) {
    let instances = &cx.handles;
    let now = cx.now();
    let records: Vec<ChangeRecord> = (0..120)
        .map(|i| record("dead", &format!("claim/{i}"), None))
        .collect();
    for r in &records {
        instances[0]
            .append_record(r)
            .await
            .expect("append_record failed");
    }
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let backend = Arc::clone(&instances[i % 2]);
            tokio::spawn(async move {
                let me = format!("claimant-{i}");
                backend
                    .renew_lease(&me, now + Duration::from_secs(600))
                    .await
                    .expect("renew_lease failed");
                let mut mine = Vec::new();
                loop {
                    let got = (backend.claim_records(&Claim::new(&me, now, false, 4)).await)
                        .expect("claim_records failed");
                    if got.is_empty() {
                        break mine;
                    }
                    assert!(got.iter().all(|r| r.owner == me && r.not_before.is_none()));
                    mine.extend(got);
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a claimant panicked"));
    }
    let mut ids: Vec<_> = all.iter().map(|r| r.change_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        all.len(),
        records.len(),
        "records handed out more than once"
    );
    assert_eq!(ids.len(), records.len(), "not every record was claimed");
    for r in &all {
        let stored = (instances[1].get_record(&r.change_id).await)
            .expect("get_record failed")
            .expect("a claimed record is gone");
        assert_eq!(
            stored.owner, r.owner,
            "stored owner differs from the claimant"
        );
    }
    assert_eq!(
        instances[0]
            .count_records()
            .await
            .expect("count_records failed"),
        records.len() as u64
    );
}
