//! What a server process used while a workload ran, from `/proc`.
//!
//! Figures per workload ([`ProcessFigures`]), summed over the sampled pids (one for our
//! server, master and workers for nginx):
//!
//! * `peak_rss_kib`: the largest `VmRSS` seen by a sampler thread polling
//!   `/proc/<pid>/status` every [`SAMPLE_INTERVAL`] while the workload ran. It belongs to
//!   that workload alone.
//! * `peak_anon_kib` and `peak_file_kib`: the largest `RssAnon` (heap, stacks: the memory a
//!   workload costs, which the memory bounds apply to) and `RssFile` (file-backed pages
//!   mapped in: the executable's code and any mapped data, which the kernel can drop and
//!   read again) seen by the same sampler.
//! * `hwm_kib`: `VmHWM` read when the workload ended: the kernel's exact peak, but over the
//!   process's whole life (so it includes earlier workloads).
//! * `cpu_ms`: user + system CPU time spent during the workload (`utime + stime` of
//!   `/proc/<pid>/stat`, which include exited threads; in USER_HZ ticks of 10 ms, the value
//!   on every mainstream Linux architecture). Divided by the requests, it is the server's
//!   CPU cost per request: a figure that a busy machine disturbs much less than throughput.
//! * `runqueue_wait_ms`: time the process's threads spent runnable but waiting for a CPU
//!   (second field of `/proc/<pid>/task/*/schedstat`, threads alive at both ends only).
//!   A large value next to `cpu_ms` means the CPUs were oversubscribed: throughput and
//!   latency then measure the machine's load as much as the server.
//!
//! The sampler is a plain thread, not a runtime task, so a saturated load-generator runtime
//! cannot starve it. Unreadable files (process gone, not Linux) yield `None`, never an
//! error: these are extra figures, not a reason to abort a run.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the sampler reads `/proc/<pid>/status`.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// Length of a `/proc/<pid>/stat` time tick (USER_HZ = 100).
const TICK_MS: u64 = 10;

/// Process figures of one workload run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessFigures {
    /// Largest sampled `VmRSS` during the workload, KiB.
    pub peak_rss_kib: u64,
    /// Largest sampled `RssAnon` during the workload, KiB (0 in figures from before it was
    /// sampled).
    #[serde(default)]
    pub peak_anon_kib: u64,
    /// Largest sampled `RssFile` during the workload, KiB.
    #[serde(default)]
    pub peak_file_kib: u64,
    /// `VmHWM` at the end of the workload (process lifetime peak), KiB.
    pub hwm_kib: u64,
    /// CPU time used during the workload, ms.
    pub cpu_ms: u64,
    /// Time runnable threads waited for a CPU during the workload, ms.
    pub runqueue_wait_ms: u64,
}

/// Memory figures of `/proc/<pid>/status`, KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// `VmRSS`: resident memory, anonymous, file-backed and shared.
    pub rss: u64,
    /// `VmHWM`: the process's peak `VmRSS`.
    pub hwm: u64,
    /// `RssAnon`: resident anonymous memory.
    pub anon: u64,
    /// `RssFile`: resident file-backed pages.
    pub file: u64,
}

/// The memory figures of `pid`.
pub fn read_status(pid: u32) -> Option<Status> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&text)
}

/// The memory figures from the text of a `/proc/<pid>/status` file.
///
/// ```
/// use objectstore_bench::process::{Status, parse_status};
/// let text = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n\
///             RssAnon:\t    4096 kB\nRssFile:\t    6144 kB\n";
/// let status = Status { rss: 10240, hwm: 20480, anon: 4096, file: 6144 };
/// assert_eq!(parse_status(text), Some(status));
/// ```
pub fn parse_status(text: &str) -> Option<Status> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some(Status {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:")?,
        file: field("RssFile:")?,
    })
}

/// `utime + stime` in ms from the text of a `/proc/<pid>/stat` file.
///
/// ```
/// use objectstore_bench::process::parse_cpu_ms;
/// let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 3 0";
/// assert_eq!(parse_cpu_ms(stat), Some(2800));
/// ```
pub fn parse_cpu_ms(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * TICK_MS)
}

fn cpu_ms(pid: u32) -> Option<u64> {
    parse_cpu_ms(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Run-queue wait per live thread of `pid`, ns.
fn waits(pid: u32) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let wait = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok());
        if let Some(w) = wait {
            out.insert(task.file_name().to_string_lossy().into_owned(), w);
        }
    }
    out
}

