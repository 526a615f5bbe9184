//! The change guard: join, cancellation of the caller, cleanup and recovery after failures,
//! leases.

use std::time::Duration;

use super::*;
use crate::Error;
use crate::backend::around::faults::{Calls, Fault, Faults, Gate};
use crate::tiered::changes::Outcome;

// --- Guard lifecycle ---

/// Dropping a guard outside any runtime must not panic; the record stays for recovery.
#[test]
fn guard_dropped_outside_runtime_does_not_panic() {
    let env = Env::new();
    let (storage, guard) = {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let storage = env.storage();
            let record = storage
                .inner()
                .new_record(&id("object"), None, Some(id("object/x")));
            let guard = storage.inner().begin(record).await.unwrap();
            (storage, guard)
        })
    };
    drop(guard);
    drop(storage);
    assert_eq!(env.hv.log_records().len(), 1, "left for recovery");
}

/// `join` waits until every in-flight guard finished and its cleanup ran.
#[tokio::test(start_paused = true)]
async fn join_waits_for_cleanup_to_complete() {
    let env = Env::new();
    let storage = Arc::new(env.storage());
    let record = storage.inner().new_record(&id("object"), None, None);
    let guard = storage.inner().begin(record).await.unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = released.await;
        guard.finish(Outcome::Lost);
    });

    let joining = tokio::spawn({
        let storage = storage.clone();
        async move { storage.join().await }
    });
    // Virtual time only advances once every task is idle: `join` is blocked for real.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        !joining.is_finished(),
        "join returned while a guard was alive"
    );

    release.send(()).unwrap();
    joining.await.unwrap();
    assert_eq!(
        env.hv.log_records(),
        vec![],
        "cleanup ran before join returned"
    );
}

// --- Cancellation of the caller ---

/// The caller's future is dropped after the long-term write committed but before the
/// tombstone swap: the guard cleans up the orphaned blob and its record.
#[tokio::test]
async fn dropped_future_during_long_term_write_cleans_up() {
    let env = Env::new();
    let gate = Gate::new();
    let storage = env.with_lt_around(always(Method::Put, Fault::PauseAfter(gate.clone())));
    let key = id("drop-write");
    let body = payload(LARGE, 1);
    tokio::select! {
        result = put(&storage, &key, &body) => {
            panic!("expected the put to pause, got {result:?}");
        }
        () = gate.reached() => {} // The blob is stored; the caller goes away.
    }
    assert_eq!(env.lt.len(), 1);
    gate.release();
    settle(&storage).await;
    env.hv.entry(&key).expect_not_found();
    assert!(env.lt.is_empty(), "orphaned blob not cleaned up");
    env.assert_consistent();
}

/// The caller goes away while the commit is in flight: the step still runs to its end,
/// and the cleanup, which waited for it, sees the committed state and keeps the new blob.
#[tokio::test]
async fn dropped_future_during_commit_settles_before_cleanup() {
    let (env, key) = (Env::new(), id("drop-commit"));
    let old = env.large_at(&key, 1).await;

    let gate = Gate::new();
    let storage = env.with_hv_around(always(
        Method::CompareAndWrite,
        Fault::PauseBefore(gate.clone()),
    ));
    let body = payload(LARGE, 2);
    tokio::select! {
        result = put(&storage, &key, &body) => {
            panic!("expected the put to pause, got {result:?}");
        }
        () = gate.reached() => {}
    }
    gate.release();
    settle(&storage).await;
    assert_ne!(env.tombstone_target(&key), old, "the commit landed");
    assert_eq!(read(&env.storage(), &key).await.unwrap(), payload(LARGE, 2));
    env.assert_consistent();
}

// --- Cleanup after an unknown outcome ---

