//! Expiry through sidecars, and the sweeper.

use super::*;

// ---------------------------------------------------------------------------------------------
// Expiry

#[tokio::test]
async fn expired_objects_read_as_absent_at_once() {
    let f = fixture();
    f.put(&id("ttl"), ExpirationPolicy::TimeToLive(10 * SEC), b"x")
        .await;
    f.clock.advance(10 * SEC);
    assert!(f.get(&id("ttl")).await.is_some(), "deadline itself is live");
    f.clock.advance(2 * SEC);
    assert!(f.get(&id("ttl")).await.is_none());
    assert_eq!(f.fs.head(&id("ttl")).await.unwrap(), None);
    assert!(matches!(
        f.get_from_start(&id("ttl")).await,
        GetResponse::NotFound
    ));
    assert_eq!(
        f.extend(&id("ttl"), ExpiryTarget::AfterNow(DAY)).await,
        ExtendOutcome::NotFound
    );
}

#[tokio::test]
async fn tti_bumps_touch_only_the_sidecar() {
    let f = fixture();
    let tti = 400 * SEC;
    let written = f
        .put(&id("tti"), ExpirationPolicy::TimeToIdle(tti), b"payload")
        .await;
    let object_file = f.files_under("objects").pop().unwrap();
    let before = std::fs::read(&object_file).unwrap();

    // Within the debounce window (100 s): no bump.
    f.clock.advance(100 * SEC);
    let (m, _) = f.get(&id("tti")).await.unwrap();
    assert_eq!(m.time_expires, written.time_expires);
    assert_eq!(f.files_under("objects").len(), 1);

    // Past it: the response reports the old deadline, the next read the new one.
    f.clock.advance(2 * SEC);
    let (m, _) = f.get(&id("tti")).await.unwrap();
    assert_eq!(m.time_expires, written.time_expires);
    let bumped = f.fs.head(&id("tti")).await.unwrap().unwrap();
    let expected = objectstore_types::time::ceil_to_second(f.clock.now()) + tti;
    assert_eq!(bumped.time_expires, Some(expected));
    assert_eq!(f.files_under("objects").len(), 2, "object and sidecar");
    assert_eq!(
        std::fs::read(&object_file).unwrap(),
        before,
        "payload untouched"
    );

    // The bump keeps it alive past its original deadline.
    f.clock.advance(350 * SEC);
    assert!(f.get(&id("tti")).await.is_some());
}

#[tokio::test]
async fn extensions_follow_the_plan_and_never_rewrite_the_payload() {
    let f = fixture();
    let written = f
        .put(&id("ttl"), ExpirationPolicy::TimeToLive(DAY), b"payload")
        .await;
    let object_file = f.files_under("objects").pop().unwrap();
    let before = std::fs::read(&object_file).unwrap();
    let created = written.time_created.unwrap();

    let now = f.clock.now();
    assert_eq!(
        f.fs.extend_expiry(&id("ttl"), ExpiryTarget::AfterCreation(3 * DAY), now)
            .await
            .unwrap(),
        ExtendOutcome::Satisfied
    );
    let m = f.fs.head(&id("ttl")).await.unwrap().unwrap();
    assert_eq!(m.time_expires, Some(created + 3 * DAY));
    assert_eq!(m.expiration_policy, ExpirationPolicy::TimeToLive(3 * DAY));
    assert_eq!(std::fs::read(&object_file).unwrap(), before);

    // Already sufficient; shorter targets never shorten.
    assert_eq!(
        f.fs.extend_expiry(&id("ttl"), ExpiryTarget::AfterNow(DAY), now)
            .await
            .unwrap(),
        ExtendOutcome::Satisfied
    );
    let again = f.fs.head(&id("ttl")).await.unwrap().unwrap();
    assert_eq!(again.time_expires, Some(created + 3 * DAY));

    // Lives past the original day.
    f.clock.advance(2 * DAY);
    assert!(f.get(&id("ttl")).await.is_some());

    f.put(&id("manual"), ExpirationPolicy::Manual, b"m").await;
    assert_eq!(
        f.extend(&id("manual"), ExpiryTarget::AfterNow(DAY)).await,
        ExtendOutcome::Rejected
    );
    assert_eq!(
        f.extend(&id("absent"), ExpiryTarget::AfterNow(DAY)).await,
        ExtendOutcome::NotFound
    );
}

