//! The value log's crash matrix: the write protocol and the compaction protocol stop at
//! each step (an injected failure there, after which the store is dropped like a crashed
//! process: nothing of the protocol runs any more), the store is reopened, and then:
//!
//! * every object holds its last acknowledged value (an unacknowledged write may or may
//!   not have landed; here the failed group is known to be rolled back, so it did not);
//! * `check` finds no lost value and exact accounting;
//! * a full compaction reclaims everything the crash left (unreferenced tails, a dropped
//!   segment's file is gone at open) and every value survives it;
//! * the store keeps accepting writes.
//!
//! The SIGKILL half (a real process killed among appends, commits and compaction moves) is
//! `durability::acknowledged_value_log_writes_survive_sigkill_during_compaction`.

use std::path::Path;

use bytes::Bytes;

use super::id;
use super::vlog::{bytes, get, put, segment_files, settings};
use crate::backend::embedded::EmbeddedBackend;
use crate::backend::embedded::vlog::faults::Step;
use crate::backend::{Component, HighVolumeBackend};
use crate::clock::system;

const THRESHOLD: usize = 1024;

fn open(dir: &Path) -> EmbeddedBackend {
    EmbeddedBackend::open_with(dir, system(), settings(THRESHOLD)).unwrap()
}

/// The values every case starts from: two in the log (one overwritten, so its first
/// segment holds garbage), one inline.
async fn seed(b: &EmbeddedBackend) {
    put(b, "a", bytes(20 * 1024, 1)).await;
    put(b, "b", bytes(30 * 1024, 2)).await;
    put(b, "c", bytes(100, 3)).await;
    put(b, "a", bytes(25 * 1024, 4)).await;
}

async fn assert_seeded(b: &EmbeddedBackend) {
    assert_eq!(get(b, "a").await, Some(bytes(25 * 1024, 4)));
    assert_eq!(get(b, "b").await, Some(bytes(30 * 1024, 2)));
    assert_eq!(get(b, "c").await, Some(bytes(100, 3)));
}

/// Runs the protocol up to `step` (where it fails), "crashes", reopens and checks.
async fn crash_at(step: Step) {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = open(dir.path());
        seed(&b).await;
        b.inner.vlog.faults().arm(step);
        match step {
            Step::Sync => {
                // The group's sync fails: the write is not acknowledged.
                let m = objectstore_types::Metadata::default();
                let failed = b.put(&id("b"), &m, Bytes::from(bytes(40 * 1024, 9))).await;
                assert!(failed.is_err(), "the write of a failed group must fail");
            }
            Step::AfterMoves | Step::AfterDrop => {
                let failed = b.compact_now(Some(0.0)).await;
                assert!(failed.is_err(), "{step:?}: the compaction must stop there");
            }
        }
        // The "crash": the handle goes away without anything else happening.
    }
    let b = open(dir.path());
    assert_seeded(&b).await;
    let removed = b.inner.opened.removed_segments.clone();
    match step {
        // The dropped segment's file outlived its accounting row: removed at open.
        Step::AfterDrop => assert_eq!(removed, [1], "{step:?}"),
        _ => assert_eq!(removed, Vec::<u64>::new(), "{step:?}"),
    }
    let check = b.check_value_log(false).await.unwrap();
    assert_eq!(check.problems(), 0, "{step:?}: {check:?}");
    assert!(check.values == 2, "{step:?}: {check:?}");

    // Everything the crash left is reclaimed by a full compaction.
    let report = b.compact_now(Some(0.0)).await.unwrap();
    assert_eq!(report.damaged_values, 0, "{step:?}: {report:?}");
    let stats = b.value_log_stats().await.unwrap();
    assert_eq!(stats.live_bytes, 55 * 1024, "{step:?}: {stats:?}");
    assert!(stats.reclaimable_bytes < 1024, "{step:?}: {stats:?}");
    assert_eq!(segment_files(dir.path()).len(), 1, "{step:?}");
    assert_seeded(&b).await;

    // And the store goes on.
    put(&b, "d", bytes(10 * 1024, 5)).await;
    assert_eq!(get(&b, "d").await, Some(bytes(10 * 1024, 5)));
    let check = b.check_value_log(false).await.unwrap();
    assert_eq!(check.problems(), 0, "{step:?}: {check:?}");
}

#[tokio::test]
async fn crash_before_commit_leaves_only_an_unreferenced_tail() {
    crash_at(Step::Sync).await;
}

#[tokio::test]
async fn crash_after_the_pointer_swaps_keeps_the_moved_values() {
    crash_at(Step::AfterMoves).await;
}

#[tokio::test]
async fn crash_after_dropping_a_segment_deletes_its_file_at_open() {
    crash_at(Step::AfterDrop).await;
}

/// After a failed sync the segment is sealed: the same process writes on into a new one.
#[tokio::test]
async fn a_failed_sync_seals_the_segment_and_writing_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    seed(&b).await;
    b.inner.vlog.faults().arm(Step::Sync);
    let m = objectstore_types::Metadata::default();
    assert!(
        b.put(&id("b"), &m, Bytes::from(bytes(40 * 1024, 9)))
            .await
            .is_err()
    );
    assert_eq!(get(&b, "b").await, Some(bytes(30 * 1024, 2)));
    put(&b, "b", bytes(40 * 1024, 9)).await;
    assert_eq!(get(&b, "b").await, Some(bytes(40 * 1024, 9)));
    assert_eq!(
        segment_files(dir.path()),
        ["0000000001.seg", "0000000002.seg"]
    );
    let check = b.check_value_log(false).await.unwrap();
    assert_eq!(check.problems(), 0, "{check:?}");
}

/// A segment file nothing references (a crash before the first commit into it) is removed
/// at open; a referenced one is kept.
#[tokio::test]
async fn unreferenced_segment_files_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = open(dir.path());
        seed(&b).await;
        b.join().await;
    }
    let stray = dir.path().join("vlog").join("0000000007.seg");
    std::fs::write(&stray, b"OSVLSEG1 and a torn record").unwrap();
    std::fs::write(dir.path().join("vlog").join("notes.txt"), b"not a segment").unwrap();
    let b = open(dir.path());
    assert_eq!(b.inner.opened.removed_segments, [7]);
    assert!(!stray.exists());
    assert!(dir.path().join("vlog").join("notes.txt").exists());
    assert_seeded(&b).await;
    // Ids never go back: the next segment comes after the removed one.
    put(&b, "e", bytes(5000, 6)).await;
    assert!(segment_files(dir.path()).contains(&"0000000008.seg".to_owned()));
}
