//! Tests of the filesystem backend: round trips, atomicity, expiry through sidecars, the
//! sweeper, multipart edge cases, path confinement and crash leftovers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use objectstore_types::range::ByteRange;
use objectstore_types::{
    ExpirationPolicy, Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase,
};

use super::*;
use crate::backend::CompletedPart;
use crate::clock::{Clock, ManualClock};
use crate::stream::{read_to_vec, single};

const SEC: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);

fn id_in(usecase: &str, scopes: &str, key: &str) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new(usecase).unwrap(),
            scopes: Scopes::parse(scopes).unwrap(),
        },
        ObjectKey::new(key).unwrap(),
    )
}

fn id(key: &str) -> ObjectId {
    id_in("usecase", "org=1;project=2", key)
}

fn no_sweeper() -> FilesystemConfig {
    FilesystemConfig {
        background_sweeper: false,
        ..FilesystemConfig::default()
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    fs: FilesystemBackend,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let fs = FilesystemBackend::open_with_config(dir.path(), clock.clone(), no_sweeper()).unwrap();
    Fixture { dir, clock, fs }
}

impl Fixture {
    fn stamped(&self, policy: ExpirationPolicy) -> Metadata {
        let mut m = Metadata {
            expiration_policy: policy,
            origin: Some("test".into()),
            ..Metadata::default()
        };
        m.stamp(self.clock.now());
        m
    }

    async fn put(&self, id: &ObjectId, policy: ExpirationPolicy, payload: &[u8]) -> Metadata {
        let m = self.stamped(policy);
        self.fs
            .put_object(id, &m, single(Bytes::copy_from_slice(payload)))
            .await
            .unwrap();
        m
    }

    async fn get(&self, id: &ObjectId) -> Option<(Metadata, Vec<u8>)> {
        match self.fs.get_object(id, None).await.unwrap() {
            GetResponse::Found { metadata, body, .. } => {
                Some((metadata, read_to_vec(body).await.unwrap()))
            }
            GetResponse::NotFound => None,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        walk(&self.dir.path().join(sub))
    }
}

/// Every file (not directory) below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        assert!(!ty.is_symlink(), "symlink {:?}", entry.path());
        if ty.is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

/// A body that yields `chunks` and then fails.
fn failing_body(chunks: &[&'static [u8]]) -> PayloadStream {
    let items: Vec<std::io::Result<Bytes>> = chunks
        .iter()
        .map(|c| Ok(Bytes::from_static(c)))
        .chain([Err(std::io::Error::other("client went away"))])
        .collect();
    stream::iter(items).boxed()
}

fn chunked(payload: &[u8], chunk: usize) -> PayloadStream {
    let items: Vec<std::io::Result<Bytes>> = payload
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(items).boxed()
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Objects

#[tokio::test]
async fn put_get_round_trip_streams_in_bounded_chunks() {
    let f = fixture();
    let big = payload(3 * 1024 * 1024 + 17, 1);
    let m = f.stamped(ExpirationPolicy::Manual);
    f.fs.put_object(&id("big"), &m, chunked(&big, 10_000))
        .await
        .unwrap();

    let GetResponse::Found {
        metadata,
        range,
        mut body,
    } = f.fs.get_object(&id("big"), None).await.unwrap()
    else {
        panic!("missing")
    };
    assert_eq!(range, None);
    assert_eq!(metadata.size, Some(big.len() as u64));
    assert_eq!(
        Metadata {
            size: None,
            ..metadata.clone()
        },
        m
    );
    let mut read = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= READ_CHUNK, "chunk of {} bytes", chunk.len());
        read.extend_from_slice(&chunk);
    }
    assert_eq!(read, big);
    assert_eq!(f.fs.get_metadata(&id("big")).await.unwrap(), Some(metadata));
}

#[tokio::test]
async fn empty_object_and_overwrite_replace_everything() {
    let f = fixture();
    f.put(&id("k"), ExpirationPolicy::Manual, b"").await;
    let (m, bytes) = f.get(&id("k")).await.unwrap();
    assert_eq!((m.size, bytes.len()), (Some(0), 0));

    let mut second = f.stamped(ExpirationPolicy::TimeToLive(DAY));
    second.content_type = "text/plain".into();
    second.origin = None;
    f.fs.put_object(&id("k"), &second, single("new"))
        .await
        .unwrap();
    let (m, bytes) = f.get(&id("k")).await.unwrap();
    second.size = Some(3);
    assert_eq!((m, bytes), (second, b"new".to_vec()));
}

#[tokio::test]
async fn ranges_follow_the_spec_examples() {
    let f = fixture();
    let data = b"0123456789abcdefghijkl"; // 22 bytes
    f.put(&id("r"), ExpirationPolicy::Manual, data).await;
    for (range, expected, start, end) in [
        (ByteRange::Bounded(0, 4), &data[0..5], 0, 4),
        (ByteRange::Suffix(9), &data[13..], 13, 21),
        (ByteRange::From(7), &data[7..], 7, 21),
        (ByteRange::Bounded(20, 100), &data[20..], 20, 21),
        (ByteRange::Suffix(100), &data[..], 0, 21),
    ] {
        let GetResponse::Found {
            range: Some(cr),
            body,
            metadata,
        } = f.fs.get_object(&id("r"), Some(range)).await.unwrap()
        else {
            panic!("{range:?} not found")
        };
        assert_eq!((cr.start, cr.end, cr.total), (start, end, 22), "{range:?}");
        assert_eq!(metadata.size, Some(22));
        assert_eq!(read_to_vec(body).await.unwrap(), expected, "{range:?}");
    }
    let GetResponse::RangeNotSatisfiable(m) =
        f.fs.get_object(&id("r"), Some(ByteRange::Bounded(100, 200)))
            .await
            .unwrap()
    else {
        panic!("expected 416")
    };
    assert_eq!(m.size, Some(22));

    f.put(&id("empty"), ExpirationPolicy::Manual, b"").await;
    assert!(matches!(
        f.fs.get_object(&id("empty"), Some(ByteRange::From(0)))
            .await
            .unwrap(),
        GetResponse::RangeNotSatisfiable(_)
    ));
    assert!(matches!(
        f.fs.get_object(&id("missing"), Some(ByteRange::From(0)))
            .await
            .unwrap(),
        GetResponse::NotFound
    ));
}

#[tokio::test]
async fn delete_is_idempotent_and_removes_the_sidecar() {
    let f = fixture();
    f.fs.delete_object(&id("never")).await.unwrap();
    f.put(&id("k"), ExpirationPolicy::TimeToLive(DAY), b"x")
        .await;
    let outcome =
        f.fs.extend_expiry(&id("k"), ExpiryTarget::AfterNow(3 * DAY), f.clock.now())
            .await
            .unwrap();
    assert_eq!(outcome, ExtendOutcome::Satisfied);
    assert_eq!(f.files_under("objects").len(), 2, "object and sidecar");
    f.fs.delete_object(&id("k")).await.unwrap();
    assert!(f.get(&id("k")).await.is_none());
    assert_eq!(f.files_under("objects"), Vec::<PathBuf>::new());
    f.fs.delete_object(&id("k")).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Atomicity and crash leftovers

#[tokio::test]
async fn a_failing_stream_keeps_the_old_object_and_leaves_no_trace() {
    let f = fixture();
    f.put(&id("k"), ExpirationPolicy::Manual, b"old").await;
    let before = f.files_under("objects");

    let m = f.stamped(ExpirationPolicy::Manual);
    let err =
        f.fs.put_object(&id("k"), &m, failing_body(&[b"new", b"er"]))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ClientStream(_)), "{err:?}");
    assert_eq!(f.get(&id("k")).await.unwrap().1, b"old");
    assert_eq!(f.files_under("objects"), before);
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());

    // No previous object: still nothing.
    let err =
        f.fs.put_object(&id("fresh"), &m, failing_body(&[]))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ClientStream(_)), "{err:?}");
    assert!(f.get(&id("fresh")).await.is_none());
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_cancelled_put_leaves_no_trace() {
    let f = fixture();
    f.put(&id("k"), ExpirationPolicy::Manual, b"old").await;
    let (polled_tx, polled_rx) = tokio::sync::oneshot::channel::<()>();
    // Yields one chunk; when polled again (the chunk is written), signals and never ends.
    let mut polled_tx = Some(polled_tx);
    let mut first = true;
    let body = stream::poll_fn(move |_| {
        if std::mem::take(&mut first) {
            return std::task::Poll::Ready(Some(Ok(Bytes::from_static(b"partial"))));
        }
        if let Some(tx) = polled_tx.take() {
            let _ = tx.send(());
        }
        std::task::Poll::Pending
    })
    .boxed();
    let m = f.stamped(ExpirationPolicy::Manual);
    let key = id("k");
    let put = f.fs.put_object(&key, &m, body);
    tokio::select! {
        _ = put => panic!("the put cannot finish"),
        _ = polled_rx => {}
    }
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());
    assert_eq!(f.get(&id("k")).await.unwrap().1, b"old");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_overwrites_never_mix_writes() {
    let f = fixture();
    let key = id("contended");
    let mut tasks = Vec::new();
    for writer in 0..4u8 {
        let fs = f.fs.clone();
        let (key, clock) = (key.clone(), f.clock.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..10u8 {
                let tag = writer * 16 + round;
                let mut m = Metadata {
                    origin: Some(tag.to_string()),
                    ..Metadata::default()
                };
                m.stamp(clock.now());
                let body = chunked(&payload(40_000 + usize::from(tag), tag), 4096);
                fs.put_object(&key, &m, body).await.unwrap();
            }
        }));
    }
    for _ in 0..40 {
        if let Some((m, bytes)) = f.get(&key).await {
            let tag: u8 = m.origin.as_deref().unwrap().parse().unwrap();
            assert_eq!(bytes, payload(40_000 + usize::from(tag), tag));
            assert_eq!(m.size, Some(bytes.len() as u64));
        }
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());
    assert_eq!(f.files_under("objects").len(), 1);
}

