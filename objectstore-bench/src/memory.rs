//! Resident memory of a server process, from `/proc/<pid>/status`.
//!
//! Two figures per workload:
//!
//! * `peak_rss_kib`: the largest `VmRSS` seen by a sampler thread polling every
//!   [`SAMPLE_INTERVAL`] while the workload ran. It belongs to that workload alone.
//! * `hwm_kib`: `VmHWM` read when the workload ended: the kernel's exact peak, but over the
//!   process's whole life (so it includes earlier workloads).
//!
//! The sampler is a plain thread, not a runtime task, so a saturated load-generator runtime
//! cannot starve it. Unreadable status (process gone, not Linux) yields `None`, never an
//! error: memory is an extra figure, not a reason to abort a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the sampler reads `VmRSS`.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// Memory figures of one workload run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemoryFigures {
    /// Largest sampled `VmRSS` during the workload, KiB.
    pub peak_rss_kib: u64,
    /// `VmHWM` at the end of the workload (process lifetime peak), KiB.
    pub hwm_kib: u64,
}

/// `(VmRSS, VmHWM)` of `pid` in KiB.
pub fn read_status(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&text)
}

/// `(VmRSS, VmHWM)` in KiB from the text of a `/proc/<pid>/status` file.
///
/// ```
/// use objectstore_bench::memory::parse_status;
/// let text = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
/// assert_eq!(parse_status(text), Some((10240, 20480)));
/// ```
pub fn parse_status(text: &str) -> Option<(u64, u64)> {
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
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A running sampler; [`Sampler::finish`] stops it and returns the figures.
pub struct Sampler {
    pid: u32,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::Builder::new()
                .name(format!("rss-{pid}"))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if let Some((rss, _)) = read_status(pid) {
                            peak.fetch_max(rss, Ordering::Relaxed);
                        }
                        std::thread::sleep(SAMPLE_INTERVAL);
                    }
                })
                .ok()
        };
        Self {
            pid,
            stop,
            peak,
            thread,
        }
    }

    /// Stops sampling; `None` if the process status could never be read.
    pub fn finish(mut self) -> Option<MemoryFigures> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let (rss, hwm) = read_status(self.pid)?;
        Some(MemoryFigures {
            peak_rss_kib: self.peak.load(Ordering::Relaxed).max(rss),
            hwm_kib: hwm,
        })
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
    fn parse_requires_both_fields() {
        assert_eq!(parse_status("VmRSS:\t1 kB\n"), None);
        assert_eq!(parse_status("VmHWM:\tx kB\nVmRSS:\t1 kB\n"), None);
    }

    #[test]
    fn samples_this_process() {
        let sampler = Sampler::start(std::process::id());
        let figures = sampler.finish().unwrap();
        assert!(figures.peak_rss_kib > 0);
        assert!(figures.hwm_kib >= figures.peak_rss_kib / 2);
    }
}
