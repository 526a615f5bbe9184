//! The performance targets (issue 7, the 100 KiB rows from issue 15), checked against the
//! figures of a run.
//!
//! | workload | target |
//! |---|---|
//! | 1 KiB GET, keep-alive | >= 0.5 x reference GET of the same bytes (ops/s); p99 <= 5 ms |
//! | 1 KiB PUT, distinct keys, durable | >= 0.3 x reference 1 KiB GET rate |
//! | 100 KiB GET | >= 0.6 x reference 100 KiB GET, bytes/s |
//! | 100 KiB PUT, durable | >= 0.6 x fio sequential write of 1 MiB blocks with `--fsync=1` (with `--end_fsync=1` when that run is missing), bytes/s |
//! | large PUT / GET, streamed | >= 0.6 x fio sequential write with `--end_fsync=1` / >= 0.5 x reference GET of the same file, bytes/s |
//! | batch of N x 1 KiB inserts | >= 5 x faster than N sequential PUTs on one connection |
//! | server peak memory (anonymous: `RssAnon`; file-backed pages are reported apart, issue 15) | <= 48 MiB during the small-object workloads; <= 40 MiB during `put-large` |
//! | S3 API (issue 14), when the `s3` workloads ran | 1 KiB and 100 KiB GET and PUT through the S3 listener >= 0.8 x the native API's figure of the same round; peak memory of `--large-connections` concurrent S3 multipart uploads of the large size within the native bound (<= 40 MiB) |
//!
//! # How a verdict is reached
//!
//! 1. [`evaluate`] computes every row from the results of ONE round: our figure, the
//!    reference figure of that same round, their ratio.
//! 2. [`combine`] merges the rounds row by row: figures and ratios are the median over the
//!    rounds (the range of the ratio is kept for the report), memory peaks the maximum (a
//!    peak is a peak), errors if any round had errors.
//! 3. The verdict is taken on the combined row: "yes" / "no"; "no (errors)" when a figure came
//!    with failed requests (a fast failure is not throughput); "not run" when a figure is
//!    missing.

use crate::report::{RunReport, reference_for};
use crate::size::format_size;
use crate::stats::OpSummary;
use crate::workloads::{Settings, WorkloadResult};

/// How a row's figures are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Operations per second.
    Ops,
    /// Bytes per second (shown in MiB/s).
    Bytes,
    /// Milliseconds.
    Ms,
    /// KiB (shown in MiB).
    KiB,
    /// Milliseconds per batch vs sequential.
    Batch,
}

/// What the row must satisfy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// `ratio >= x`.
    MinRatio(f64),
    /// `ours <= x`.
    MaxValue(f64),
}

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRow {
    /// What is measured (with the target label when there are several).
    pub workload: String,
    /// Our figure.
    pub ours: Option<f64>,
    /// The reference figure.
    pub reference: Option<f64>,
    /// ours / reference (the batch row: sequential time / batch time).
    pub ratio: Option<f64>,
    /// Smallest and largest per-round ratio, when several rounds were combined.
    pub ratio_range: Option<(f64, f64)>,
    /// How figures are shown.
    pub unit: Unit,
    /// What must hold.
    pub check: Check,
    /// The target as text.
    pub target: String,
    /// Whether our figure came with errors.
    pub errors: bool,
    /// Rounds combined into this row.
    pub rounds: usize,
}

impl TargetRow {
    /// `Some(true)` met, `Some(false)` missed, `None` not measured.
    pub fn met(&self) -> Option<bool> {
        match self.check {
            Check::MinRatio(min) => self.ratio.map(|r| r >= min),
            Check::MaxValue(max) => self.ours.map(|o| o <= max),
        }
    }

