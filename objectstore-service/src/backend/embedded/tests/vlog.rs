//! The value log: the conformance suites with objects on both sides of the threshold, the
//! layout on disk, reads across compaction, the reclaiming of space, the migration of a
//! version-1 store, and `check` on pointers and segments.

use std::future::{Ready, ready};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use objectstore_types::ExpirationPolicy;
use rusqlite::Connection;

use super::{body, id, metadata};
use crate::backend::embedded::vlog::{VLOG_DIR, ValueLogSettings};
use crate::backend::embedded::{DB_FILE, EmbeddedBackend, schema};
use crate::backend::{
    Component, Expected, GetResponse, HighVolumeBackend, TieredGet, TieredWrite, Tombstone,
};
use crate::clock::{SharedClock, system};
use crate::conformance::{self, Dirs};
use crate::stream;

/// Settings with `threshold`, compaction off unless asked for (tests compact explicitly).
pub(super) fn settings(threshold: usize) -> ValueLogSettings {
    ValueLogSettings {
        value_log_threshold: threshold,
        compaction_bytes_per_second: 0,
        ..ValueLogSettings::default()
    }
}

/// `len` bytes that differ by `seed`.
pub(super) fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub(super) async fn put(b: &EmbeddedBackend, key: &str, payload: Vec<u8>) {
    let m = metadata(ExpirationPolicy::Manual, SystemTime::now());
    b.put(&id(key), &m, Bytes::from(payload)).await.unwrap();
}

pub(super) async fn get(b: &EmbeddedBackend, key: &str) -> Option<Vec<u8>> {
    match b.get(&id(key), None).await.unwrap() {
        TieredGet::NotFound => None,
        TieredGet::Tombstone(t) => panic!("{key}: expected an object, got {t:?}"),
        TieredGet::Object(found) => {
            let (m, bytes) = body(found).await;
            assert_eq!(
                m.size,
                Some(bytes.len() as u64),
                "{key}: size matches the bytes"
            );
            Some(bytes)
        }
    }
}

