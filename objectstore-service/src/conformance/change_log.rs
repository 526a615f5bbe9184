//! Checks of the change log and instance leases of [`HighVolumeBackend`]: storage of
//! records, and the claim rules of [`HighVolumeBackend::log_claim`] (owners, leases,
//! deferral, `ignore_leases`, limits, concurrent claimants).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Ctx, id};
use crate::backend::{ChangeRecord, HighVolumeBackend};

/// A change record with every field set.
pub fn record(owner: &str, key: &str, not_before: Option<SystemTime>) -> ChangeRecord {
    let change_id = uuid::Uuid::now_v7();
    ChangeRecord {
        change_id,
        owner: owner.into(),
        id: id(key),
        old: Some(id(&format!("{key}/old"))),
        new: Some(id(&format!("{key}/{change_id}"))),
        upload_id: Some(format!("upload-{change_id}")),
        not_before,
    }
}

fn ids(records: &[ChangeRecord]) -> BTreeSet<uuid::Uuid> {
    records.iter().map(|r| r.change_id).collect()
}

async fn claim(
    b: &dyn HighVolumeBackend,
    who: &str,
    now: SystemTime,
    ignore: bool,
) -> Vec<ChangeRecord> {
    b.log_claim(who, now, ignore, 100)
        .await
        .expect("log_claim failed")
}

/// Records are stored, read, counted and removed; removing a missing record succeeds.
pub async fn change_log_append_get_remove_len(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    assert_eq!(b.log_len().await.expect("log_len failed"), 0);
    let records = [
        record("a", "log/1", None),
        record("b", "log/2", Some(cx.now() + Duration::from_secs(60))),
        ChangeRecord {
            old: None,
            new: None,
            upload_id: None,
            ..record("a", "log/3", None)
        },
    ];
    for r in &records {
        b.log_append(r).await.expect("log_append failed");
    }
    assert_eq!(b.log_len().await.expect("log_len failed"), 3);
    for r in &records {
        assert_eq!(
            b.log_get(&r.change_id)
                .await
                .expect("log_get failed")
                .as_ref(),
            Some(r),
            "record changed in storage"
        );
    }
    b.log_remove(&records[1].change_id)
        .await
        .expect("log_remove failed");
    assert_eq!(
        b.log_get(&records[1].change_id)
            .await
            .expect("log_get failed"),
        None
    );
    assert_eq!(b.log_len().await.expect("log_len failed"), 2);
    b.log_remove(&records[1].change_id)
        .await
        .expect("removing a missing record must succeed");
    assert_eq!(
        b.log_get(&uuid::Uuid::now_v7())
            .await
            .expect("log_get failed"),
        None
    );
}

/// Without deferral, a record is claimed only from another instance whose lease expired
/// (or never existed), and then belongs to the claimant; own records are never claimed.
pub async fn log_claim_respects_owners_and_leases(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let now = cx.now();
    let lease = |who: &'static str, until: SystemTime| async move {
        b.lease_renew(who, until).await.expect("lease_renew failed");
    };
    lease("alive", now + Duration::from_secs(60)).await;
    lease("dead", now - Duration::from_secs(1)).await;
    lease("me", now + Duration::from_secs(60)).await;
    let (alive, dead, gone, mine) = (
        record("alive", "claim/1", None),
        record("dead", "claim/2", None),
        record("gone", "claim/3", None),
        record("me", "claim/4", None),
    );
    for r in [&alive, &dead, &gone, &mine] {
        b.log_append(r).await.expect("log_append failed");
    }
    let got = claim(b, "me", now, false).await;
    assert_eq!(
        ids(&got),
        ids(&[dead.clone(), gone.clone()]),
        "claimed the wrong records"
    );
    assert!(
        got.iter().all(|r| r.owner == "me"),
        "claimed records must name the claimant"
    );
    assert_eq!(
        b.log_get(&dead.change_id)
            .await
            .expect("log_get failed")
            .map(|r| r.owner),
        Some("me".into())
    );
    assert_eq!(
        b.log_get(&alive.change_id).await.expect("log_get failed"),
        Some(alive.clone())
    );
    assert_eq!(
        b.log_get(&mine.change_id).await.expect("log_get failed"),
        Some(mine.clone())
    );
    assert!(
        claim(b, "other", now, false).await.is_empty(),
        "took records of live instances"
    );
    // Once every lease expired, everything is due for another instance.
    let later = now + Duration::from_secs(120);
    let got = claim(b, "other", later, false).await;
    assert_eq!(ids(&got), ids(&[alive, dead, gone, mine]));
}