/// A running sampler; [`Sampler::finish`] stops it and returns the figures.
pub struct Sampler {
    pids: Vec<u32>,
    stop: Arc<AtomicBool>,
    peak: Arc<Peaks>,
    cpu_start: Vec<Option<u64>>,
    wait_start: Vec<HashMap<String, u64>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `pids` (their figures are summed).
    pub fn start(pids: &[u32]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Peaks::default());
        let thread = {
            let (stop, peak, pids) = (stop.clone(), peak.clone(), pids.to_vec());
            std::thread::Builder::new()
                .name("rss-sampler".to_owned())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        peak.record(&sum(pids.iter().filter_map(|&p| read_status(p))));
                        std::thread::sleep(SAMPLE_INTERVAL);
                    }
                })
                .ok()
        };
        Self {
            pids: pids.to_vec(),
            stop,
            peak,
            cpu_start: pids.iter().map(|&p| cpu_ms(p)).collect(),
            wait_start: pids.iter().map(|&p| waits(p)).collect(),
            thread,
        }
    }

    /// Stops sampling; `None` if no process status could be read at the end.
    pub fn finish(mut self) -> Option<ProcessFigures> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let (mut cpu_total, mut runqueue_wait_ms) = (0, 0);
        let mut now = Vec::new();
        for (i, &pid) in self.pids.iter().enumerate() {
            let Some(status) = read_status(pid) else {
                continue;
            };
            now.push(status);
            if let (Some(Some(start)), Some(end)) = (self.cpu_start.get(i), cpu_ms(pid)) {
                cpu_total += end.saturating_sub(*start);
            }
            if let Some(start) = self.wait_start.get(i) {
                let waited: u64 = waits(pid)
                    .into_iter()
                    .filter_map(|(tid, end)| Some(end.saturating_sub(*start.get(&tid)?)))
                    .sum();
                runqueue_wait_ms += waited / 1_000_000;
            }
        }
        if now.is_empty() {
            return None;
        }
        let total = sum(now.into_iter());
        self.peak.record(&total);
        Some(ProcessFigures {
            peak_rss_kib: self.peak.rss.load(Ordering::Relaxed),
            peak_anon_kib: self.peak.anon.load(Ordering::Relaxed),
            peak_file_kib: self.peak.file.load(Ordering::Relaxed),
            hwm_kib: total.hwm,
            cpu_ms: cpu_total,
            runqueue_wait_ms,
        })
    }
}

/// The sum of several processes' figures.
fn sum(statuses: impl Iterator<Item = Status>) -> Status {
    statuses.fold(Status::default(), |a, b| Status {
        rss: a.rss + b.rss,
        hwm: a.hwm + b.hwm,
        anon: a.anon + b.anon,
        file: a.file + b.file,
    })
}

/// The largest figures seen so far, each on its own.
#[derive(Debug, Default)]
struct Peaks {
    rss: AtomicU64,
    anon: AtomicU64,
    file: AtomicU64,
}

impl Peaks {
    fn record(&self, status: &Status) {
        self.rss.fetch_max(status.rss, Ordering::Relaxed);
        self.anon.fetch_max(status.anon, Ordering::Relaxed);
        self.file.fetch_max(status.file, Ordering::Relaxed);
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_requires_every_field() {
        assert_eq!(parse_status("VmRSS:\t1 kB\n"), None);
        assert_eq!(
            parse_status("VmHWM:\t2 kB\nVmRSS:\t1 kB\nRssAnon:\t1 kB\n"),
            None
        );
        assert_eq!(parse_status("VmHWM:\tx kB\nVmRSS:\t1 kB\n"), None);
        assert_eq!(parse_cpu_ms("1 (x) S 1 2"), None);
    }

    #[test]
    fn samples_this_process() {
        let sampler = Sampler::start(&[std::process::id()]);
        // Burn a little CPU so the figure is exercised (its value is not asserted).
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let figures = sampler.finish().unwrap();
        assert!(figures.peak_rss_kib > 0);
        assert!(figures.hwm_kib >= figures.peak_rss_kib / 2);
        assert!(figures.peak_anon_kib > 0 && figures.peak_file_kib > 0);
        // Each peak is the largest of its own samples: they need not add up, but neither
        // part exceeds the whole's peak by more than the sampling gap allows.
        assert!(figures.peak_anon_kib <= figures.peak_rss_kib + 1024);
    }

    #[test]
    fn unknown_pids_yield_none() {
        assert_eq!(Sampler::start(&[u32::MAX]).finish(), None);
    }
}