#[tokio::test]
async fn an_overwrite_between_read_and_write_is_a_conflict() {
    let f = fixture();
    let key = id("k");
    f.put(&key, ExpirationPolicy::TimeToLive(DAY), b"first")
        .await;
    let (target, now) = (ExpiryTarget::AfterNow(5 * DAY), f.clock.now());
    let seen =
        f.fs.store
            .extend_prepare(&key, target, now)
            .unwrap()
            .unwrap();
    f.put(&key, ExpirationPolicy::TimeToLive(DAY), b"second")
        .await;
    assert_eq!(
        f.fs.store.extend_commit(&key, &seen, target, now).unwrap(),
        ExtendOutcome::Conflict
    );
    // Deleted in between: also a conflict, and nothing written.
    let seen =
        f.fs.store
            .extend_prepare(&key, target, now)
            .unwrap()
            .unwrap();
    f.fs.delete(&key).await.unwrap();
    assert_eq!(
        f.fs.store.extend_commit(&key, &seen, target, now).unwrap(),
        ExtendOutcome::Conflict
    );
    assert_eq!(f.files_under("objects"), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_sidecar_of_another_write_is_ignored_and_removed_on_overwrite() {
    let f = fixture();
    let key = id("k");
    f.put(&key, ExpirationPolicy::TimeToLive(10 * SEC), b"one")
        .await;
    f.extend(&key, ExpiryTarget::AfterNow(DAY)).await;
    let sidecar = f
        .files_under("objects")
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "exp"))
        .unwrap();
    let saved = std::fs::read(&sidecar).unwrap();

    f.put(&key, ExpirationPolicy::TimeToLive(10 * SEC), b"two")
        .await;
    assert!(!sidecar.exists(), "overwrite removes the old sidecar");
    // A crash between rename and sidecar removal would leave it behind: it must not apply.
    std::fs::write(&sidecar, saved).unwrap();
    f.clock.advance(11 * SEC);
    assert!(
        f.get(&key).await.is_none(),
        "the stale extension must not apply"
    );
}

// ---------------------------------------------------------------------------------------------
// Sweeper

#[tokio::test]
async fn the_sweeper_deletes_expired_objects_resuming_where_it_stopped() {
    let f = fixture();
    for k in ["a", "b", "c"] {
        f.put(&id(k), ExpirationPolicy::TimeToLive(10 * SEC), b"x")
            .await;
    }
    for k in ["keep1", "keep2"] {
        f.put(&id(k), ExpirationPolicy::Manual, b"x").await;
    }
    f.put(
        &id("extended"),
        ExpirationPolicy::TimeToLive(10 * SEC),
        b"x",
    )
    .await;
    f.extend(&id("extended"), ExpiryTarget::AfterNow(DAY)).await;
    // 6 objects + 1 sidecar = 7 entries.
    f.clock.advance(11 * SEC);

    let mut total = SweepStats::default();
    let mut steps = 0;
    loop {
        let s = f.fs.sweep_once(3).await.unwrap();
        assert!(s.examined <= 3);
        steps += 1;
        total.examined += s.examined;
        total.objects_deleted += s.objects_deleted;
        total.sidecars_removed += s.sidecars_removed;
        if s.pass_complete {
            break;
        }
        assert!(steps < 10, "the pass never ends");
    }
    assert_eq!(steps, 3, "7 entries at 3 per step");
    assert_eq!((total.examined, total.objects_deleted), (7, 3));
    assert_eq!(total.sidecars_removed, 0);
    assert_eq!(f.files_under("objects").len(), 4);
    for k in ["keep1", "keep2", "extended"] {
        assert!(f.get(&id(k)).await.is_some(), "{k}");
    }

    // A new pass starts from the beginning.
    let s = f.fs.sweep_once(100).await.unwrap();
    assert_eq!(
        (s.examined, s.objects_deleted, s.pass_complete),
        (4, 0, true)
    );
    assert_eq!(f.fs.sweep_once(0).await.unwrap().examined, 0);
}

#[tokio::test]
async fn the_sweeper_removes_orphaned_sidecars() {
    let f = fixture();
    f.put(&id("k"), ExpirationPolicy::TimeToLive(DAY), b"x")
        .await;
    f.extend(&id("k"), ExpiryTarget::AfterNow(2 * DAY)).await;
    let object = f
        .files_under("objects")
        .into_iter()
        .find(|p| p.extension().is_none())
        .unwrap();
    std::fs::remove_file(object).unwrap();
    let s = f.fs.sweep_once(100).await.unwrap();
    assert_eq!(s.sidecars_removed, 1);
    assert_eq!(f.files_under("objects"), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn the_sweeper_removes_abandoned_uploads_after_their_age() {
    let f = fixture();
    let upload = f.initiate(&id("mp")).await;
    f.fs.upload_part(&id("mp"), &upload, 1, 3, single("abc"))
        .await
        .unwrap();
    f.clock.advance(6 * DAY);
    assert_eq!(f.fs.sweep_once(100).await.unwrap().uploads_removed, 0);
    f.clock.advance(2 * DAY);
    assert_eq!(f.fs.sweep_once(100).await.unwrap().uploads_removed, 1);
    let err =
        f.fs.list_parts(crate::backend::PartsQuery::all(&id("mp"), &upload))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(f.files_under("multipart"), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn join_stops_the_background_sweeper() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let fs = FilesystemBackend::open(dir.path(), clock.clone()).unwrap();
    assert!(!fs.spawn_sweeper(), "already running");
    fs.join().await;
    assert!(!fs.spawn_sweeper(), "stopped for good");
    drop(fs);
    // The directory lock went with the last handle.
    FilesystemBackend::open_with_config(dir.path(), clock, no_sweeper()).unwrap();
}

#[test]
fn open_outside_a_runtime_spawns_no_sweeper() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FilesystemBackend::open(dir.path(), ManualClock::new()).unwrap();
    assert!(!fs.spawn_sweeper());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(fs.spawn_sweeper());
        fs.join().await;
    });
}