/// Commits whose response is lost (the call fails after committing): the cleanup reads the
/// tombstone to learn the outcome and deletes exactly the unreferenced blob, for a large
/// overwrite, a delete and a small write over a tombstone.
#[tokio::test]
async fn cleanup_after_lost_commit_response() {
    let env = Env::new();
    let healthy = env.storage();
    let broken = env.with_hv_around(always(Method::CompareAndWrite, Fault::FailAfterCommit));
    let key = id("obj");
    put(&healthy, &key, &payload(LARGE, 1)).await.unwrap();
    let first = env.tombstone_target(&key);

    // Large overwrite: committed, reported as failed.
    put(&broken, &key, &payload(LARGE, 2)).await.unwrap_err();
    let second = env.tombstone_target(&key);
    assert_ne!(first, second);
    settle(&broken).await;
    env.lt.entry(&first).expect_not_found();
    env.lt.entry(&second).expect_object();

    // Delete: committed, reported as failed.
    broken.delete(&key).await.unwrap_err();
    env.hv.entry(&key).expect_not_found();
    settle(&broken).await;
    env.lt.entry(&second).expect_not_found();

    // Small over tombstone: committed, reported as failed.
    let key = id("obj2");
    put(&healthy, &key, &payload(LARGE, 3)).await.unwrap();
    let third = env.tombstone_target(&key);
    put(&broken, &key, b"small").await.unwrap_err();
    env.hv.entry(&key).expect_object();
    settle(&broken).await;
    env.lt.entry(&third).expect_not_found();
    env.assert_consistent();
}

/// A cleanup that fails keeps its record; the same instance's next recovery pass retries
/// it (it never claims its own records through the log).
#[tokio::test]
async fn failed_cleanup_is_retried_by_the_next_recovery_pass() {
    let (env, key) = (Env::new(), id("retry"));
    let faults = Faults::new().on(Method::Delete, Calls::Nth(1), Fault::Fail);
    let storage = env.with_lt_around(faults.clone());
    put(&storage, &key, &payload(LARGE, 1)).await.unwrap();
    put(&storage, &key, &payload(LARGE, 2)).await.unwrap();
    storage.inner().tracker.close();
    storage.inner().tracker.wait().await;
    assert_eq!(env.hv.log_records().len(), 1);
    assert_eq!(env.lt.len(), 2);

    let report = storage.recover_now(false).await.unwrap();
    assert_eq!(report.retried, 1);
    assert_eq!(report.cleaned, 1);
    assert_eq!(report.claimed, 0);
    env.assert_consistent();
}

/// A recovery pass that fails while reading the retry set keeps every entry for the next.
#[tokio::test]
async fn a_failing_recovery_pass_keeps_the_retry_set() {
    let env = Env::new();
    let hv_faults = Faults::new();
    let lt_faults = always(Method::Delete, Fault::Fail);
    let storage = env.storage_on(
        decorate(&env.hv, hv_faults.clone()),
        decorate(&env.lt, lt_faults.clone()),
    );
    for key in [id("k1"), id("k2")] {
        put(&storage, &key, &payload(LARGE, 1)).await.unwrap();
        put(&storage, &key, &payload(LARGE, 2)).await.unwrap();
    }
    storage.inner().tracker.close();
    storage.inner().tracker.wait().await;
    assert_eq!(env.hv.log_records().len(), 2);

    lt_faults.clear();
    let next = hv_faults.calls(Method::GetRecord) + 1;
    hv_faults.add(Method::GetRecord, Calls::Nth(next), Fault::Fail);
    assert!(storage.recover_now(false).await.is_err());
    let report = storage.recover_now(false).await.unwrap();
    assert_eq!((report.retried, report.cleaned), (2, 2));
    env.assert_consistent();
}

// --- Recovery across instances ---

/// Leaves one record of a large overwrite behind: the instance loses its high-volume
/// connection right after the commit (the cleanup cannot run).
async fn crashed_overwrite(env: &Env, key: &ObjectId) -> String {
    put(&env.storage(), key, &payload(LARGE, 1)).await.unwrap();
    let faults = Faults::new()
        .on(
            Method::CompareAndWrite,
            Calls::Nth(1),
            Fault::FailAfterCommit,
        )
        .on(Method::Head, Calls::From(2), Fault::Fail)
        .on(Method::RemoveRecord, Calls::All, Fault::Fail)
        .on(Method::ReleaseLease, Calls::All, Fault::Fail);
    let crashed = env.with_hv_around(faults);
    put(&crashed, key, &payload(LARGE, 2)).await.unwrap_err();
    settle(&crashed).await;
    assert_eq!(env.hv.log_records().len(), 1);
    assert_eq!(env.lt.len(), 2);
    crashed.instance_id().to_owned()
}