#[test]
fn open_cleans_crash_leftovers_and_locks_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let fs = FilesystemBackend::open_with_config(dir.path(), clock.clone(), no_sweeper()).unwrap();
    let err =
        FilesystemBackend::open_with_config(dir.path(), clock.clone(), no_sweeper()).unwrap_err();
    assert!(err.to_string().contains("lock"), "{err}");
    drop(fs);

    // Leftovers of a crash: a half-written object, a half-initiated upload.
    let tmp = dir.path().join("tmp");
    std::fs::write(tmp.join("0123.tmp"), b"half an object").unwrap();
    std::fs::create_dir(tmp.join("abcd.tmp")).unwrap();
    std::fs::write(tmp.join("abcd.tmp").join("upload.json"), b"{").unwrap();
    let _fs = FilesystemBackend::open_with_config(dir.path(), clock, no_sweeper()).unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[tokio::test]
async fn objects_survive_a_reopen_and_corruption_is_an_error() {
    let f = fixture();
    f.put(&id("kept"), ExpirationPolicy::Manual, b"durable")
        .await;
    let Fixture { dir, clock, fs } = f;
    drop(fs);
    let fs = FilesystemBackend::open_with_config(dir.path(), clock.clone(), no_sweeper()).unwrap();
    let f = Fixture { dir, clock, fs };
    assert_eq!(f.get(&id("kept")).await.unwrap().1, b"durable");

    let file = f.files_under("objects").pop().unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let err = f.fs.get_object(&id("kept"), None).await.unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
}

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
    assert_eq!(f.fs.get_metadata(&id("ttl")).await.unwrap(), None);
    assert!(matches!(
        f.fs.get_object(&id("ttl"), Some(ByteRange::From(0)))
            .await
            .unwrap(),
        GetResponse::NotFound
    ));
    assert_eq!(
        f.fs.extend_expiry(&id("ttl"), ExpiryTarget::AfterNow(DAY), f.clock.now())
            .await
            .unwrap(),
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
    let bumped = f.fs.get_metadata(&id("tti")).await.unwrap().unwrap();
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
    let m = f.fs.get_metadata(&id("ttl")).await.unwrap().unwrap();
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
    let again = f.fs.get_metadata(&id("ttl")).await.unwrap().unwrap();
    assert_eq!(again.time_expires, Some(created + 3 * DAY));

    // Lives past the original day.
    f.clock.advance(2 * DAY);
    assert!(f.get(&id("ttl")).await.is_some());

    f.put(&id("manual"), ExpirationPolicy::Manual, b"m").await;
    assert_eq!(
        f.fs.extend_expiry(&id("manual"), ExpiryTarget::AfterNow(DAY), f.clock.now())
            .await
            .unwrap(),
        ExtendOutcome::Rejected
    );
    assert_eq!(
        f.fs.extend_expiry(&id("absent"), ExpiryTarget::AfterNow(DAY), f.clock.now())
            .await
            .unwrap(),
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
    f.fs.delete_object(&key).await.unwrap();
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
    f.fs.extend_expiry(&key, ExpiryTarget::AfterNow(DAY), f.clock.now())
        .await
        .unwrap();
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
    f.fs.extend_expiry(&id("extended"), ExpiryTarget::AfterNow(DAY), f.clock.now())
        .await
        .unwrap();
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
    f.fs.extend_expiry(&id("k"), ExpiryTarget::AfterNow(2 * DAY), f.clock.now())
        .await
        .unwrap();
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
    let upload =
        f.fs.initiate_multipart(&id("mp"), &f.stamped(ExpirationPolicy::Manual))
            .await
            .unwrap();
    f.fs.upload_part(&id("mp"), &upload, 1, 3, single("abc"))
        .await
        .unwrap();
    f.clock.advance(6 * DAY);
    assert_eq!(f.fs.sweep_once(100).await.unwrap().uploads_removed, 0);
    f.clock.advance(2 * DAY);
    assert_eq!(f.fs.sweep_once(100).await.unwrap().uploads_removed, 1);
    let err =
        f.fs.list_parts(&id("mp"), &upload, None, None)
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

// ---------------------------------------------------------------------------------------------
// Multipart

fn sha_etag(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

fn parts(list: &[(u32, &str)]) -> Vec<CompletedPart> {
    list.iter()
        .map(|(n, e)| CompletedPart {
            part_number: *n,
            etag: (*e).to_owned(),
        })
        .collect()
}

impl Fixture {
    async fn part(&self, key: &ObjectId, upload: &str, n: u32, bytes: &'static [u8]) -> String {
        self.fs
            .upload_part(key, upload, n, bytes.len() as u64, single(bytes))
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn multipart_assembles_parts_in_order_with_the_initiation_metadata() {
    let f = fixture();
    let key = id("mp");
    f.put(&key, ExpirationPolicy::TimeToLive(DAY), b"previous")
        .await;
    f.fs.extend_expiry(&key, ExpiryTarget::AfterNow(3 * DAY), f.clock.now())
        .await
        .unwrap();
    let mut meta = f.stamped(ExpirationPolicy::TimeToLive(DAY));
    meta.filename = Some("big.bin".into());
    let upload = f.fs.initiate_multipart(&key, &meta).await.unwrap();
    assert!(layout::valid_upload_id(&upload), "{upload}");

    let e1 = f.part(&key, &upload, 1, b"hello ").await;
    let first_e2 = f.part(&key, &upload, 2, b"wrong").await;
    let e2 = f.part(&key, &upload, 2, b"world").await;
    let e3 = f.part(&key, &upload, 3, b"!").await;
    assert_eq!(e1, sha_etag(b"hello "));
    assert_ne!(first_e2, e2, "re-upload replaces and changes the etag");

    let page = f.fs.list_parts(&key, &upload, None, None).await.unwrap();
    let listed: Vec<_> = page
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone(), p.size))
        .collect();
    assert_eq!(
        listed,
        vec![(1, e1.clone(), 6), (2, e2.clone(), 5), (3, e3.clone(), 1)]
    );
    assert_eq!(page.next_marker, None);
    assert!(
        f.get(&key).await.unwrap().1 == b"previous",
        "not yet visible"
    );

    // Unquoted etags are accepted too.
    let unquoted = e3.trim_matches('"').to_owned();
    let done =
        f.fs.complete_multipart(&key, &upload, &parts(&[(1, &e1), (2, &e2), (3, &unquoted)]))
            .await
            .unwrap();
    assert_eq!(done, None);
    let (m, bytes) = f.get(&key).await.unwrap();
    assert_eq!(bytes, b"hello world!");
    meta.size = Some(12);
    assert_eq!(m, meta, "initiation metadata; the old extension is gone");
    assert_eq!(f.files_under("multipart"), Vec::<PathBuf>::new());
    assert_eq!(f.files_under("objects").len(), 1, "old sidecar removed");
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());
    let err =
        f.fs.list_parts(&key, &upload, None, None)
            .await
            .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn list_parts_paginates_with_the_last_returned_number() {
    let f = fixture();
    let key = id("mp");
    let upload =
        f.fs.initiate_multipart(&key, &f.stamped(ExpirationPolicy::Manual))
            .await
            .unwrap();
    for n in [5, 1, 3, 2, 4] {
        f.part(&key, &upload, n, b"p").await;
    }
    let page = |max, marker| f.fs.list_parts(&key, &upload, max, marker);
    let numbers = |p: &PartsPage| p.parts.iter().map(|p| p.part_number).collect::<Vec<_>>();

    let p = page(Some(2), None).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![1, 2], Some(2)));
    let p = page(Some(2), Some(2)).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![3, 4], Some(4)));
    let p = page(Some(2), Some(4)).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![5], None));
    let p = page(Some(5), None).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![1, 2, 3, 4, 5], None));
    let p = page(None, Some(5)).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![], None));
    assert!(matches!(
        page(Some(0), None).await.unwrap_err(),
        Error::InvalidRequest(_)
    ));
    let p = page(None, Some(1)).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![2, 3, 4, 5], None));
    assert_eq!(
        p.parts[0].last_modified,
        objectstore_types::time::from_unix_secs(objectstore_types::time::unix_secs(f.clock.now()))
    );
}