/// The segment files in the store's value log.
pub(super) fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(VLOG_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fresh store below `dirs` with a value-log `threshold`.
fn store(dirs: &Dirs, threshold: usize, clock: SharedClock) -> Ready<EmbeddedBackend> {
    ready(EmbeddedBackend::open_with(&dirs.next(), clock, settings(threshold)).unwrap())
}

/// The suites' payloads are a few bytes: a 4-byte threshold keeps some inline ("old",
/// "ttl", empty ones) and puts the others in the value log. The plain contract runs through
/// the tiered layer over the store (see [`crate::conformance::tiered_over`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suites_on_both_sides_of_the_threshold() {
    let root = tempfile::tempdir().unwrap();
    let dirs = Dirs::new(root.path());
    let make = |clock| store(&dirs, 4, clock);
    conformance::backend_suite(&conformance::tiered_over(&make)).await;
    conformance::high_volume_suite(&make).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_the_value_log_passes_the_suites() {
    use crate::backend::filesystem::FilesystemBackend;

    let root = tempfile::tempdir().unwrap();
    let dirs = Dirs::new(root.path());
    let hv = |clock| store(&dirs, 4, clock);
    let lt = |clock| ready(FilesystemBackend::open(&dirs.next(), clock).unwrap());
    conformance::backend_suite(&conformance::tiered_on(&hv, &lt, 64)).await;
}

#[tokio::test]
async fn payloads_above_the_threshold_live_in_segments() {
    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    put(&b, "small", bytes(1024, 1)).await;
    put(&b, "big", bytes(100 * 1024, 2)).await;
    assert_eq!(get(&b, "small").await, Some(bytes(1024, 1)));
    assert_eq!(get(&b, "big").await, Some(bytes(100 * 1024, 2)));
    assert_eq!(segment_files(dir.path()), ["0000000001.seg"]);

    // Only the big payload is in the log, and the row's payload column is empty.
    let conn = schema::open_reader(&dir.path().join(DB_FILE)).unwrap();
    let layout: Vec<(String, bool, Option<i64>)> = conn
        .prepare("SELECT path, payload IS NULL, vlen FROM objects ORDER BY path")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let expected = [
        (id("big").as_storage_path(), true, Some(100 * 1024)),
        (id("small").as_storage_path(), false, None),
    ];
    assert_eq!(layout, expected);
    let stats = b.value_log_stats().await.unwrap();
    assert_eq!((stats.segments, stats.live_bytes), (1, 100 * 1024));

    // Ranges are read from the log.
    match b
        .get(
            &id("big"),
            Some(objectstore_types::range::ByteRange::Bounded(10, 19)),
        )
        .await
        .unwrap()
        .into_object()
    {
        GetResponse::Found { range, body, .. } => {
            assert_eq!(
                range.map(|r| (r.start, r.end, r.total)),
                Some((10, 19, 100 * 1024))
            );
            assert_eq!(
                stream::read_to_vec(body).await.unwrap(),
                bytes(100 * 1024, 2)[10..20]
            );
        }
        other => panic!("{other:?}"),
    }
    let past = objectstore_types::range::ByteRange::From(100 * 1024);
    assert!(matches!(
        b.get(&id("big"), Some(past)).await.unwrap().into_object(),
        GetResponse::RangeNotSatisfiable(m) if m.size == Some(100 * 1024)
    ));

    // An overwrite and a delete turn their values into garbage; a tombstone over a value
    // too.
    put(&b, "big", bytes(50 * 1024, 3)).await;
    put(&b, "other", bytes(30 * 1024, 4)).await;
    b.delete(&id("other")).await.unwrap();
    let mut t = metadata(ExpirationPolicy::Manual, SystemTime::now());
    t.size = Some(5_000_000);
    let tombstone = Tombstone {
        target: id("big/rev"),
        metadata: t,
    };
    assert!(
        b.compare_and_write(
            &id("big"),
            &Expected::revision(None),
            TieredWrite::Tombstone(tombstone)
        )
        .await
        .unwrap()
    );
    assert!(matches!(
        b.get(&id("big"), None).await.unwrap(),
        TieredGet::Tombstone(_)
    ));
    let stats = b.value_log_stats().await.unwrap();
    assert_eq!(stats.live_bytes, 0, "{stats:?}");
    assert!(stats.reclaimable_bytes > 180 * 1024, "{stats:?}");
}

#[tokio::test]
async fn compaction_reclaims_garbage_and_keeps_every_live_value() {
    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    for round in 0..5u8 {
        for k in 0..20 {
            put(&b, &format!("k{k}"), bytes(20 * 1024 + k, round)).await;
        }
    }
    put(&b, "gone", bytes(40 * 1024, 9)).await;
    b.delete(&id("gone")).await.unwrap();
    let before = b.value_log_stats().await.unwrap();
    let live: u64 = (0..20).map(|k| 20 * 1024 + k).sum();
    assert_eq!(before.live_bytes, live);
    assert!(before.reclaimable_bytes > 4 * live, "{before:?}");

    let report = b.compact_now(Some(0.0)).await.unwrap();
    assert_eq!(report.segments_deleted, 1, "{report:?}");
    assert_eq!(report.moved_bytes, live);
    assert_eq!(report.damaged_values, 0);
    let after = b.value_log_stats().await.unwrap();
    assert_eq!(after.live_bytes, live);
    assert!(
        after.reclaimable_bytes < live / 50,
        "only record headers are left: {after:?}"
    );
    assert_eq!(segment_files(dir.path()), ["0000000002.seg"]);
    for k in 0..20 {
        assert_eq!(
            get(&b, &format!("k{k}")).await,
            Some(bytes(20 * 1024 + k, 4))
        );
    }
    assert_eq!(get(&b, "gone").await, None);
    // The same holds after a reopen, and the check is clean.
    drop(b);
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    for k in 0..20 {
        assert_eq!(
            get(&b, &format!("k{k}")).await,
            Some(bytes(20 * 1024 + k, 4))
        );
    }
    let check = b.check_value_log(false).await.unwrap();
    assert_eq!(check.problems(), 0, "{check:?}");
    assert_eq!(check.values, 20);
}

/// Readers never see a pointer into a deleted segment: values are read while compaction
/// moves them back and forth and deletes their segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_stay_correct_while_compaction_deletes_segments() {
    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    for k in 0..8u8 {
        put(&b, &format!("k{k}"), bytes(8 * 1024 + usize::from(k), k)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4u64)
        .map(|r| {
            let b = b.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let k = ((reads + r) % 8) as u8;
                    let got = get(&b, &format!("k{k}")).await;
                    assert_eq!(got, Some(bytes(8 * 1024 + usize::from(k), k)));
                    reads += 1;
                    tokio::task::yield_now().await;
                }
                reads
            })
        })
        .collect();
    let mut deleted = 0;
    for _ in 0..30 {
        deleted += b.compact_now(Some(0.0)).await.unwrap().segments_deleted;
    }
    stop.store(true, Ordering::SeqCst);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }
    assert!(
        deleted >= 29,
        "every pass deleted the previous segment: {deleted}"
    );
    assert!(reads > 0);
}

