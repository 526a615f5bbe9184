//! `objectstore-bench soak`: how much disk a server needs for what it holds, under a long
//! mixed workload of overwrites and deletes.
//!
//! `--connections` writers (default 16) each own `--keys` keys (default 64) and, until
//! `--duration` (default 300 s) has passed, pick one of their keys at random and overwrite
//! it (80 %) with an object of a random size between `--min-size` and `--max-size`
//! (log-uniform, default 1 KiB to 2 MiB: every size class from inline rows through the
//! embedded value log to long-term blobs gets the same share of objects) or delete it
//! (20 %). Each writer knows what its keys hold, so the **live bytes** (payloads the server
//! must keep) are exact.
//!
//! Every `--interval` (default 5 s) the size of `--data-dir` is taken: the blocks its files
//! occupy (`st_blocks`, what `du` reports), and their apparent length. The **ratio** is
//! occupied bytes / live bytes. After the workload stops, the server gets `--settle` (default
//! 30 s) to finish background work (cleanups, compaction), sampled the same way; the final
//! ratio is the last sample. The report gives the final and the largest ratio, the split of
//! the directory by top-level entry at the end, and the samples.
//!
//! # Invariants
//!
//! * Keys embed a per-run id and the writer index: writers never share a key, so each
//!   writer's view of its keys is the server's (operations on one key are sequential).
//! * A request that fails leaves its key's state unknown: it is counted as an error and the
//!   key is overwritten before it counts again (its old size is kept until then).

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::body::ReqBody;
use crate::conn::{Conn, drain};
use crate::engine::Rng;
use crate::size::format_size;
use crate::target::Target;

/// What a soak does (the command line's values).
#[derive(Debug, Clone)]
pub struct SoakSettings {
    /// Writers (connections).
    pub connections: usize,
    /// Keys per writer.
    pub keys: u64,
    /// Smallest object.
    pub min_size: u64,
    /// Largest object.
    pub max_size: u64,
    /// How long the writers run.
    pub duration: Duration,
    /// How long to wait for background work afterwards.
    pub settle: Duration,
    /// Sampling interval.
    pub interval: Duration,
    /// The server's data directory.
    pub data_dir: PathBuf,
    /// Usecase of the objects.
    pub usecase: String,
    /// Seed of the choices.
    pub seed: u64,
    /// Unique id of this run, part of every key.
    pub run_id: String,
}

/// The size of a directory tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirSize {
    /// Bytes of the blocks the files occupy.
    pub occupied: u64,
    /// Sum of the files' lengths.
    pub apparent: u64,
}

/// The size of `path` (a file, or a directory walked recursively). Entries that vanish
/// while walking (a server deletes files all the time) are skipped.
pub fn dir_size(path: &Path) -> DirSize {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return DirSize::default();
    };
    if !meta.is_dir() {
        return DirSize {
            occupied: meta.blocks() * 512,
            apparent: meta.len(),
        };
    }
    let mut total = DirSize::default();
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let size = dir_size(&entry.path());
            total.occupied += size.occupied;
            total.apparent += size.apparent;
        }
    }
    total
}

/// One sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the start.
    pub at: f64,
    /// Live bytes.
    pub live: u64,
    /// The data directory.
    pub dir: DirSize,
    /// Whether the writers were still running.
    pub writing: bool,
}

impl Sample {
    /// Occupied bytes / live bytes (`None` while nothing is live).
    pub fn ratio(&self) -> Option<f64> {
        (self.live > 0).then(|| self.dir.occupied as f64 / self.live as f64)
    }
}

/// What a soak measured.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The settings.
    pub settings: SoakSettings,
    /// Successful PUTs and their payload bytes.
    pub puts: u64,
    /// Bytes written by them.
    pub put_bytes: u64,
    /// Successful DELETEs.
    pub deletes: u64,
    /// Failed requests, and the first failure.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Every sample, in time order (the last one is the final state).
    pub samples: Vec<Sample>,
    /// The directory by top-level entry at the end (name, size), largest first.
    pub split: Vec<(String, DirSize)>,
}

/// A log-uniform size in `min..=max`.
fn size(rng: &mut Rng, min: u64, max: u64) -> u64 {
    let (lo, hi) = ((min.max(1)) as f64, (max.max(min).max(1)) as f64);
    let unit = rng.next_u64() as f64 / u64::MAX as f64;
    ((lo.ln() + unit * (hi.ln() - lo.ln())).exp() as u64).clamp(min, max)
}