#[tokio::test]
async fn complete_rejects_bad_part_lists_and_keeps_the_upload_open() {
    let f = fixture();
    let key = id("mp");
    f.put(&key, ExpirationPolicy::Manual, b"old").await;
    let upload =
        f.fs.initiate_multipart(&key, &f.stamped(ExpirationPolicy::Manual))
            .await
            .unwrap();
    let e1 = f.part(&key, &upload, 1, b"a").await;
    let e2 = f.part(&key, &upload, 2, b"b").await;
    let bogus = sha_etag(b"something else");

    for (list, code) in [
        (parts(&[(1, &e1), (2, &bogus)]), "InvalidPart"),
        (parts(&[(1, &e1), (3, &e2)]), "InvalidPart"),
        (parts(&[(2, &e2), (1, &e1)]), "InvalidPartOrder"),
        (parts(&[(1, &e1), (1, &e1)]), "InvalidPartOrder"),
        (parts(&[]), "InvalidPart"),
    ] {
        let rejection =
            f.fs.complete_multipart(&key, &upload, &list)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{list:?} accepted"));
        assert_eq!(rejection.code, code, "{list:?}: {}", rejection.message);
        assert!(!rejection.message.is_empty());
        assert_eq!(f.get(&key).await.unwrap().1, b"old", "{list:?}");
        assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());
    }
    assert_eq!(
        f.fs.list_parts(&key, &upload, None, None)
            .await
            .unwrap()
            .parts
            .len(),
        2
    );
    // A subset of the parts is fine.
    let done =
        f.fs.complete_multipart(&key, &upload, &parts(&[(2, &e2)]))
            .await
            .unwrap();
    assert_eq!(done, None);
    assert_eq!(f.get(&key).await.unwrap().1, b"b");
}