/// Another instance takes a record over only once the owner's lease expired.
#[tokio::test]
async fn records_of_a_live_instance_are_not_recovered() {
    let (env, key) = (Env::new(), id("lease"));
    let owner = crashed_overwrite(&env, &key).await;
    assert!(
        env.hv.lease(&owner).is_some(),
        "the crashed instance still holds its lease"
    );

    let other = env.storage();
    assert_eq!(other.recover_now(false).await.unwrap().claimed, 0);
    assert_eq!(env.hv.log_records().len(), 1);

    env.clock.advance(AFTER_LEASES);
    assert_eq!(other.recover_now(false).await.unwrap().claimed, 1);
    assert_eq!(read(&other, &key).await.unwrap(), payload(LARGE, 2));
    env.assert_consistent();
}

/// With an exclusive high-volume backend, start-up recovery takes over every other
/// instance's records at once (the previous process is known to be gone).
#[tokio::test]
async fn startup_recovery_on_an_exclusive_backend_ignores_leases() {
    let (env, key) = (Env::new(), id("startup"));
    crashed_overwrite(&env, &key).await;
    let config = TieredConfig {
        background: true,
        ..Env::config()
    };
    let hv = env.hv.clone().with_exclusive(true);
    let storage = env.storage_with(Arc::new(hv), Arc::new(env.lt.clone()), config);
    storage.join().await;
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 2));
    env.assert_consistent();
}

/// Fencing: an instance whose lease lapsed and whose record was taken over by another
/// instance's recovery must not commit afterwards (recovery may have deleted its blob).
#[tokio::test]
async fn an_instance_that_lost_its_record_does_not_commit() {
    let (env, key) = (Env::new(), id("fenced"));
    let old = env.large_at(&key, 1).await;

    let gate = Gate::new();
    let slow = env.with_lt_around(always(Method::Put, Fault::PauseAfter(gate.clone())));
    let writing = tokio::spawn({
        let slow = Arc::new(slow);
        let key = key.clone();
        async move {
            let result = put(&slow, &key, &payload(LARGE, 2)).await;
            slow.join().await;
            result
        }
    });
    gate.reached().await;

    // The slow instance's lease expires; another instance recovers its record.
    env.clock.advance(AFTER_LEASES);
    let report = env.storage().recover_now(false).await.unwrap();
    assert_eq!(report.claimed, 1);

    gate.release();
    let result = writing.await.unwrap();
    assert!(matches!(result, Err(Error::Backend { .. })), "{result:?}");
    assert_eq!(
        env.tombstone_target(&key),
        old,
        "no commit after losing the record"
    );
    env.assert_consistent();
}

/// The background loop renews the lease, retries failed cleanups and sweeps expired rows
/// on its own (virtual time: the loop's timers fire as the test sleeps).
#[tokio::test(start_paused = true)]
async fn the_background_loop_recovers_and_sweeps() {
    let env = Env::new();
    let config = TieredConfig {
        background: true,
        ..Env::config()
    };
    let lt = decorate(
        &env.lt,
        Faults::new().on(Method::Delete, Calls::Nth(1), Fault::Fail),
    );
    let storage = env.storage_with(Arc::new(env.hv.clone()), lt, config);
    let key = id("background");
    put(&storage, &key, &payload(LARGE, 1)).await.unwrap();
    put(&storage, &key, &payload(LARGE, 2)).await.unwrap();
    let mut metadata = objectstore_types::Metadata {
        expiration_policy: objectstore_types::ExpirationPolicy::TimeToLive(Duration::from_secs(5)),
        ..objectstore_types::Metadata::default()
    };
    metadata.stamp(crate::clock::Clock::now(&*env.clock));
    storage
        .put(&id("expiring"), &metadata, stream::single(b"x".to_vec()))
        .await
        .unwrap();
    env.clock.advance(Duration::from_secs(10));

    tokio::time::sleep(Duration::from_secs(61)).await;
    assert!(env.hv.lease(storage.instance_id()).is_some());
    assert!(!env.hv.contains(&id("expiring")), "not swept");
    storage.join().await;
    assert_eq!(env.hv.lease(storage.instance_id()), None, "lease released");
    assert_eq!(read(&env.storage(), &key).await.unwrap(), payload(LARGE, 2));
    env.assert_consistent();
}
