//! The measurement behind the value-log threshold: the embedded store with every payload
//! inline against every payload in the value log, at object sizes from 1 KiB to 1 MiB.
//!
//! Run with `cargo bench -p objectstore-service --bench embedded_vlog`. For each size and
//! layout a fresh store (in `target/bench-tmp/`, a real disk) takes a fixed number of puts
//! from 32 concurrent tasks, then as many gets of those keys. Reported per operation:
//! wall-clock throughput (noisy on a shared machine), the process's CPU time (user +
//! system, from `/proc/self/stat`: what the operation costs whatever else runs), and for
//! puts the bytes the process sent to the disk per payload byte (`write_bytes` of
//! `/proc/self/io`: the write amplification of the layout, WAL and checkpoint included).
//!
//! Knobs: `VLOG_BENCH_SIZES` (comma-separated bytes, default `1024,4096,8192,16384,32768,
//! 65536,102400,262144,1048576`), `VLOG_BENCH_LAYOUTS` (`inline,vlog`), `VLOG_BENCH_BYTES`
//! (payload bytes per phase, default 128 MiB; at most 20 000 and at least 500 operations),
//! `VLOG_BENCH_ROUNDS` (default 1; medians are reported), `VLOG_BENCH_PUTS` and
//! `VLOG_BENCH_GETS` (fixed operation counts instead of the byte budget; gets read the
//! written keys round-robin). Under callgrind, set one size and one layout and take the
//! differences of runs with different counts: the instructions per put and per get without
//! the fixed costs (opening the store, the runtime).
//!
//! `cargo test` runs this binary too (without `--bench`): then it only checks that both
//! layouts work, with 100 puts and gets of 16 KiB objects, unless the knobs say otherwise.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use objectstore_service::backend::embedded::{EmbeddedBackend, ValueLogSettings};
use objectstore_service::backend::{Component, GetResponse, HighVolumeBackend, TieredGet};
use objectstore_service::clock;
use objectstore_service::stream;
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};

const TASKS: u64 = 32;

fn id(key: u64) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("bench").expect("valid usecase"),
            scopes: Scopes::parse("org=1").expect("valid scopes"),
        },
        ObjectKey::new(format!("object-{key}")).expect("valid key"),
    )
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is field 14,
    // stime 15, i.e. the 12th and 13th after the state.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    let ticks: u64 = fields.iter().sum();
    Duration::from_millis(ticks * 10)
}