#[tokio::test]
async fn unknown_and_foreign_uploads() {
    let f = fixture();
    let key = id("mp");
    let upload =
        f.fs.initiate_multipart(&key, &f.stamped(ExpirationPolicy::Manual))
            .await
            .unwrap();
    let e1 = f.part(&key, &upload, 1, b"a").await;
    let other = id("other");
    for (k, u) in [
        (&key, "0190f0f0-aaaa-7bbb-8ccc-dddddddddddd"),
        (&other, upload.as_str()),
        (&key, ""),
    ] {
        let is_not_found = |e: Error| matches!(e, Error::NotFound(_));
        assert!(is_not_found(
            f.fs.upload_part(k, u, 1, 1, single("x")).await.unwrap_err()
        ));
        assert!(is_not_found(
            f.fs.list_parts(k, u, None, None).await.unwrap_err()
        ));
        assert!(is_not_found(
            f.fs.complete_multipart(k, u, &parts(&[(1, &e1)]))
                .await
                .unwrap_err()
        ));
        f.fs.abort_multipart(k, u).await.unwrap();
    }
    // Aborting through another object's id did not touch the upload.
    assert_eq!(
        f.fs.list_parts(&key, &upload, None, None)
            .await
            .unwrap()
            .parts
            .len(),
        1
    );
    f.fs.abort_multipart(&key, &upload).await.unwrap();
    f.fs.abort_multipart(&key, &upload).await.unwrap();
    assert!(matches!(
        f.fs.complete_multipart(&key, &upload, &parts(&[(1, &e1)]))
            .await
            .unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(f.get(&key).await.is_none());
    assert_eq!(f.files_under("multipart"), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn bad_part_bodies_store_nothing() {
    let f = fixture();
    let key = id("mp");
    let upload =
        f.fs.initiate_multipart(&key, &f.stamped(ExpirationPolicy::Manual))
            .await
            .unwrap();
    let good = f.part(&key, &upload, 1, b"good").await;
    for (len, body) in [
        (5, single("good")),
        (3, single("good")),
        (4, chunked(b"goodbye", 2)),
    ] {
        let err =
            f.fs.upload_part(&key, &upload, 1, len, body)
                .await
                .unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    }
    let err =
        f.fs.upload_part(&key, &upload, 1, 8, failing_body(&[b"good"]))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ClientStream(_)), "{err:?}");
    let err =
        f.fs.upload_part(&key, &upload, 0, 1, single("x"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");

    let page = f.fs.list_parts(&key, &upload, None, None).await.unwrap();
    assert_eq!(page.parts.len(), 1);
    assert_eq!(
        (page.parts[0].etag.as_str(), page.parts[0].size),
        (good.as_str(), 4)
    );
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());

    // Empty parts are fine.
    let empty =
        f.fs.upload_part(&key, &upload, 2, 0, crate::stream::empty())
            .await
            .unwrap();
    assert_eq!(empty, sha_etag(b""));
}

// ---------------------------------------------------------------------------------------------
// Path confinement

#[test]
fn dangerous_names_cannot_be_constructed() {
    for key in [
        "..",
        "../x",
        "a/../../b",
        "./a",
        "/etc/passwd",
        "a//b",
        "a/",
        "nul\0",
    ] {
        assert!(ObjectKey::new(key).is_err(), "{key:?}");
    }
    for usecase in ["..", ".", "a/b", "a\\b", ""] {
        assert!(Usecase::new(usecase).is_err(), "{usecase:?}");
    }
    for scopes in ["a=..", "a=b/c", "../x=1", "a=.", "a.b=1"] {
        assert!(Scopes::parse(scopes).is_err(), "{scopes:?}");
    }
    for upload in [
        "..",
        "../x",
        "a/b",
        ".",
        "",
        "a\\b",
        "x.y",
        &"a".repeat(129),
    ] {
        assert!(!layout::valid_upload_id(upload), "{upload:?}");
    }
}

#[tokio::test]
async fn every_file_stays_under_the_root_whatever_the_id() {
    let f = fixture();
    let long_key = format!("{}/{}", "k".repeat(600), "z".repeat(400));
    let ids = vec![
        id_in("...", "_", "..."),
        id_in("..a", "_", ".hidden"),
        id_in("u", "_", "a"),
        id_in("u", "_", "a/b"),
        id_in("u", "_", "a/b/c"),
        id_in("u", "_", "%2e%2e/%2e%2e/etc/passwd"),
        id_in("u", "_", "..\\..\\windows"),
        id_in("u", "_", "~/.ssh/id_rsa"),
        id_in("u", "_", "emoji-😀/café"),
        id_in("u", "_", &long_key),
        id_in("u", "a=1;b=2", "k"),
        id_in("u", "a=1", "b.2/objects/k"),
        id_in("u.v", "x=$!+'()_-", "objects/objects"),
    ];
    for (n, oid) in ids.iter().enumerate() {
        let body = format!("payload {n}");
        f.put(oid, ExpirationPolicy::TimeToIdle(DAY), body.as_bytes())
            .await;
        let upload =
            f.fs.initiate_multipart(oid, &f.stamped(ExpirationPolicy::Manual))
                .await
                .unwrap();
        f.part(oid, &upload, 1, b"part").await;
    }
    f.clock.advance(DAY / 2);
    for (n, oid) in ids.iter().enumerate() {
        let (_, bytes) = f.get(oid).await.unwrap_or_else(|| panic!("{oid} lost"));
        assert_eq!(bytes, format!("payload {n}").as_bytes(), "{oid}");
        f.fs.extend_expiry(oid, ExpiryTarget::AfterNow(3 * DAY), f.clock.now())
            .await
            .unwrap();
    }
    // Some bogus upload ids must not reach the filesystem.
    for bogus in ["../../objects", "..", "a/b"] {
        f.fs.abort_multipart(&ids[0], bogus).await.unwrap();
    }
    f.fs.sweep_once(1000).await.unwrap();

    let root = f.dir.path().canonicalize().unwrap();
    let files = walk(&root);
    // 13 objects + 13 sidecars + 13 uploads of (description + part) + the lock file.
    assert_eq!(files.len(), 13 * 4 + 1);
    for file in files {
        let real = file.canonicalize().unwrap();
        assert!(real.starts_with(&root), "{real:?} escaped");
        let rel = real
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        let name_ok = match parts.as_slice() {
            ["LOCK"] => true,
            ["objects", a, b, name] => {
                let base = name.strip_suffix(".exp").unwrap_or(name);
                layout::is_object_name(base) && base[..2] == **a && base[2..4] == **b
            }
            ["multipart", upload, file] => {
                layout::valid_upload_id(upload)
                    && (*file == "upload.json" || layout::parse_part_file_name(file).is_some())
            }
            _ => false,
        };
        assert!(name_ok, "unexpected file {rel}");
    }
}