struct Shared {
    live: AtomicI64,
    puts: AtomicU64,
    put_bytes: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert(message);
    }
}

async fn writer(
    mut conn: Conn,
    settings: Arc<SoakSettings>,
    shared: Arc<Shared>,
    index: usize,
    deadline: Instant,
) {
    let mut rng = Rng::new(settings.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9));
    let mut sizes: Vec<Option<u64>> = vec![None; settings.keys as usize];
    while Instant::now() < deadline {
        let k = rng.below(settings.keys) as usize;
        let path = format!(
            "/v1/objects/{}/_/soak-{}-{index}-{k}",
            settings.usecase, settings.run_id
        );
        let old = sizes[k].unwrap_or(0);
        let put = rng.below(100) < 80;
        let (method, body, new) = if put {
            let n = size(&mut rng, settings.min_size, settings.max_size);
            (Method::PUT, ReqBody::pattern(n), Some(n))
        } else {
            (Method::DELETE, ReqBody::Empty, None)
        };
        let answer = async {
            let req = conn
                .request(method.clone(), &path, body)
                .map_err(|e| e.to_string())?;
            let resp = conn.send(req).await.map_err(|e| e.to_string())?;
            drain(resp).await.map_err(|e| e.to_string())
        }
        .await;
        match (answer, new) {
            (Ok((StatusCode::OK | StatusCode::CREATED, _)), Some(n)) => {
                shared.puts.fetch_add(1, Ordering::Relaxed);
                shared.put_bytes.fetch_add(n, Ordering::Relaxed);
                shared
                    .live
                    .fetch_add(n as i64 - old as i64, Ordering::Relaxed);
                sizes[k] = Some(n);
            }
            (Ok((StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::NOT_FOUND, _)), None) => {
                shared.deletes.fetch_add(1, Ordering::Relaxed);
                shared.live.fetch_sub(old as i64, Ordering::Relaxed);
                sizes[k] = None;
            }
            (Ok((status, _)), _) => shared.fail(format!("{method} {path}: {status}")),
            (Err(e), _) => shared.fail(format!("{method} {path}: {e}")),
        }
    }
}

