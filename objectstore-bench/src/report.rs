//! Output: the text table on stdout, the JSON dump (`--json`) and the markdown report
//! (`--report`, see [`markdown`]; the targets it checks are in [`targets`]).
//!
//! Ratios: every row of a workload with a comparison size (put/get/head of a size, the
//! large-object workloads) is divided by the reference GET of that same size measured in the
//! same run: ops/s by ops/s (equal to bytes/s by bytes/s for equal sizes). A ratio above 1
//! means we were faster than the reference.

pub mod markdown;
pub mod targets;

use std::fmt::Write as _;

use serde::Serialize;

use crate::fio::FioFigure;
use crate::workloads::WorkloadResult;

/// Everything one run produced, as written by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Per workload and target, references included.
    pub results: Vec<WorkloadResult>,
    /// fio sequential write with one fsync at the end (`--end_fsync=1`).
    pub fio_write: Option<FioFigure>,
    /// fio sequential write with an fsync after every block (`--fsync=1`).
    pub fio_write_fsync: Option<FioFigure>,
    /// fio sequential read.
    pub fio_read: Option<FioFigure>,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the workloads started.
    pub loadavg_start: Option<String>,
    /// `/proc/loadavg` when the workloads ended.
    pub loadavg_end: Option<String>,
    /// The share of the machine's CPU time the hypervisor gave to others while the
    /// workloads ran (`steal` in `/proc/stat`), 0 to 1.
    pub steal_share: Option<f64>,
}

impl RunReport {
    /// How many rounds the results span (`--rounds`; 0 without results).
    pub fn rounds(&self) -> usize {
        self.results
            .iter()
            .map(|r| r.round)
            .max()
            .map_or(0, |m| m + 1)
    }
}

/// The machine's CPU time counters (`cpu` line of `/proc/stat`), if this is Linux.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    total: u64,
    steal: u64,
}

impl CpuTimes {
    /// The counters now.
    pub fn now() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let steal = *fields.get(7)?;
        Some(Self {
            total: fields.iter().take(8).sum(),
            steal,
        })
    }

    /// The share of CPU time stolen between `self` and `later`.
    pub fn steal_share(self, later: Self) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let steal = later.steal.checked_sub(self.steal)?;
        (total > 0).then(|| steal as f64 / total as f64)
    }
}

/// The 1, 5 and 15 minute load averages, if this is Linux.
pub fn loadavg() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The reference result for comparison size `size` in round `round`, if measured.
pub fn reference_for(
    results: &[WorkloadResult],
    size: u64,
    round: usize,
) -> Option<&WorkloadResult> {
    results
        .iter()
        .find(|r| r.reference && r.compare_size == Some(size) && r.round == round)
}

/// The ratio of `ops_per_s` of row `op` of `result` to the reference GET of its size.
pub fn ratio(results: &[WorkloadResult], result: &WorkloadResult, op: &str) -> Option<f64> {
    if result.reference {
        return None;
    }
    let ours = result.op(op)?;
    let theirs = reference_for(results, result.compare_size?, result.round)?.op("get")?;
    (theirs.ops_per_s > 0.0).then(|| ours.ops_per_s / theirs.ops_per_s)
}

fn mib(bytes_per_s: f64) -> f64 {
    bytes_per_s / f64::from(1u32 << 20)
}

/// The text table printed at the end of a run.
pub fn text_table(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<12} {:<15} {:>5} {:>8} {:>5} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>9}",
        "workload",
        "target",
        "op",
        "conns",
        "count",
        "err",
        "ops/s",
        "MiB/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "vs ref",
        "anon MiB",
        "CPU us/rq"
    );
    let several = report.results.iter().any(|r| r.round > 0);
    for r in &report.results {
        let workload = if several {
            format!("{} r{}", r.workload, r.round)
        } else {
            r.workload.clone()
        };
        for o in &r.ops {
            let vs = ratio(&report.results, r, &o.op)
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}x"));
            let rss = r.process.map_or_else(
                || "-".to_owned(),
                |m| format!("{:.1}", m.peak_anon_kib as f64 / 1024.0),
            );
            let cpu = r
                .cpu_us_per_request()
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.1}"));
            let _ = writeln!(
                out,
                "{:<18} {:<12} {:<15} {:>5} {:>8} {:>5} {:>10.1} {:>9.2} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7} {:>8} {:>9}",
                workload,
                r.target,
                o.op,
                r.connections,
                o.count,
                o.errors,
                o.ops_per_s,
                mib(o.bytes_per_s),
                o.p50_ms,
                o.p90_ms,
                o.p99_ms,
                o.max_ms,
                vs,
                rss,
                cpu
            );
        }
        if let Some(s) = r.speedup {
            let _ = writeln!(
                out,
                "{:<18} {:<12} batch speedup over sequential PUTs: {s:.2}x",
                r.workload, r.target
            );
        }
    }
    for (name, fio) in [
        ("fio write (end_fsync=1)", &report.fio_write),
        ("fio write (fsync=1)", &report.fio_write_fsync),
        ("fio read", &report.fio_read),
    ] {
        if let Some(f) = fio {
            let _ = writeln!(out, "{name}: {:.2} MiB/s", mib(f.bytes_per_s));
        }
    }
    for r in &report.results {
        for o in &r.ops {
            if let Some(e) = &o.first_error {
                let _ = writeln!(
                    out,
                    "first error of {} {} {} ({} errors): {e}",
                    r.workload, r.target, o.op, o.errors
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::CpuTimes;

    #[test]
    fn steal_share_is_the_stolen_part_of_the_elapsed_cpu_time() {
        let start = CpuTimes {
            total: 1_000,
            steal: 100,
        };
        let end = CpuTimes {
            total: 1_400,
            steal: 200,
        };
        assert_eq!(start.steal_share(end), Some(0.25));
        // Counters that went backwards (or no time at all) give no figure.
        assert_eq!(end.steal_share(start), None);
        assert_eq!(start.steal_share(start), None);
    }

    #[test]
    fn this_machine_reports_cpu_times() {
        if cfg!(target_os = "linux") {
            let now = CpuTimes::now().expect("/proc/stat has a cpu line");
            assert!(now.total >= now.steal);
        }
    }
}
