//! Checks of [`ChangeLog`]: storage of records, and the claim rules of
//! [`ChangeLog::claim_records`] (owners, leases, deferral, `ignore_leases`, limits,
//! concurrent claimants).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Ctx, id};
use crate::backend::{ChangeLog, ChangeRecord, Claim};

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

async fn claim(b: &dyn ChangeLog, who: &str, now: SystemTime, ignore: bool) -> Vec<ChangeRecord> {
    b.claim_records(&Claim::new(who, now, ignore, 100))
        .await
        .expect("claim_records failed")
}

/// Records are stored, read, counted and removed; removing a missing record succeeds.
pub async fn change_log_append_get_remove_len(cx: &Ctx<dyn ChangeLog>) {
    let b = &*cx.backend;
    assert_eq!(b.count_records().await.expect("count_records failed"), 0);
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
        b.append_record(r).await.expect("append_record failed");
    }
    assert_eq!(b.count_records().await.expect("count_records failed"), 3);
    for r in &records {
        assert_eq!(
            b.get_record(&r.change_id)
                .await
                .expect("get_record failed")
                .as_ref(),
            Some(r),
            "record changed in storage"
        );
    }
    b.remove_record(&records[1].change_id)
        .await
        .expect("remove_record failed");
    assert_eq!(
        b.get_record(&records[1].change_id)
            .await
            .expect("get_record failed"),
        None
    );
    assert_eq!(b.count_records().await.expect("count_records failed"), 2);
    b.remove_record(&records[1].change_id)
        .await
        .expect("removing a missing record must succeed");
    assert_eq!(
        b.get_record(&uuid::Uuid::now_v7())
            .await
            .expect("get_record failed"),
        None
    );
}

/// Without deferral, a record is claimed only from another instance whose lease expired
/// (or never existed), and then belongs to the claimant; own records are never claimed.
pub async fn claim_records_respects_owners_and_leases(cx: &Ctx<dyn ChangeLog>) {
    let b = &*cx.backend;
    let now = cx.now();
    let lease = |who: &'static str, until: SystemTime| async move {
        b.renew_lease(who, until).await.expect("renew_lease failed");
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
        b.append_record(r).await.expect("append_record failed");
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
        b.get_record(&dead.change_id)
            .await
            .expect("get_record failed")
            .map(|r| r.owner),
        Some("me".into())
    );
    assert_eq!(
        b.get_record(&alive.change_id)
            .await
            .expect("get_record failed"),
        Some(alive.clone())
    );
    assert_eq!(
        b.get_record(&mine.change_id)
            .await
            .expect("get_record failed"),
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
pub async fn claim_records_honours_deferral(cx: &Ctx<dyn ChangeLog>) {
    let b = &*cx.backend;
    let now = cx.now();
    b.renew_lease("owner", now + Duration::from_secs(1000))
        .await
        .expect("renew_lease failed");
    let deferred = record("owner", "defer/1", Some(now + Duration::from_secs(100)));
    let orphan = record("dead", "defer/2", Some(now + Duration::from_secs(100)));
    b.append_record(&deferred)
        .await
        .expect("append_record failed");
    b.append_record(&orphan)
        .await
        .expect("append_record failed");
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
pub async fn claim_records_ignore_leases(cx: &Ctx<dyn ChangeLog>) {
    let b = &*cx.backend;
    let now = cx.now();
    b.renew_lease("a", now + Duration::from_secs(60))
        .await
        .expect("renew_lease failed");
    let (theirs, mine) = (record("a", "ignore/1", None), record("b", "ignore/2", None));
    b.append_record(&theirs)
        .await
        .expect("append_record failed");
    b.append_record(&mine).await.expect("append_record failed");
    let got = claim(b, "b", now, true).await;
    assert_eq!(
        ids(&got),
        ids(&[theirs]),
        "ignore_leases must take other instances' records only"
    );
}

/// `limit` bounds each claim; repeated claims hand out every record exactly once.
pub async fn claim_records_limit(cx: &Ctx<dyn ChangeLog>) {
    let b = &*cx.backend;
    let now = cx.now();
    let records: Vec<_> = (0..5)
        .map(|i| record("dead", &format!("limit/{i}"), None))
        .collect();
    for r in &records {
        b.append_record(r).await.expect("append_record failed");
    }
    let mut seen = Vec::new();
    for want in [2, 2, 1, 0] {
        let got = b
            .claim_records(&Claim::new("me", now, false, 2))
            .await
            .expect("claim_records failed");
        assert_eq!(got.len(), want, "claim sizes with limit 2 over 5 records");
        seen.extend(got);
    }
    assert_eq!(ids(&seen), ids(&records));
    assert_eq!(seen.len(), 5, "a record was handed out twice");
}

/// Concurrent claimants with live leases never receive the same record, and together
/// receive all of them.
pub async fn claim_records_concurrent_claimants_never_share(cx: &Ctx<dyn ChangeLog>) {
    let now = cx.now();
    let records: Vec<_> = (0..40)
        .map(|i| record("dead", &format!("concurrent/{i}"), None))
        .collect();
    for r in &records {
        cx.backend
            .append_record(r)
            .await
            .expect("append_record failed");
    }
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let b = Arc::clone(&cx.backend);
            tokio::spawn(async move {
                let me = format!("claimant-{i}");
                b.renew_lease(&me, now + Duration::from_secs(600))
                    .await
                    .expect("renew_lease failed");
                let mut mine = Vec::new();
                loop {
                    let got = b
                        .claim_records(&Claim::new(&me, now, false, 3))
                        .await
                        .expect("claim_records failed");
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
            .get_record(&r.change_id)
            .await
            .expect("get_record failed")
            .expect("record vanished");
        assert_eq!(
            stored.owner, r.owner,
            "stored owner differs from the claimant that got it"
        );
    }
}

/// Releasing a lease makes the instance's records due at once; renewing extends it.
pub async fn release_lease_frees_records(cx: &Ctx<dyn ChangeLog>) {
    let b = &*cx.backend;
    let now = cx.now();
    b.renew_lease("a", now + Duration::from_secs(10))
        .await
        .expect("renew_lease failed");
    b.renew_lease("a", now + Duration::from_secs(100))
        .await
        .expect("renew_lease failed");
    let r = record("a", "release/1", None);
    b.append_record(&r).await.expect("append_record failed");
    assert!(
        claim(b, "b", now + Duration::from_secs(50), false)
            .await
            .is_empty(),
        "the renewed lease was not extended"
    );
    b.release_lease("a").await.expect("release_lease failed");
    assert_eq!(
        ids(&claim(b, "b", now, false).await),
        ids(&[r]),
        "a released instance's records are due at once"
    );
    b.release_lease("never-leased")
        .await
        .expect("releasing an unknown lease must succeed");
}