/// Runs the soak against `target`; `progress` receives a line per sample.
pub async fn run(
    target: Arc<Target>,
    settings: SoakSettings,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<SoakReport> {
    let settings = Arc::new(settings);
    let shared = Arc::new(Shared {
        live: AtomicI64::new(0),
        puts: AtomicU64::new(0),
        put_bytes: AtomicU64::new(0),
        deletes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
    });
    let mut conns = Vec::new();
    for _ in 0..settings.connections.max(1) {
        conns.push(Conn::connect(Arc::clone(&target)).await?);
    }
    let start = Instant::now();
    let deadline = start + settings.duration;
    let writers: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            tokio::spawn(writer(
                conn,
                Arc::clone(&settings),
                Arc::clone(&shared),
                i,
                deadline,
            ))
        })
        .collect();
    let take = |writing: bool| {
        let dir = settings.data_dir.clone();
        let live = u64::try_from(shared.live.load(Ordering::Relaxed)).unwrap_or(0);
        async move {
            let dir = tokio::task::spawn_blocking(move || dir_size(&dir))
                .await
                .unwrap_or_default();
            Sample {
                at: start.elapsed().as_secs_f64(),
                live,
                dir,
                writing,
            }
        }
    };
    let mut samples = Vec::new();
    let report_sample = |s: Sample, samples: &mut Vec<Sample>| {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        progress(&format!(
            "soak {:>5.0} s: live {:.1} MiB, data directory {:.1} MiB ({})",
            s.at,
            mib(s.live),
            mib(s.dir.occupied),
            s.ratio()
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"))
        ));
        samples.push(s);
    };
    while Instant::now() + settings.interval < deadline {
        tokio::time::sleep(settings.interval).await;
        report_sample(take(true).await, &mut samples);
    }
    for w in writers {
        w.await?;
    }
    let settled = Instant::now() + settings.settle;
    loop {
        report_sample(take(false).await, &mut samples);
        if Instant::now() >= settled {
            break;
        }
        tokio::time::sleep(settings.interval.min(settled - Instant::now())).await;
    }
    let mut split: Vec<(String, DirSize)> = std::fs::read_dir(&settings.data_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        dir_size(&e.path()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    split.sort_by_key(|entry| std::cmp::Reverse(entry.1.occupied));
    let first_error = shared
        .first_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(SoakReport {
        settings: (*settings).clone(),
        puts: shared.puts.load(Ordering::Relaxed),
        put_bytes: shared.put_bytes.load(Ordering::Relaxed),
        deletes: shared.deletes.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        first_error,
        samples,
        split,
    })
}

impl SoakReport {
    /// The final sample.
    pub fn last(&self) -> Option<&Sample> {
        self.samples.last()
    }

    /// The largest ratio of any sample.
    pub fn max_ratio(&self) -> Option<f64> {
        self.samples
            .iter()
            .filter_map(Sample::ratio)
            .reduce(f64::max)
    }

    /// The report as markdown (a section with a table and the samples).
    pub fn markdown(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let _ = writeln!(out, "## Soak: data directory against live bytes\n");
        let _ = writeln!(
            out,
            "`objectstore-bench soak`: {} writers, {} keys each, {:.0} s of overwrites (80 %) \
             and deletes (20 %) of objects from {} to {} (log-uniform), then {:.0} s to \
             settle. Occupied = blocks of the files under the data directory (`du`); live = \
             the payload bytes the writers' keys hold.\n",
            s.connections,
            s.keys,
            s.duration.as_secs_f64(),
            format_size(s.min_size),
            format_size(s.max_size),
            s.settle.as_secs_f64()
        );
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
        let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "| puts | written | deletes | errors | live at the end | occupied at the end | apparent at the end | final ratio | largest ratio | target | met |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        let last = self.last().copied();
        let final_ratio = last.and_then(|l| l.ratio());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | <= 1.5 | {} |",
            self.puts,
            mib(self.put_bytes),
            self.deletes,
            self.errors,
            last.map_or_else(|| "-".into(), |l| mib(l.live)),
            last.map_or_else(|| "-".into(), |l| mib(l.dir.occupied)),
            last.map_or_else(|| "-".into(), |l| mib(l.dir.apparent)),
            ratio(final_ratio),
            ratio(self.max_ratio()),
            match final_ratio {
                Some(r) if r <= 1.5 && self.errors == 0 => "yes",
                Some(_) => "no",
                None => "-",
            }
        );
        if let Some(e) = &self.first_error {
            let _ = writeln!(out, "\nFirst error: `{e}`");
        }
        let _ = writeln!(out, "\nThe data directory at the end, by entry:\n");
        let _ = writeln!(out, "| entry | occupied | apparent |");
        let _ = writeln!(out, "|---|---|---|");
        for (name, size) in &self.split {
            let _ = writeln!(
                out,
                "| `{name}` | {} | {} |",
                mib(size.occupied),
                mib(size.apparent)
            );
        }
        let _ = writeln!(out, "\nSamples:\n");
        let _ = writeln!(out, "| s | phase | live | occupied | ratio |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for sample in &self.samples {
            let _ = writeln!(
                out,
                "| {:.0} | {} | {} | {} | {} |",
                sample.at,
                if sample.writing {
                    "writing"
                } else {
                    "settling"
                },
                mib(sample.live),
                mib(sample.dir.occupied),
                ratio(sample.ratio())
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_log_uniform_within_bounds() {
        let mut rng = Rng::new(7);
        let sizes: Vec<u64> = (0..10_000)
            .map(|_| size(&mut rng, 1024, 2 * 1024 * 1024))
            .collect();
        assert!(sizes.iter().all(|&s| (1024..=2 * 1024 * 1024).contains(&s)));
        // Log-uniform over 11 octaves: about 1/11 of the draws in each, e.g. the lowest.
        let lowest = sizes.iter().filter(|&&s| s < 2048).count();
        assert!((600..1300).contains(&lowest), "{lowest}");
        let above_1mib = sizes.iter().filter(|&&s| s > 1024 * 1024).count();
        assert!((600..1300).contains(&above_1mib), "{above_1mib}");
    }

    #[test]
    fn dir_size_counts_files_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/x"), vec![1u8; 10_000]).unwrap();
        std::fs::write(dir.path().join("y"), vec![1u8; 5]).unwrap();
        let size = dir_size(dir.path());
        assert_eq!(size.apparent, 10_005);
        assert!(size.occupied >= 10_005, "{size:?}");
        assert_eq!(dir_size(&dir.path().join("missing")), DirSize::default());
    }
}