/// Deferred records wait for `not_before` whatever the leases say, and are then due even
/// for their owner; once claimed, nobody else takes them while the claimant's lease lives.
pub async fn log_claim_honours_deferral(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let now = cx.now();
    b.lease_renew("owner", now + Duration::from_secs(1000))
        .await
        .expect("lease_renew failed");
    let deferred = record("owner", "defer/1", Some(now + Duration::from_secs(100)));
    let orphan = record("dead", "defer/2", Some(now + Duration::from_secs(100)));
    b.log_append(&deferred).await.expect("log_append failed");
    b.log_append(&orphan).await.expect("log_append failed");
    for (who, ignore) in [("x", false), ("x", true), ("owner", false)] {
        assert!(
            claim(b, who, now, ignore).await.is_empty(),
            "{who} (ignore_leases {ignore}) claimed a deferred record early"
        );
    }
    let later = now + Duration::from_secs(101);
    let got = claim(b, "owner", later, false).await;
    assert_eq!(
        ids(&got),
        ids(&[deferred.clone(), orphan.clone()]),
        "due deferred records not claimed"
    );
    assert!(got.iter().all(|r| r.owner == "owner"));
    assert!(
        claim(b, "x", later, false).await.is_empty(),
        "a record went to a second live claimant"
    );
    assert!(
        claim(b, "owner", later, false).await.is_empty(),
        "a record was handed out twice"
    );
}

/// With `ignore_leases`, records of every other instance are due at once; own records
/// still are not.
pub async fn log_claim_ignore_leases(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let now = cx.now();
    b.lease_renew("a", now + Duration::from_secs(60))
        .await
        .expect("lease_renew failed");
    let (theirs, mine) = (record("a", "ignore/1", None), record("b", "ignore/2", None));
    b.log_append(&theirs).await.expect("log_append failed");
    b.log_append(&mine).await.expect("log_append failed");
    let got = claim(b, "b", now, true).await;
    assert_eq!(
        ids(&got),
        ids(&[theirs]),
        "ignore_leases must take other instances' records only"
    );
}

/// `limit` bounds each claim; repeated claims hand out every record exactly once.
pub async fn log_claim_limit(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let now = cx.now();
    let records: Vec<_> = (0..5)
        .map(|i| record("dead", &format!("limit/{i}"), None))
        .collect();
    for r in &records {
        b.log_append(r).await.expect("log_append failed");
    }
    let mut seen = Vec::new();
    for want in [2, 2, 1, 0] {
        let got = b
            .log_claim("me", now, false, 2)
            .await
            .expect("log_claim failed");
        assert_eq!(got.len(), want, "claim sizes with limit 2 over 5 records");
        seen.extend(got);
    }
    assert_eq!(ids(&seen), ids(&records));
    assert_eq!(seen.len(), 5, "a record was handed out twice");
}

/// Concurrent claimants with live leases never receive the same record, and together
/// receive all of them.
pub async fn log_claim_concurrent_claimants_never_share(cx: &Ctx<dyn HighVolumeBackend>) {
    let now = cx.now();
    let records: Vec<_> = (0..40)
        .map(|i| record("dead", &format!("concurrent/{i}"), None))
        .collect();
    for r in &records {
        cx.backend.log_append(r).await.expect("log_append failed");
    }
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let b = Arc::clone(&cx.backend);
            tokio::spawn(async move {
                let me = format!("claimant-{i}");
                b.lease_renew(&me, now + Duration::from_secs(600))
                    .await
                    .expect("lease_renew failed");
                let mut mine = Vec::new();
                loop {
                    let got = b
                        .log_claim(&me, now, false, 3)
                        .await
                        .expect("log_claim failed");
                    if got.is_empty() {
                        break mine;
                    }
                    mine.extend(got);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("claimant panicked"));
    }
    assert_eq!(
        all.len(),
        40,
        "records handed out {} times in total",
        all.len()
    );
    assert_eq!(ids(&all), ids(&records));
    for r in &all {
        let stored = cx
            .backend
            .log_get(&r.change_id)
            .await
            .expect("log_get failed")
            .expect("record vanished");
        assert_eq!(
            stored.owner, r.owner,
            "stored owner differs from the claimant that got it"
        );
    }
}

/// Releasing a lease makes the instance's records due at once; renewing extends it.
pub async fn lease_release_frees_records(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let now = cx.now();
    b.lease_renew("a", now + Duration::from_secs(10))
        .await
        .expect("lease_renew failed");
    b.lease_renew("a", now + Duration::from_secs(100))
        .await
        .expect("lease_renew failed");
    let r = record("a", "release/1", None);
    b.log_append(&r).await.expect("log_append failed");
    assert!(
        claim(b, "b", now + Duration::from_secs(50), false)
            .await
            .is_empty(),
        "the renewed lease was not extended"
    );
    b.lease_release("a").await.expect("lease_release failed");
    assert_eq!(
        ids(&claim(b, "b", now, false).await),
        ids(&[r]),
        "a released instance's records are due at once"
    );
    b.lease_release("never-leased")
        .await
        .expect("releasing an unknown lease must succeed");
}