    /// "yes", "no", "no (errors)" or "not run".
    pub fn verdict(&self) -> &'static str {
        match (self.met(), self.errors) {
            (None, _) => "not run",
            (Some(_), true) => "no (errors)",
            (Some(true), false) => "yes",
            (Some(false), false) => "no",
        }
    }

    fn format(&self, value: Option<f64>, reference: bool) -> String {
        let Some(v) = value else {
            return if reference && matches!(self.unit, Unit::KiB) {
                "-".to_owned()
            } else {
                "not run".to_owned()
            };
        };
        match (self.unit, reference) {
            (Unit::Ops, _) => format!("{v:.0} ops/s"),
            (Unit::Bytes, _) => format!("{:.1} MiB/s", v / f64::from(1u32 << 20)),
            (Unit::Ms, _) => format!("{v:.2} ms"),
            (Unit::KiB, _) => format!("{:.1} MiB", v / 1024.0),
            (Unit::Batch, false) => format!("{v:.1} ms per batch"),
            (Unit::Batch, true) => format!("{v:.1} ms sequential"),
        }
    }

    /// Our figure as text.
    pub fn ours_text(&self) -> String {
        self.format(self.ours, false)
    }

    /// The reference figure as text.
    pub fn reference_text(&self) -> String {
        self.format(self.reference, true)
    }

    /// The ratio as text, with the per-round range when there is one.
    pub fn ratio_text(&self) -> String {
        match (self.ratio, self.ratio_range) {
            (Some(r), Some((lo, hi))) if self.rounds > 1 => format!("{r:.2} ({lo:.2}-{hi:.2})"),
            (Some(r), _) => format!("{r:.2}"),
            (None, _) => "-".to_owned(),
        }
    }
}

fn find<'a>(
    results: &'a [WorkloadResult],
    target: &str,
    workload: &str,
    round: usize,
) -> Option<&'a WorkloadResult> {
    results
        .iter()
        .find(|r| !r.reference && r.target == target && r.workload == workload && r.round == round)
}

/// A row comparing `ours` with `theirs`.
fn relative(
    workload: String,
    ours: Option<&OpSummary>,
    theirs: Option<f64>,
    min: f64,
    unit: Unit,
) -> TargetRow {
    let figure = |o: &OpSummary| match unit {
        Unit::Bytes => o.bytes_per_s,
        _ => o.ops_per_s,
    };
    let ours_value = ours.map(figure);
    TargetRow {
        workload,
        ours: ours_value,
        reference: theirs,
        ratio: match (ours_value, theirs) {
            (Some(o), Some(t)) if t > 0.0 => Some(o / t),
            _ => None,
        },
        ratio_range: None,
        unit,
        check: Check::MinRatio(min),
        target: format!(">= {min} x reference"),
        errors: ours.is_some_and(|o| o.errors > 0),
        rounds: 1,
    }
}

fn absolute(
    workload: String,
    ours: Option<f64>,
    reference: Option<f64>,
    max: f64,
    unit: Unit,
) -> TargetRow {
    let target = match unit {
        Unit::KiB => format!("<= {} MiB", max / 1024.0),
        _ => format!("<= {max} ms"),
    };
    TargetRow {
        workload,
        ours,
        reference,
        ratio: None,
        ratio_range: None,
        unit,
        check: Check::MaxValue(max),
        target,
        errors: false,
        rounds: 1,
    }
}

fn is_small(workload: &str) -> bool {
    ["put:", "get:", "head:"]
        .iter()
        .any(|p| workload.starts_with(p))
        || workload == "mixed"
        || workload == "batch"
}

