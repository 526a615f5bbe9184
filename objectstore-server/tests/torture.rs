//! Crash torture: the real binary (zero-config embedded + filesystem layout in a temp dir)
//! under a concurrent mixed workload, killed with SIGKILL at seeded random moments and
//! restarted, many times.
//!
//! **What it checks**
//!
//! * Every acknowledged write reads back with exactly its bytes and metadata, and every
//!   acknowledged delete stays deleted, unless a later acknowledged operation on the key
//!   superseded it. An operation without an answer (in flight at the kill, or answered with
//!   an error) may or may not have landed: per key the model keeps the last acknowledged
//!   state plus the unacknowledged operations issued after it, and a read must match one of
//!   them (then it becomes the acknowledged state: it survived a restart).
//! * After the last restart (start-up recovery) and a graceful stop, `objectstore check`
//!   (with no grace, so any leaked blob counts) finds nothing and exits 0; while the
//!   server runs, it refuses with exit 2 because the embedded store is locked.
//! * The embedded store runs with a 4 KiB value-log threshold, 1 MiB segments and an eager
//!   compactor ([`VALUE_LOG`]), so most small puts land in the value log and the kills hit
//!   appends, syncs, commits and compaction moves too; `check` then verifies every
//!   pointer, segment and the accounting.
//!
//! Operations on one key are sequential (each worker owns its keys), so "later" is well
//! defined. The workload: small and large puts (across the 1 MiB threshold), overwrites,
//! deletes, multipart uploads, and batch requests.
//!
//! Seeded: the seed is printed, `OS_TORTURE_SEED` replays one. Cycles: `OS_TORTURE_CYCLES`,
//! else 20 when `CI=true` and 5 otherwise; bounded by a time budget too.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::binary::{ServerProcess, objectstore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;

const WORKERS: usize = 4;
const KEYS_PER_WORKER: usize = 4;
/// No new cycle starts after this much time.
const BUDGET: Duration = Duration::from_secs(60);
/// The embedded store's value-log settings for every start and for `check`.
const VALUE_LOG: &[(&str, &str)] = &[
    ("OS__STORAGE__HIGH_VOLUME__VALUE_LOG_THRESHOLD", "4096"),
    (
        "OS__STORAGE__HIGH_VOLUME__VALUE_LOG_SEGMENT_BYTES",
        "1048576",
    ),
    ("OS__STORAGE__HIGH_VOLUME__COMPACTION_GARBAGE_RATIO", "0.05"),
    (
        "OS__STORAGE__HIGH_VOLUME__COMPACTION_BYTES_PER_SECOND",
        "1073741824",
    ),
];

fn value_log_env() -> Vec<(&'static str, String)> {
    VALUE_LOG
        .iter()
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect()
}

/// What a key holds: `None` is absent (deleted or never written).
type State = Option<Value>;

/// An object as written: its payload is derived from `seed` and `len`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Value {
    seed: u64,
    len: usize,
    content_type: String,
    note: String,
}

impl Value {
    fn new(rng: &mut StdRng, len: usize) -> Self {
        let seed = rng.random::<u64>();
        Self {
            seed,
            len,
            content_type: format!("application/x-torture-{}", seed % 7),
            note: format!("n{seed:x}"),
        }
    }

    /// Printable bytes (safe inside a batch body), different per seed.
    fn bytes(&self) -> Vec<u8> {
        let mut x = self.seed | 1;
        (0..self.len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b'a' + (x % 26) as u8
            })
            .collect()
    }
}

/// The model of one key.
#[derive(Debug, Default)]
struct Key {
    acked: State,
    /// Operations issued after `acked` whose outcome is unknown.
    pending: Vec<State>,
}

struct Env {
    client: reqwest::Client,
    base: String,
}

impl Env {
    fn url(&self, route: &str, key: &str, query: &str) -> String {
        format!("{}/v1/{route}/torture/_/{key}{query}", self.base)
    }
}

fn key_name(worker: usize, i: usize) -> String {
    format!("w{worker}/k{i}")
}

/// How one request ended.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Acked,
    /// Unknown (error answer, or no answer: the server died).
    Unknown,
}

fn outcome(result: &reqwest::Result<reqwest::Response>) -> Outcome {
    match result {
        Ok(r) if r.status().is_success() => Outcome::Acked,
        _ => Outcome::Unknown,
    }
}

/// Acknowledged and unknown operations, over the whole run.
static ACKED: AtomicUsize = AtomicUsize::new(0);
static UNKNOWN: AtomicUsize = AtomicUsize::new(0);