/// A located value stays readable after its segment was deleted (the open file keeps it).
#[tokio::test]
async fn a_located_value_survives_the_deletion_of_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(16)).unwrap();
    put(&b, "k", bytes(4096, 7)).await;
    let vlog = Arc::clone(&b.inner.vlog);
    let path = id("k").as_storage_path();
    let conn = schema::open_reader(&dir.path().join(DB_FILE)).unwrap();
    let row = super::sql::read_row_located(&conn, &vlog, &path, true).unwrap();
    let Some(super::Stored::Object {
        metadata,
        value: Some(value),
        ..
    }) = row
    else {
        panic!("expected a value-log object, got {row:?}");
    };
    let report = b.compact_now(Some(0.0)).await.unwrap();
    assert_eq!(report.segments_deleted, 1);
    assert!(!dir.path().join(VLOG_DIR).join("0000000001.seg").exists());
    let (_, read) = body(value.respond(metadata, None).unwrap()).await;
    assert_eq!(read, bytes(4096, 7));
}

#[tokio::test]
async fn the_background_compactor_reclaims_space() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ValueLogSettings {
        value_log_threshold: 1024,
        value_log_segment_bytes: 1024 * 1024,
        compaction_bytes_per_second: 256 * 1024 * 1024,
        compaction_garbage_ratio: 0.5,
    };
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings).unwrap();
    // 40 rounds of 10 values of 20 KiB: about 8 MiB written, 200 KiB live.
    for round in 0..40u8 {
        for k in 0..10 {
            put(&b, &format!("k{k}"), bytes(20 * 1024, round)).await;
        }
    }
    // Wait (without a time limit of our own: the test runner's bounds it) until the
    // compactor brought the log under twice its live bytes.
    loop {
        let stats = b.value_log_stats().await.unwrap();
        if stats.bytes < 2 * stats.live_bytes + 2 * 1024 * 1024 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for k in 0..10 {
        assert_eq!(get(&b, &format!("k{k}")).await, Some(bytes(20 * 1024, 39)));
    }
    b.join().await;
}