/// The rows of one round for every measured target (`labels`), in a fixed order.
pub fn evaluate(
    results: &[WorkloadResult],
    fio_write: Option<f64>,
    fio_write_fsync: Option<f64>,
    settings: &Settings,
    labels: &[String],
    round: usize,
) -> Vec<TargetRow> {
    let ref_get = |size: u64| reference_for(results, size, round).and_then(|r| r.op("get"));
    let large = format_size(settings.large_size);
    let mut rows = Vec::new();
    for label in labels {
        let tag = |s: &str| {
            if labels.len() > 1 {
                format!("{s} [{label}]")
            } else {
                s.to_owned()
            }
        };
        let op =
            |workload: &str, op: &str| find(results, label, workload, round).and_then(|r| r.op(op));

        let get1 = op("get:1KiB", "get");
        rows.push(relative(
            tag("1 KiB GET, keep-alive (ops/s)"),
            get1,
            ref_get(1024).map(|r| r.ops_per_s),
            0.5,
            Unit::Ops,
        ));
        let mut p99 = absolute(
            tag("1 KiB GET p99 latency"),
            get1.map(|o| o.p99_ms),
            ref_get(1024).map(|r| r.p99_ms),
            5.0,
            Unit::Ms,
        );
        p99.errors = get1.is_some_and(|o| o.errors > 0);
        rows.push(p99);
        rows.push(relative(
            tag("1 KiB PUT, distinct keys, durable (ops/s vs 1 KiB GET)"),
            op("put:1KiB", "put"),
            ref_get(1024).map(|r| r.ops_per_s),
            0.3,
            Unit::Ops,
        ));
        rows.push(relative(
            tag("100 KiB GET (bytes/s)"),
            op("get:100KiB", "get"),
            ref_get(100 * 1024).map(|r| r.bytes_per_s),
            0.6,
            Unit::Bytes,
        ));
        let mut put100 = relative(
            tag("100 KiB PUT, durable (bytes/s vs fio write, fsync=1)"),
            op("put:100KiB", "put"),
            fio_write_fsync.or(fio_write),
            0.6,
            Unit::Bytes,
        );
        put100.target = ">= 0.6 x fio write".to_owned();
        rows.push(put100);
        let mut put_large = relative(
            tag(&format!(
                "{large} PUT, streamed (bytes/s vs fio write, end_fsync)"
            )),
            op("put-large", "put"),
            fio_write,
            0.6,
            Unit::Bytes,
        );
        put_large.target = ">= 0.6 x fio write".to_owned();
        rows.push(put_large);
        rows.push(relative(
            tag(&format!("{large} GET, streamed (bytes/s)")),
            op("get-large", "get"),
            ref_get(settings.large_size).map(|r| r.bytes_per_s),
            0.5,
            Unit::Bytes,
        ));

        let batch = find(results, label, "batch", round);
        let n = settings.batch_ops;
        let seq = batch.and_then(|b| b.op(&format!("sequential-{n}")));
        let one = batch.and_then(|b| b.op(&format!("batch-{n}")));
        rows.push(TargetRow {
            workload: tag(&format!(
                "batch of {n} x {} inserts vs {n} sequential PUTs",
                format_size(settings.batch_object_size)
            )),
            ours: one.map(|o| o.mean_ms),
            reference: seq.map(|o| o.mean_ms),
            ratio: batch.and_then(|b| b.speedup),
            ratio_range: None,
            unit: Unit::Batch,
            check: Check::MinRatio(5.0),
            target: ">= 5 x faster".to_owned(),
            errors: seq.is_some_and(|s| s.errors > 0) || one.is_some_and(|s| s.errors > 0),
            rounds: 1,
        });

        let small_peak = results
            .iter()
            .filter(|r| {
                !r.reference && r.target == *label && r.round == round && is_small(&r.workload)
            })
            .filter_map(|r| r.process.map(|m| m.peak_anon_kib as f64))
            .reduce(f64::max);
        rows.push(absolute(
            tag("server peak anonymous RSS, small-object workloads"),
            small_peak,
            None,
            48.0 * 1024.0,
            Unit::KiB,
        ));
        rows.extend(s3_rows(results, settings, label, round, &tag));
        let large_peak = find(results, label, "put-large", round)
            .and_then(|r| r.process)
            .map(|m| m.peak_anon_kib as f64);
        rows.push(absolute(
            tag(&format!(
                "server peak anonymous RSS, {} x {large} uploads at once",
                settings
                    .large_connections
                    .min(settings.large_requests as usize)
            )),
            large_peak,
            None,
            40.0 * 1024.0,
            Unit::KiB,
        ));
    }
    rows
}