fn settle(model: &mut Key, state: State, outcome: Outcome) {
    let counter = match outcome {
        Outcome::Acked => &ACKED,
        Outcome::Unknown => &UNKNOWN,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    match outcome {
        Outcome::Acked => {
            model.acked = state;
            model.pending.clear();
        }
        Outcome::Unknown => model.pending.push(state),
    }
}

async fn put(env: &Env, key: &str, value: &Value) -> Outcome {
    let r = env
        .client
        .put(env.url("objects", key, ""))
        .header("content-type", &value.content_type)
        .header("x-snme-note", &value.note)
        .body(value.bytes())
        .send()
        .await;
    outcome(&r)
}

async fn delete(env: &Env, key: &str) -> Outcome {
    outcome(&env.client.delete(env.url("objects", key, "")).send().await)
}

/// Initiate, two parts, complete. `None` when it failed before the complete (nothing can
/// have changed the object then).
async fn multipart(env: &Env, key: &str, value: &Value) -> Option<Outcome> {
    let r = env
        .client
        .put(env.url("objects:multipart", key, ""))
        .header("content-type", &value.content_type)
        .header("x-snme-note", &value.note)
        .send()
        .await
        .ok()
        .filter(|r| r.status().is_success())?;
    let doc: serde_json::Value = serde_json::from_slice(&r.bytes().await.ok()?).ok()?;
    let upload_id = doc["upload_id"].as_str()?.to_owned();
    let bytes = value.bytes();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut parts = Vec::new();
    for (n, data) in [(1, a), (2, b)] {
        let r = env
            .client
            .put(env.url(
                "objects:multipart:parts",
                key,
                &format!("?upload_id={upload_id}&part_number={n}"),
            ))
            .header("content-length", data.len())
            .body(data.to_vec())
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())?;
        let doc: serde_json::Value = serde_json::from_slice(&r.bytes().await.ok()?).ok()?;
        parts.push(serde_json::json!({"part_number": n, "etag": doc["etag"].as_str()?}));
    }
    let r = env
        .client
        .post(env.url(
            "objects:multipart:complete",
            key,
            &format!("?upload_id={upload_id}"),
        ))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "parts": parts }).to_string())
        .send()
        .await;
    let Ok(r) = r else {
        return Some(Outcome::Unknown);
    };
    // The complete streams its answer: 200 and then the document, which may be an error.
    let ok = r.status().is_success();
    let doc: Option<serde_json::Value> = r
        .text()
        .await
        .ok()
        .and_then(|t| serde_json::from_str(t.trim_start()).ok());
    Some(match doc {
        Some(doc) if ok && doc.get("key").is_some() && doc.get("error").is_none() => Outcome::Acked,
        _ => Outcome::Unknown,
    })
}