/// A store written by the version-1 layout (every payload inline) opens, migrates to
/// version 2 without rewriting rows, reads its old rows and writes new ones to the log.
#[tokio::test]
async fn a_version_1_store_migrates_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let old_big = id("old-big").as_storage_path();
    let old_small = id("old-small").as_storage_path();
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(schema::SCHEMA_V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let m = metadata(ExpirationPolicy::Manual, SystemTime::now());
        for (path, payload) in [(&old_big, bytes(300 * 1024, 1)), (&old_small, bytes(10, 2))] {
            let mut m = m.clone();
            m.size = Some(payload.len() as u64);
            conn.execute(
                "INSERT INTO objects (path, kind, metadata, expires, target, payload)
                 VALUES (?1, 0, ?2, NULL, NULL, ?3)",
                rusqlite::params![path, schema::encode_metadata(&m).unwrap(), payload],
            )
            .unwrap();
        }
    }
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    let version: i64 = schema::open_reader(&dir.path().join(DB_FILE))
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
    assert_eq!(get(&b, "old-big").await, Some(bytes(300 * 1024, 1)));
    assert_eq!(get(&b, "old-small").await, Some(bytes(10, 2)));
    assert_eq!(b.value_log_stats().await.unwrap().live_bytes, 0);
    // New writes above the threshold, including an overwrite of an old row, go to the log.
    put(&b, "old-big", bytes(200 * 1024, 3)).await;
    put(&b, "new", bytes(5000, 4)).await;
    assert_eq!(get(&b, "old-big").await, Some(bytes(200 * 1024, 3)));
    assert_eq!(get(&b, "new").await, Some(bytes(5000, 4)));
    assert_eq!(
        b.value_log_stats().await.unwrap().live_bytes,
        200 * 1024 + 5000
    );
    let check = b.check_value_log(false).await.unwrap();
    assert_eq!(check.problems(), 0, "{check:?}");
    drop(b);
    // Reopening an already migrated store changes nothing.
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    assert_eq!(get(&b, "old-small").await, Some(bytes(10, 2)));
    assert_eq!(get(&b, "old-big").await, Some(bytes(200 * 1024, 3)));
}

/// A version-2 store (accounting by triggers) migrates to version 3, which drops the
/// triggers: each write that sets, replaces or removes a pointer then accounts exactly once.
#[tokio::test]
async fn a_version_2_store_loses_its_triggers_and_accounts_each_write_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(schema::SCHEMA_V1).unwrap();
        conn.execute_batch(schema::SCHEMA_V2).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
    }
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    let triggers: i64 = schema::open_reader(&dir.path().join(DB_FILE))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(triggers, 0);

    put(&b, "log-to-log", bytes(10 * 1024, 1)).await;
    put(&b, "log-to-log", bytes(12 * 1024, 2)).await;
    put(&b, "log-to-inline", bytes(20 * 1024, 3)).await;
    put(&b, "log-to-inline", bytes(100, 4)).await;
    put(&b, "deleted", bytes(30 * 1024, 5)).await;
    b.delete(&id("deleted")).await.unwrap();
    put(&b, "tombstoned", bytes(40 * 1024, 6)).await;
    let mut t = metadata(ExpirationPolicy::Manual, SystemTime::now());
    t.size = Some(5_000_000);
    let tombstone = Tombstone {
        target: id("tombstoned/rev"),
        metadata: t,
    };
    let write = TieredWrite::Tombstone(tombstone);
    assert!(
        b.compare_and_write(&id("tombstoned"), &Expected::revision(None), write)
            .await
            .unwrap()
    );
    put(&b, "swapped-out", bytes(50 * 1024, 7)).await;
    let write = TieredWrite::Delete;
    assert!(
        b.compare_and_write(&id("swapped-out"), &Expected::revision(None), write)
            .await
            .unwrap()
    );
    let ttl = ExpirationPolicy::TimeToLive(std::time::Duration::from_secs(1));
    let m = metadata(ttl, SystemTime::now());
    b.put(&id("expired"), &m, Bytes::from(bytes(60 * 1024, 8)))
        .await
        .unwrap();
    let later = SystemTime::now() + std::time::Duration::from_secs(3600);
    b.delete_if_expired(&id("expired"), later).await.unwrap();

    let stats = b.value_log_stats().await.unwrap();
    assert_eq!(stats.live_bytes, 12 * 1024, "{stats:?}");
    let check = b.check_value_log(false).await.unwrap();
    assert_eq!(check.problems(), 0, "{check:?}");
    assert_eq!(check.values, 1);
}