/// Bytes this process caused to be sent to storage.
fn write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `ops` operations `op(n)` from [`TASKS`] tasks.
async fn run<F, Fut>(ops: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (op, next) = (Arc::clone(&op), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= ops {
                        break;
                    }
                    op(n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("benchmark task");
    }
    start.elapsed()
}

/// One size and layout.
struct Sample {
    put_secs: f64,
    group: f64,
    commit_ms: f64,
    sync_ms: f64,
    put_cpu_us: f64,
    amplification: f64,
    get_secs: f64,
    get_cpu_us: f64,
    ops: u64,
}

async fn measure(dir: &Path, size: usize, threshold: usize, ops: u64, gets: u64) -> Sample {
    let settings = ValueLogSettings {
        value_log_threshold: threshold,
        compaction_bytes_per_second: 0,
        ..ValueLogSettings::default()
    };
    let backend =
        EmbeddedBackend::open_with(dir, clock::system(), settings).expect("open the store");
    let payload = Bytes::from((0..size).map(|i| i as u8).collect::<Vec<u8>>());
    let metadata = Metadata::default();

    let (cpu, written, writer) = (cpu_time(), write_bytes(), backend.writer_stats());
    let b = backend.clone();
    let put_time = run(ops, move |n| {
        let (b, payload, metadata) = (b.clone(), payload.clone(), metadata.clone());
        async move {
            b.put(&id(n), &metadata, payload).await.expect("put");
        }
    })
    .await;
    // Let the checkpointer finish what the puts started before counting the bytes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let put_cpu = cpu_time().saturating_sub(cpu);
    let amplification = (write_bytes() - written) as f64 / (ops as f64 * size as f64);
    let after = backend.writer_stats();
    let commits = (after.commits - writer.commits).max(1) as f64;
    let group = (after.jobs - writer.jobs) as f64 / commits;
    let commit_ms = (after.commit_time - writer.commit_time).as_secs_f64() * 1e3 / commits;
    let sync_ms =
        (after.value_log_sync_time - writer.value_log_sync_time).as_secs_f64() * 1e3 / commits;

    let cpu = cpu_time();
    let b = backend.clone();
    let get_time = run(gets, move |n| {
        let b = b.clone();
        async move {
            match b.get(&id(n % ops), None).await.expect("get") {
                TieredGet::Object(GetResponse::Found { body, .. }) => {
                    let bytes = stream::read_to_vec(body).await.expect("body");
                    assert_eq!(bytes.len(), size);
                }
                other => panic!("missing object {n}: {other:?}"),
            }
        }
    })
    .await;
    let get_cpu = cpu_time().saturating_sub(cpu);
    backend.join().await;
    Sample {
        put_secs: put_time.as_secs_f64(),
        group,
        commit_ms,
        sync_ms,
        put_cpu_us: put_cpu.as_secs_f64() * 1e6 / ops as f64,
        amplification,
        get_secs: get_time.as_secs_f64() * ops as f64 / gets as f64,
        get_cpu_us: get_cpu.as_secs_f64() * 1e6 / gets as f64,
        ops,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
fn main() {
    let var = |name: &str| std::env::var(name).ok();
    // `cargo bench` passes `--bench`; `cargo test` runs a smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let default_sizes = if smoke {
        "16384"
    } else {
        "1024,4096,8192,16384,32768,65536,102400,262144,1048576"
    };
    let sizes: Vec<usize> = var("VLOG_BENCH_SIZES")
        .unwrap_or_else(|| default_sizes.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let layouts: Vec<String> = var("VLOG_BENCH_LAYOUTS")
        .unwrap_or_else(|| "inline,vlog".into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let budget: u64 = var("VLOG_BENCH_BYTES")
        .and_then(|s| s.parse().ok())
        .unwrap_or(128 * 1024 * 1024);
    let rounds: usize = var("VLOG_BENCH_ROUNDS")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let runtime = support::runtime();
    let base = support::scratch_dir();

    println!(
        "| size | layout | ops | puts/s | put MiB/s | put CPU µs/op | disk bytes / payload byte | group size | commit ms (value-log sync ms) | gets/s | get MiB/s | get CPU µs/op |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let count = |name: &str| {
        var(name)
            .and_then(|s| s.parse::<u64>().ok())
            .or(smoke.then_some(100))
    };
    for &size in &sizes {
        let ops = count("VLOG_BENCH_PUTS").unwrap_or((budget / size as u64).clamp(500, 20_000));
        let gets = count("VLOG_BENCH_GETS").unwrap_or(ops);
        for layout in &layouts {
            let threshold = if layout == "vlog" { 0 } else { usize::MAX };
            let samples: Vec<Sample> = (0..rounds)
                .map(|_| {
                    let dir = tempfile::tempdir_in(&base).expect("temp dir");
                    runtime.block_on(measure(dir.path(), size, threshold, ops, gets))
                })
                .collect();
            let m = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
            let mib = |secs: f64| ops as f64 * size as f64 / secs / (1024.0 * 1024.0);
            println!(
                "| {size} | {layout} | {} | {:.0} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} ({:.2}) | {:.0} | {:.1} | {:.1} |",
                samples[0].ops,
                m(|s| s.ops as f64 / s.put_secs),
                mib(m(|s| s.put_secs)),
                m(|s| s.put_cpu_us),
                m(|s| s.amplification),
                m(|s| s.group),
                m(|s| s.commit_ms),
                m(|s| s.sync_ms),
                m(|s| s.ops as f64 / s.get_secs),
                mib(m(|s| s.get_secs)),
                m(|s| s.get_cpu_us),
            );
        }
    }
}