/// A batch of inserts and deletes on distinct keys; the outcome per operation.
async fn batch(env: &Env, ops: &[(String, State)]) -> Vec<Outcome> {
    let mut body = Vec::new();
    for (key, state) in ops {
        body.extend_from_slice(b"--TortureB\r\ncontent-disposition: form-data; name=\"part\"\r\n");
        body.extend_from_slice(format!("x-sn-batch-operation-key: {key}\r\n").as_bytes());
        match state {
            Some(v) => {
                body.extend_from_slice(b"x-sn-batch-operation-kind: insert\r\n");
                body.extend_from_slice(format!("content-type: {}\r\n", v.content_type).as_bytes());
                body.extend_from_slice(format!("x-snme-note: {}\r\n\r\n", v.note).as_bytes());
                body.extend_from_slice(&v.bytes());
            }
            None => body.extend_from_slice(b"x-sn-batch-operation-kind: delete\r\n\r\n"),
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--TortureB--\r\n");
    let unknown = || ops.iter().map(|_| Outcome::Unknown).collect();
    let r = env
        .client
        .post(format!("{}/v1/objects:batch/torture/_/", env.base))
        .header("content-type", "multipart/form-data; boundary=TortureB")
        .body(body)
        .send()
        .await;
    let Ok(r) = r else { return unknown() };
    if !r.status().is_success() {
        return unknown();
    }
    let Ok(text) = r.text().await else {
        return unknown();
    };
    let mut acked = vec![false; ops.len()];
    for part in text.split("--os-boundary-").skip(1) {
        let header = |name: &str| {
            part.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        if let (Some(i), Some(s)) = (
            header("x-sn-batch-operation-index"),
            header("x-sn-batch-operation-status"),
        ) && let (Ok(i), Some(code)) = (i.parse::<usize>(), s.split(' ').next())
            && code.starts_with('2')
            && i < acked.len()
        {
            acked[i] = true;
        }
    }
    acked
        .into_iter()
        .map(|a| if a { Outcome::Acked } else { Outcome::Unknown })
        .collect()
}

/// One worker: random operations on its keys until `stop`.
async fn worker(
    env: Arc<Env>,
    models: Arc<Vec<Mutex<Key>>>,
    w: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !stop.load(Ordering::SeqCst) {
        let i = rng.random_range(0..KEYS_PER_WORKER);
        let key = key_name(w, i);
        let model = &models[w * KEYS_PER_WORKER + i];
        match rng.random_range(0..100) {
            0..35 => {
                let v = {
                    let len = rng.random_range(1..64 * 1024);
                    Value::new(&mut rng, len)
                };
                let o = put(&env, &key, &v).await;
                settle(&mut *model.lock().await, Some(v), o);
            }
            35..50 => {
                let v = {
                    let len = rng.random_range(1536 * 1024..3 * 1024 * 1024);
                    Value::new(&mut rng, len)
                };
                let o = put(&env, &key, &v).await;
                settle(&mut *model.lock().await, Some(v), o);
            }
            50..65 => {
                let o = delete(&env, &key).await;
                settle(&mut *model.lock().await, None, o);
            }
            65..80 => {
                let v = {
                    let len = rng.random_range(1024..256 * 1024);
                    Value::new(&mut rng, len)
                };
                if let Some(o) = multipart(&env, &key, &v).await {
                    settle(&mut *model.lock().await, Some(v), o);
                }
            }
            _ => {
                let j = (i + 1 + rng.random_range(0..KEYS_PER_WORKER - 1)) % KEYS_PER_WORKER;
                let mut ops = Vec::new();
                for k in [i, j] {
                    let state = if rng.random_bool(0.7) {
                        Some({
                            let len = rng.random_range(1..16 * 1024);
                            Value::new(&mut rng, len)
                        })
                    } else {
                        None
                    };
                    ops.push((k, state));
                }
                let named: Vec<(String, State)> = ops
                    .iter()
                    .map(|(k, s)| (key_name(w, *k), s.clone()))
                    .collect();
                let outcomes = batch(&env, &named).await;
                for ((k, state), o) in ops.into_iter().zip(outcomes) {
                    settle(&mut *models[w * KEYS_PER_WORKER + k].lock().await, state, o);
                }
            }
        }
    }
}

/// Reads every key and checks it against the model; the state read becomes acknowledged.
async fn verify(env: &Env, models: &[Mutex<Key>], cycle: usize) {
    for w in 0..WORKERS {
        for i in 0..KEYS_PER_WORKER {
            let key = key_name(w, i);
            let r = env
                .client
                .get(env.url("objects", &key, ""))
                .send()
                .await
                .expect("GET after restart");
            let read: Option<(Vec<u8>, String, String)> = match r.status().as_u16() {
                404 => None,
                200 => {
                    let header = |n: &str| {
                        r.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let (ct, note) = (header("content-type"), header("x-snme-note"));
                    Some((r.bytes().await.expect("body").to_vec(), ct, note))
                }
                other => panic!("cycle {cycle}: GET {key} answered {other}"),
            };
            let mut model = models[w * KEYS_PER_WORKER + i].lock().await;
            let matches = |state: &State| match (state, &read) {
                (None, None) => true,
                (Some(v), Some((bytes, ct, note))) => {
                    *ct == v.content_type && *note == v.note && *bytes == v.bytes()
                }
                _ => false,
            };
            let found = std::iter::once(&model.acked)
                .chain(model.pending.iter())
                .find(|s| matches(s))
                .cloned();
            let Some(state) = found else {
                panic!(
                    "cycle {cycle}: {key} reads {} which is neither the acknowledged state {:?} \
                     nor one of the unacknowledged operations {:?}",
                    match &read {
                        None => "absent".to_owned(),
                        Some((b, ct, note)) => format!("{} bytes, {ct}, note {note}", b.len()),
                    },
                    model.acked,
                    model.pending
                );
            };
            model.acked = state;
            model.pending.clear();
        }
    }
}

/// A line on stderr, written directly so that it shows even when the test passes (the
/// seed must be visible to replay a run).
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn seed() -> u64 {
    match std::env::var("OS_TORTURE_SEED") {
        Ok(s) => s.parse().expect("OS_TORTURE_SEED is a u64"),
        Err(_) => rand::random(),
    }
}

fn cycles() -> usize {
    if let Ok(n) = std::env::var("OS_TORTURE_CYCLES") {
        return n.parse().expect("OS_TORTURE_CYCLES is a number");
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        20
    } else {
        5
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_write_and_leaves_a_clean_store() {
    let seed = seed();
    let cycles = cycles();
    say(&format!(
        "torture: seed {seed} (OS_TORTURE_SEED={seed} replays), {cycles} kill cycles"
    ));
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let models: Arc<Vec<Mutex<Key>>> = Arc::new(
        (0..WORKERS * KEYS_PER_WORKER)
            .map(|_| Mutex::new(Key::default()))
            .collect(),
    );
    let began = Instant::now();
    let mut done = 0;
    while done < cycles && began.elapsed() < BUDGET {
        let mut server = ServerProcess::start(dir.path(), &value_log_env());
        let env = Arc::new(Env {
            client: client.clone(),
            base: server.url.clone(),
        });
        verify(&env, &models, done).await;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..WORKERS)
            .map(|w| {
                let seed = rng.random::<u64>();
                tokio::spawn(worker(env.clone(), models.clone(), w, seed, stop.clone()))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..1000))).await;
        stop.store(true, Ordering::SeqCst);
        tokio::task::block_in_place(|| server.kill());
        for task in tasks {
            task.await.expect("worker");
        }
        done += 1;
        drop(env);
    }
    let (acked, unknown) = (
        ACKED.load(Ordering::Relaxed),
        UNKNOWN.load(Ordering::Relaxed),
    );
    say(&format!(
        "torture: {done} kill cycles in {:?}: {acked} acknowledged and {unknown} unknown operations",
        began.elapsed()
    ));
    assert!(acked >= done, "the workload made progress");

    // Recovery on the last start, a final verification, then `check` on the stopped store.
    let mut server = ServerProcess::start(dir.path(), &value_log_env());
    let env = Env {
        client: client.clone(),
        base: server.url.clone(),
    };
    verify(&env, &models, done).await;
    // At least one live value in the value log for `check` to verify, whatever the
    // workload's last operations on its keys were.
    let mid = Value::new(&mut rng, 100 * 1024);
    assert!(matches!(put(&env, "final-mid", &mid).await, Outcome::Acked));
    let locked = objectstore(dir.path()).args(["check"]).output().unwrap();
    assert_eq!(
        locked.status.code(),
        Some(2),
        "check refuses a store in use"
    );
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(
        stderr.contains("stop the objectstore server first"),
        "{stderr}"
    );
    let status = tokio::task::block_in_place(|| server.interrupt());
    assert_eq!(status.code(), Some(0), "graceful stop");

    let out = objectstore(dir.path())
        .envs(VALUE_LOG.iter().copied())
        .args(["check", "--json", "--grace", "0s"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "check after recovery: {report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON report");
    assert_eq!(report["dangling_tombstones"], serde_json::json!([]));
    assert_eq!(report["unreferenced_blobs"], serde_json::json!([]));
    assert_eq!(report["recent_unreferenced_blobs"], 0);
    assert_eq!(report["change_log"]["due"], 0);
    let value_log = &report["value_log"];
    assert_eq!(
        value_log["lost_values"],
        serde_json::json!([]),
        "{value_log}"
    );
    assert_eq!(
        value_log["accounting_errors"],
        serde_json::json!([]),
        "{value_log}"
    );
    assert!(
        value_log["values"].as_u64().unwrap_or(0) > 0,
        "payloads above the threshold are in the value log: {value_log}"
    );
    say(&format!(
        "torture: check scanned {} rows ({} tombstones) and {} blobs; value log: {} values in \
         {} segments (segments removed at open: {})",
        report["rows"],
        report["tombstones"],
        report["blobs"],
        value_log["values"],
        value_log["segments"],
        value_log["removed_at_open"]
    ));
}

/// The exit codes of `check` on a damaged store: 1 while a problem is left, 0 once repaired.
#[tokio::test]
async fn check_reports_and_repairs_a_lost_blob() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    let client = common::client();
    let url = format!("{}/v1/objects/torture/_/big", server.url);
    let put = client
        .put(&url)
        .body(vec![7u8; 1536 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(server.interrupt().code(), Some(0));

    // Lose the long-term blob behind the tombstone.
    let mut removed = 0;
    for path in common::files_below(&dir.path().join("data/lt/objects")) {
        std::fs::remove_file(path).unwrap();
        removed += 1;
    }
    assert_eq!(removed, 1, "one blob");

    let run = |args: &[&str]| {
        objectstore(dir.path())
            .arg("check")
            .args(args)
            .output()
            .unwrap()
    };
    let found = run(&[]);
    let text = String::from_utf8_lossy(&found.stdout).into_owned();
    assert_eq!(found.status.code(), Some(1), "{text}");
    assert!(
        text.contains("dangling tombstones (object lost): 1"),
        "{text}"
    );
    let repaired = run(&["--repair"]);
    let text = String::from_utf8_lossy(&repaired.stdout).into_owned();
    assert_eq!(repaired.status.code(), Some(0), "{text}");
    assert!(text.contains("(repaired)"), "{text}");
    let clean = run(&["--json"]);
    assert_eq!(clean.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(report["rows"], 0, "the lost object's tombstone is gone");
}