/// `check` finds a damaged payload, a missing segment and wrong accounting, and repairs them.
#[tokio::test]
async fn check_finds_and_repairs_damage() {
    use std::os::unix::fs::FileExt;

    let dir = tempfile::tempdir().unwrap();
    {
        let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
        put(&b, "damaged", bytes(4096, 1)).await;
        put(&b, "fine", bytes(4096, 2)).await;
        let clean = b.check_value_log(false).await.unwrap();
        assert_eq!((clean.problems(), clean.values), (0, 2), "{clean:?}");
        b.join().await;
    }
    // Flip a byte in the middle of the first record's payload.
    let segment = dir.path().join(VLOG_DIR).join("0000000001.seg");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.write_all_at(&[0xff], 100).unwrap();
    drop(file);
    // A row pointing into a segment whose file is gone (accounted there, as the store's own
    // statements would), then wrong accounting for segment 1.
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute(
            "UPDATE objects SET vseg = 9 WHERE path = ?1",
            [id("fine").as_storage_path()],
        )
        .unwrap();
        conn.execute("INSERT INTO vlog_segments (id, live) VALUES (9, 4096)", [])
            .unwrap();
        conn.execute("UPDATE vlog_segments SET live = 1 WHERE id = 1", [])
            .unwrap();
    }
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    assert_eq!(b.inner.opened.missing_segments, [9]);
    let found = b.check_value_log(false).await.unwrap();
    let lost: Vec<(String, &str)> = found
        .lost_values
        .iter()
        .map(|l| (l.id.clone(), l.reason.as_str()))
        .collect();
    assert_eq!(
        lost,
        [
            (
                id("damaged").as_storage_path(),
                "the payload's checksum does not match"
            ),
            (id("fine").as_storage_path(), "its segment is missing"),
        ]
    );
    let accounting: Vec<(u64, u64, u64)> = found
        .accounting_errors
        .iter()
        .map(|a| (a.segment, a.recorded, a.actual))
        .collect();
    assert_eq!(accounting, [(1, 1, 4096)]);
    assert_eq!(found.unrepaired(), 3);

    let repaired = b.check_value_log(true).await.unwrap();
    assert_eq!(repaired.unrepaired(), 0, "{repaired:?}");
    assert!(repaired.errors.is_empty(), "{repaired:?}");
    assert_eq!(
        get(&b, "damaged").await,
        None,
        "a lost object reads as absent"
    );
    assert_eq!(get(&b, "fine").await, None);
    let again = b.check_value_log(false).await.unwrap();
    assert_eq!(again.problems(), 0, "{again:?}");
}

/// Compaction does not move a damaged record (it would spread bad bytes under a good
/// checksum) and keeps its segment; the healthy values move.
#[tokio::test]
async fn compaction_leaves_a_damaged_record_and_its_segment_alone() {
    use std::os::unix::fs::FileExt;

    let dir = tempfile::tempdir().unwrap();
    let b = EmbeddedBackend::open_with(dir.path(), system(), settings(1024)).unwrap();
    put(&b, "damaged", bytes(4096, 1)).await;
    put(&b, "fine", bytes(4096, 2)).await;
    let segment = dir.path().join(VLOG_DIR).join("0000000001.seg");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.write_all_at(&[0xff], 100).unwrap();
    let report = b.compact_now(Some(0.0)).await.unwrap();
    assert_eq!(
        (
            report.damaged_values,
            report.segments_deleted,
            report.moved_bytes
        ),
        (1, 0, 4096),
        "{report:?}"
    );
    assert!(segment.exists());
    assert_eq!(get(&b, "fine").await, Some(bytes(4096, 2)));
    let check = b.check_value_log(false).await.unwrap();
    assert_eq!(check.lost_values.len(), 1, "{check:?}");
}
