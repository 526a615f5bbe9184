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
            .put(id, &m, single(Bytes::copy_from_slice(payload)))
            .await
            .unwrap();
        m
    }

    async fn get(&self, id: &ObjectId) -> Option<(Metadata, Vec<u8>)> {
        match self.fs.get(id, None).await.unwrap() {
            GetResponse::Found { metadata, body, .. } => {
                Some((metadata, read_to_vec(body).await.unwrap()))
            }
            GetResponse::NotFound => None,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A GET of `id` from its first byte on.
    async fn get_from_start(&self, id: &ObjectId) -> GetResponse {
        self.fs.get(id, Some(ByteRange::From(0))).await.unwrap()
    }

    /// Extends `id`'s expiry to `target`, judged at the clock's now.
    async fn extend(&self, id: &ObjectId, target: ExpiryTarget) -> ExtendOutcome {
        self.fs
            .extend_expiry(id, target, self.clock.now())
            .await
            .unwrap()
    }

    /// Starts a multipart upload of `key` with manual expiry.
    async fn initiate(&self, key: &ObjectId) -> String {
        self.fs
            .initiate_multipart(key, &self.stamped(ExpirationPolicy::Manual))
            .await
            .unwrap()
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

mod expiry;
mod multipart;

// ---------------------------------------------------------------------------------------------
// Objects

#[tokio::test]
async fn put_get_round_trip_streams_in_bounded_chunks() {
    let f = fixture();
    let big = payload(3 * 1024 * 1024 + 17, 1);
    let m = f.stamped(ExpirationPolicy::Manual);
    f.fs.put(&id("big"), &m, chunked(&big, 10_000))
        .await
        .unwrap();

    let GetResponse::Found {
        metadata,
        range,
        mut body,
    } = f.fs.get(&id("big"), None).await.unwrap()
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
    assert_eq!(f.fs.head(&id("big")).await.unwrap(), Some(metadata));
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
    f.fs.put(&id("k"), &second, single("new")).await.unwrap();
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
        } = f.fs.get(&id("r"), Some(range)).await.unwrap()
        else {
            panic!("{range:?} not found")
        };
        assert_eq!((cr.start, cr.end, cr.total), (start, end, 22), "{range:?}");
        assert_eq!(metadata.size, Some(22));
        assert_eq!(read_to_vec(body).await.unwrap(), expected, "{range:?}");
    }
    let GetResponse::RangeNotSatisfiable(m) =
        f.fs.get(&id("r"), Some(ByteRange::Bounded(100, 200)))
            .await
            .unwrap()
    else {
        panic!("expected 416")
    };
    assert_eq!(m.size, Some(22));

    f.put(&id("empty"), ExpirationPolicy::Manual, b"").await;
    assert!(matches!(
        f.get_from_start(&id("empty")).await,
        GetResponse::RangeNotSatisfiable(_)
    ));
    assert!(matches!(
        f.get_from_start(&id("missing")).await,
        GetResponse::NotFound
    ));
}

#[tokio::test]
async fn delete_is_idempotent_and_removes_the_sidecar() {
    let f = fixture();
    f.fs.delete(&id("never")).await.unwrap();
    f.put(&id("k"), ExpirationPolicy::TimeToLive(DAY), b"x")
        .await;
    let outcome = f.extend(&id("k"), ExpiryTarget::AfterNow(3 * DAY)).await;
    assert_eq!(outcome, ExtendOutcome::Satisfied);
    assert_eq!(f.files_under("objects").len(), 2, "object and sidecar");
    f.fs.delete(&id("k")).await.unwrap();
    assert!(f.get(&id("k")).await.is_none());
    assert_eq!(f.files_under("objects"), Vec::<PathBuf>::new());
    f.fs.delete(&id("k")).await.unwrap();
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
        f.fs.put(&id("k"), &m, failing_body(&[b"new", b"er"]))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ClientStream(_)), "{err:?}");
    assert_eq!(f.get(&id("k")).await.unwrap().1, b"old");
    assert_eq!(f.files_under("objects"), before);
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());

    // No previous object: still nothing.
    let err =
        f.fs.put(&id("fresh"), &m, failing_body(&[]))
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
    let put = f.fs.put(&key, &m, body);
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
                fs.put(&key, &m, body).await.unwrap();
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
    let err = f.fs.get(&id("kept"), None).await.unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
}

#[derive(Debug, Clone)]
enum Op {
    Put(usize, Vec<u8>),
    FailedPut(usize),
    Delete(usize),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (
            0..KEYS.len(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(k, v)| Op::Put(k, v)),
        (0..KEYS.len()).prop_map(Op::FailedPut),
        (0..KEYS.len()).prop_map(Op::Delete),
    ]
}

/// Keys chosen to collide in a naive layout (file vs directory, dots).
const KEYS: [&str; 5] = ["a", "a/b", "a/b/c", "...", ".a"];

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 24,
        rng_seed: proptest::test_runner::RngSeed::Fixed(11),
        ..proptest::test_runner::Config::default()
    })]

    /// The store behaves like a map under any sequence of puts, failed puts and deletes.
    #[test]
    fn behaves_like_a_map(ops in proptest::collection::vec(op(), 1..25)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let f = fixture();
            let mut model: std::collections::HashMap<usize, Vec<u8>> = Default::default();
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        f.put(&id(KEYS[k]), ExpirationPolicy::Manual, &v).await;
                        model.insert(k, v);
                    }
                    Op::FailedPut(k) => {
                        let m = f.stamped(ExpirationPolicy::Manual);
                        let body = failing_body(&[b"junk"]);
                        assert!(f.fs.put(&id(KEYS[k]), &m, body).await.is_err());
                    }
                    Op::Delete(k) => {
                        f.fs.delete(&id(KEYS[k])).await.unwrap();
                        model.remove(&k);
                    }
                }
            }
            for (k, key) in KEYS.iter().enumerate() {
                let got = f.get(&id(key)).await.map(|(m, b)| {
                    assert_eq!(m.size, Some(b.len() as u64));
                    b
                });
                assert_eq!(got.as_ref(), model.get(&k), "{key}");
            }
            assert_eq!(f.files_under("objects").len(), model.len());
            assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The shared conformance suites

fn filesystem(
    dirs: &crate::conformance::Dirs,
    clock: SharedClock,
) -> std::future::Ready<FilesystemBackend> {
    std::future::ready(FilesystemBackend::open(&dirs.next(), clock).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_backend_suite() {
    let root = tempfile::tempdir().unwrap();
    let dirs = crate::conformance::Dirs::new(root.path());
    crate::conformance::backend_suite(&|clock| filesystem(&dirs, clock)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_long_term_suite() {
    let root = tempfile::tempdir().unwrap();
    let dirs = crate::conformance::Dirs::new(root.path());
    crate::conformance::long_term_suite(&|clock| filesystem(&dirs, clock)).await;
}