/// The S3 rows of one target and round (module docs), when any `s3-*` workload ran.
fn s3_rows(
    results: &[WorkloadResult],
    settings: &Settings,
    label: &str,
    round: usize,
    tag: &dyn Fn(&str) -> String,
) -> Vec<TargetRow> {
    let ran = results.iter().any(|r| {
        !r.reference && r.target == label && r.round == round && r.workload.starts_with("s3-")
    });
    if !ran {
        return Vec::new();
    }
    let op =
        |workload: &str, op: &str| find(results, label, workload, round).and_then(|r| r.op(op));
    let mut rows = Vec::new();
    for (size, unit) in [(1024u64, Unit::Ops), (100 * 1024, Unit::Bytes)] {
        let name = format_size(size);
        for (kind, op_name) in [("GET", "get"), ("PUT", "put")] {
            let lower = op_name;
            let native = op(&format!("{lower}:{name}"), op_name);
            let figure = |o: &OpSummary| match unit {
                Unit::Bytes => o.bytes_per_s,
                _ => o.ops_per_s,
            };
            let per = if matches!(unit, Unit::Bytes) {
                "bytes/s"
            } else {
                "ops/s"
            };
            let mut row = relative(
                tag(&format!("S3 {name} {kind}, SigV4 ({per} vs native {kind})")),
                op(&format!("s3-{lower}:{name}"), op_name),
                native.map(figure),
                0.8,
                unit,
            );
            row.target = ">= 0.8 x native API".to_owned();
            row.errors |= native.is_some_and(|o| o.errors > 0);
            rows.push(row);
        }
    }
    let peak = find(results, label, "s3-multipart-large", round);
    let mut memory = absolute(
        tag(&format!(
            "server peak anonymous RSS, {} x {} S3 multipart uploads at once",
            settings
                .large_connections
                .min(settings.large_requests as usize),
            format_size(settings.large_size)
        )),
        peak.and_then(|r| r.process).map(|m| m.peak_anon_kib as f64),
        None,
        40.0 * 1024.0,
        Unit::KiB,
    );
    memory.errors = peak
        .and_then(|r| r.op("upload"))
        .is_some_and(|o| o.errors > 0);
    rows.push(memory);
    rows
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Merges the rows of several rounds (same order in each) into one row each (module docs).
///
/// ```
/// use objectstore_bench::report::targets::{Check, TargetRow, Unit, combine};
/// let row = |ratio: f64| TargetRow {
///     workload: "w".into(), ours: Some(ratio * 10.0), reference: Some(10.0),
///     ratio: Some(ratio), ratio_range: None, unit: Unit::Ops,
///     check: Check::MinRatio(0.5), target: ">= 0.5 x reference".into(), errors: false, rounds: 1,
/// };
/// let rows = combine(vec![vec![row(0.4)], vec![row(0.7)], vec![row(0.6)]]);
/// assert_eq!(rows[0].ratio, Some(0.6));
/// assert_eq!(rows[0].ratio_range, Some((0.4, 0.7)));
/// assert_eq!(rows[0].verdict(), "yes");
/// ```
pub fn combine(rounds: Vec<Vec<TargetRow>>) -> Vec<TargetRow> {
    let n = rounds.len();
    let mut iter = rounds.into_iter();
    let Some(first) = iter.next() else {
        return Vec::new();
    };
    let rest: Vec<Vec<TargetRow>> = iter.collect();
    first
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let all: Vec<&TargetRow> = std::iter::once(&row)
                .chain(rest.iter().filter_map(|r| r.get(i)))
                .collect();
            let ours: Vec<f64> = all.iter().filter_map(|r| r.ours).collect();
            let reference: Vec<f64> = all.iter().filter_map(|r| r.reference).collect();
            let ratios: Vec<f64> = all.iter().filter_map(|r| r.ratio).collect();
            let peak = matches!(row.unit, Unit::KiB);
            TargetRow {
                ours: if peak {
                    ours.iter().copied().reduce(f64::max)
                } else {
                    median(ours)
                },
                reference: median(reference),
                ratio_range: ratios
                    .iter()
                    .copied()
                    .reduce(f64::min)
                    .zip(ratios.iter().copied().reduce(f64::max)),
                ratio: median(ratios),
                errors: all.iter().any(|r| r.errors),
                rounds: n,
                ..row.clone()
            }
        })
        .collect()
}

/// The combined rows of `report` (all its rounds).
pub fn summary(report: &RunReport, settings: &Settings, labels: &[String]) -> Vec<TargetRow> {
    let rounds = report.rounds();
    let fio = report.fio_write.as_ref().map(|f| f.bytes_per_s);
    let fio_fsync = report.fio_write_fsync.as_ref().map(|f| f.bytes_per_s);
    combine(
        (0..rounds)
            .map(|round| evaluate(&report.results, fio, fio_fsync, settings, labels, round))
            .collect(),
    )
}
