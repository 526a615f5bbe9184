//! Micro-benchmark of the embedded high-volume backend: put and get throughput of 1 KiB
//! objects at 1, 8 and 64 concurrent writers (tokio tasks), each phase bounded in time.
//!
//! Run with `cargo bench -p objectstore-service --bench embedded_hv`. The store lives in a
//! temporary directory on the same filesystem as the workspace's `target/` (a real disk, so
//! every commit pays a real fsync). `EMBEDDED_HV_BENCH_SECS` sets the length of each phase
//! (default 2 s), `EMBEDDED_HV_BENCH_ROUNDS` the number of interleaved rounds (default 3;
//! the medians are reported). Results and their interpretation: `docs/benchmarks/embedded-hv.md`.
//!
//! What it shows: with durable commits (`synchronous = FULL`), one writer is bound by fsync
//! latency; group commit lets many concurrent writers share each fsync.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use objectstore_service::backend::embedded::{EmbeddedBackend, WriterStats};
use objectstore_service::backend::{Component, GetResponse, HighVolumeBackend, TieredGet};
use objectstore_service::clock;
use objectstore_service::stream;
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};

const PAYLOAD: usize = 1024;
const CONCURRENCY: [usize; 3] = [1, 8, 64];

fn id(key: &str) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("bench").expect("valid usecase"),
            scopes: Scopes::parse("org=1").expect("valid scopes"),
        },
        ObjectKey::new(key).expect("valid key"),
    )
}

/// One measured phase.
struct Phase {
    ops: u64,
    /// The fewest operations one task completed.
    min_per_task: u64,
    elapsed: Duration,
}

impl Phase {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// `tasks` tasks each run `op(task, n)` in a loop until `length` passed.
async fn run<F, Fut>(tasks: usize, length: Duration, op: F) -> Phase
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let ops = Arc::new(AtomicU64::new(0));
    let min_per_task = Arc::new(AtomicU64::new(u64::MAX));
    let start = Instant::now();
    let end = start + length;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = Arc::clone(&op);
            let ops = Arc::clone(&ops);
            let min_per_task = Arc::clone(&min_per_task);
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < end {
                    op(task, n).await;
                    n += 1;
                }
                ops.fetch_add(n, Ordering::Relaxed);
                min_per_task.fetch_min(n, Ordering::Relaxed);
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("benchmark task");
    }
    Phase {
        ops: ops.load(Ordering::Relaxed),
        min_per_task: min_per_task.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    }
}

/// One run at one concurrency.
struct Sample {
    puts: Phase,
    gets: Phase,
    /// Writer work during the put phase.
    writer: WriterStats,
}

/// Puts for `length`, then gets the written keys for `length`.
async fn measure(dir: PathBuf, writers: usize, length: Duration) -> Sample {
    let backend = EmbeddedBackend::open(&dir, clock::system()).expect("open the store");
    let payload = Bytes::from(vec![0xA5; PAYLOAD]);
    let metadata = Metadata::default();

    let before = backend.writer_stats();
    let b = backend.clone();
    let puts = run(writers, length, move |task, n| {
        let (b, payload, metadata) = (b.clone(), payload.clone(), metadata.clone());
        async move {
            let key = id(&format!("{task}-{n}"));
            b.put(&key, &metadata, payload).await.expect("put");
        }
    })
    .await;
    let after = backend.writer_stats();
    let writer = WriterStats {
        commits: after.commits - before.commits,
        jobs: after.jobs - before.jobs,
        commit_time: after.commit_time - before.commit_time,
        value_log_sync_time: after.value_log_sync_time - before.value_log_sync_time,
    };

    // Each task reads back the keys it wrote (all tasks wrote at least `written`).
    let written = puts.min_per_task.max(1);
    let b = backend.clone();
    let gets = run(writers, length, move |task, n| {
        let b = b.clone();
        async move {
            let key = id(&format!("{task}-{}", n % written));
            match b.get(&key, None).await.expect("get") {
                TieredGet::Object(GetResponse::Found { body, .. }) => {
                    let bytes = stream::read_to_vec(body).await.expect("body");
                    assert_eq!(bytes.len(), PAYLOAD);
                }
                other => panic!("missing {key}: {other:?}"),
            }
        }
    })
    .await;
    backend.join().await;
    Sample { puts, gets, writer }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
fn main() {
    let env = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let length = Duration::from_secs_f64(env("EMBEDDED_HV_BENCH_SECS", 2.0));
    let rounds = env("EMBEDDED_HV_BENCH_ROUNDS", 3.0) as usize;
    let runtime = support::runtime();
    let base = support::scratch_dir();

    println!(
        "embedded HV backend, {PAYLOAD} B objects, {:.1} s per phase, {rounds} interleaved rounds",
        length.as_secs_f64()
    );
    // Rounds interleave the concurrency levels so that a noisy neighbour affects all alike.
    let mut samples: Vec<Vec<Sample>> = CONCURRENCY.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, writers) in CONCURRENCY.into_iter().enumerate() {
            let dir = tempfile::tempdir_in(&base).expect("temp dir");
            let sample = runtime.block_on(measure(dir.path().to_owned(), writers, length));
            println!(
                "  round {round}: {writers:>2} writers: {:>7.0} puts/s, {:>7.0} gets/s",
                sample.puts.per_sec(),
                sample.gets.per_sec()
            );
            samples[i].push(sample);
        }
    }

    println!(
        "{:>8} {:>10} {:>12} {:>11} {:>12} {:>10} {:>12}",
        "writers", "puts/s", "put latency", "group size", "commit time", "gets/s", "get latency"
    );
    let mut put_medians = Vec::new();
    for (i, writers) in CONCURRENCY.into_iter().enumerate() {
        let runs = &samples[i];
        let puts = median(runs.iter().map(|s| s.puts.per_sec()).collect());
        let gets = median(runs.iter().map(|s| s.gets.per_sec()).collect());
        let commits: u64 = runs.iter().map(|s| s.writer.commits).sum();
        let jobs: u64 = runs.iter().map(|s| s.writer.jobs).sum();
        let commit_time: Duration = runs.iter().map(|s| s.writer.commit_time).sum();
        println!(
            "{writers:>8} {puts:>10.0} {:>9.3} ms {:>11.1} {:>9.3} ms {gets:>10.0} {:>9.3} ms",
            writers as f64 / puts * 1e3,
            jobs as f64 / commits.max(1) as f64,
            commit_time.as_secs_f64() / commits.max(1) as f64 * 1e3,
            writers as f64 / gets * 1e3,
        );
        put_medians.push(puts);
    }
    println!(
        "put speed-up from group commit, 64 vs 1 writers (medians): {:.1}x",
        put_medians[2] / put_medians[0]
    );
}
