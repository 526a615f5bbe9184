//! Crash durability: every write acknowledged before a SIGKILL is there after reopening.
//!
//! The parent test re-executes the current test binary, running only [`crash_child`] with
//! [`CHILD_DIR`] set. The child writes objects from several tasks and prints `ACK <key>`
//! after each `Ok`. The parent SIGKILLs it after a number of acknowledgements, while writes
//! are still in flight, collects every `ACK` line the child managed to print, reopens the
//! store and checks each acknowledged key holds its exact bytes.
//!
//! In the value-log mode ([`CHILD_MODE`] = `vlog`) the child's store has a 4 KiB threshold
//! (most payloads go to the log), 1 MiB segments and an eager compactor, and the writers
//! also rewrite earlier keys with the same bytes: the kill lands among appends, syncs,
//! commits, compaction moves and segment deletions. After the reopen, `check` must find
//! the value log clean.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{body, id};
use crate::backend::HighVolumeBackend;
use crate::backend::embedded::{EmbeddedBackend, ValueLogSettings};
use crate::clock::system;

/// Set (to the store's directory) only in the child process.
const CHILD_DIR: &str = "OBJECTSTORE_EMBEDDED_CRASH_CHILD_DIR";
/// `vlog` in the value-log mode (see the module docs).
const CHILD_MODE: &str = "OBJECTSTORE_EMBEDDED_CRASH_CHILD_MODE";
/// The child's test name, for `--exact`.
const CHILD_TEST: &str = "backend::embedded::tests::durability::crash_child";
/// Acknowledgements to wait for before the kill.
const KILL_AFTER: usize = 400;

/// The bytes stored under `key`: derived from the key, 1 B to ~16 KiB.
fn payload(key: &str) -> Vec<u8> {
    let digest = Sha256::digest(key.as_bytes());
    let len = 1 + usize::from(digest[0]) * 64 + usize::from(digest[1]);
    (0..len)
        .map(|i| digest[i % 32].wrapping_add((i / 32) as u8))
        .collect()
}

/// The child: writes until killed (or, should the parent vanish, until stdout breaks or a
/// minute passed). Does nothing in a normal test run.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let vlog_mode = std::env::var(CHILD_MODE).is_ok_and(|m| m == "vlog");
    runtime.block_on(async move {
        let backend = if vlog_mode {
            EmbeddedBackend::open_with(Path::new(&dir), system(), vlog_settings()).unwrap()
        } else {
            EmbeddedBackend::open(Path::new(&dir), system()).unwrap()
        };
        let give_up = Instant::now() + Duration::from_secs(60);
        let writers: Vec<_> = (0..8)
            .map(|task| {
                let backend = backend.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        if Instant::now() > give_up {
                            break;
                        }
                        // The value-log mode rewrites every other key once, with the same
                        // bytes, to give the compactor garbage to reclaim.
                        let key = if vlog_mode && n % 2 == 1 {
                            format!("w{task}-{}", n / 2)
                        } else {
                            format!("w{task}-{n}")
                        };
                        let metadata = objectstore_types::Metadata::default();
                        let body = bytes::Bytes::from(payload(&key));
                        backend.put(&id(&key), &metadata, body).await.unwrap();
                        let mut out = std::io::stdout().lock();
                        if writeln!(out, "ACK {key}")
                            .and_then(|()| out.flush())
                            .is_err()
                        {
                            break;
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
    });
}

/// Kills the child if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value-log mode's settings: most payloads in the log, small segments, a compactor
/// that is always busy.
fn vlog_settings() -> ValueLogSettings {
    ValueLogSettings {
        value_log_threshold: 4096,
        value_log_segment_bytes: 1024 * 1024,
        compaction_bytes_per_second: 1024 * 1024 * 1024,
        compaction_garbage_ratio: 0.05,
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    crash_and_verify("inline");
}

#[test]
fn acknowledged_value_log_writes_survive_sigkill_during_compaction() {
    crash_and_verify("vlog");
}

fn crash_and_verify(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_MODE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut acked = Vec::new();
    let mut killed = false;
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        // A line cut off by the kill has no newline: not a complete acknowledgement.
        let Some(key) = line.strip_prefix("ACK ").and_then(|l| l.strip_suffix('\n')) else {
            continue;
        };
        acked.push(key.to_owned());
        if acked.len() == KILL_AFTER && !killed {
            child.0.kill().unwrap(); // SIGKILL
            killed = true;
        }
    }
    let status = child.0.wait().unwrap();
    assert!(killed, "the child stopped on its own: {status}");
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(acked.len() >= KILL_AFTER);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let backend = if mode == "vlog" {
            EmbeddedBackend::open_with(dir.path(), system(), vlog_settings()).unwrap()
        } else {
            EmbeddedBackend::open(dir.path(), system()).unwrap()
        };
        for key in &acked {
            let response = backend.get(&id(key), None).await.unwrap().into_object();
            let (metadata, bytes) = body(response).await;
            assert_eq!(bytes, payload(key), "{key}");
            assert_eq!(metadata.size, Some(bytes.len() as u64));
        }
        let check = backend.check_value_log(false).await.unwrap();
        assert_eq!(check.problems(), 0, "{check:?}");
        if mode == "vlog" {
            assert!(
                check.values > 0,
                "payloads above the threshold are in the log"
            );
        }
    });
}
