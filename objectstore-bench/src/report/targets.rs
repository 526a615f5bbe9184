//! The performance targets (issue 7) and the markdown report that checks them.
//!
//! | workload | target |
//! |---|---|
//! | 1 KiB GET, keep-alive | >= 0.5 x reference GET of the same bytes (ops/s); p99 <= 5 ms |
//! | 1 KiB PUT, distinct keys, durable | >= 0.3 x reference 1 KiB GET rate |
//! | 100 KiB GET / PUT | >= 0.5 x / >= 0.25 x reference 100 KiB GET, bytes/s |
//! | large PUT / GET, streamed | >= 0.6 x fio sequential write with `--end_fsync=1` / >= 0.5 x reference GET of the same file, bytes/s |
//! | batch of N x 1 KiB inserts | >= 5 x faster than N sequential PUTs on one connection |
//! | server peak memory | <= 48 MiB during the small-object workloads; <= 40 MiB during `put-large` |
//!
//! A figure measured with errors never meets its target ("no (errors)"): a fast failure is
//! not throughput. A target whose workload did not run is reported as "not run".

use std::fmt::Write as _;

use crate::report::{RunReport, reference_for};
use crate::size::format_size;
use crate::stats::OpSummary;
use crate::workloads::{Settings, WorkloadResult};

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRow {
    /// What is measured (with the target label when there are several).
    pub workload: String,
    /// Our figure, formatted.
    pub ours: String,
    /// The reference figure, formatted.
    pub reference: String,
    /// ours / reference (or the figure itself for absolute targets).
    pub ratio: Option<f64>,
    /// The target, formatted.
    pub target: String,
    /// `Some(true)` met, `Some(false)` missed, `None` not measured.
    pub met: Option<bool>,
    /// Whether our figure came with errors.
    pub errors: bool,
}

impl TargetRow {
    /// "yes", "no", "no (errors)" or "not run".
    pub fn verdict(&self) -> &'static str {
        match (self.met, self.errors) {
            (None, _) => "not run",
            (Some(_), true) => "no (errors)",
            (Some(true), false) => "yes",
            (Some(false), false) => "no",
        }
    }
}

fn mib(bps: f64) -> String {
    format!("{:.1} MiB/s", bps / f64::from(1u32 << 20))
}

fn ops(x: f64) -> String {
    format!("{x:.0} ops/s")
}

fn find<'a>(
    results: &'a [WorkloadResult],
    target: &str,
    workload: &str,
) -> Option<&'a WorkloadResult> {
    results
        .iter()
        .find(|r| !r.reference && r.target == target && r.workload == workload)
}

/// A relative target: `ours` against `reference` with `min` ratio.
fn relative(
    name: String,
    ours: Option<&OpSummary>,
    theirs: Option<f64>,
    min: f64,
    figure: fn(&OpSummary) -> f64,
    format: fn(f64) -> String,
) -> TargetRow {
    let target = format!(">= {min} x reference");
    match (ours, theirs) {
        (Some(o), Some(t)) if t > 0.0 => {
            let ratio = figure(o) / t;
            TargetRow {
                workload: name,
                ours: format(figure(o)),
                reference: format(t),
                ratio: Some(ratio),
                target,
                met: Some(ratio >= min && o.errors == 0),
                errors: o.errors > 0,
            }
        }
        (o, t) => TargetRow {
            workload: name,
            ours: o.map_or("not run".to_owned(), |o| format(figure(o))),
            reference: t.map_or("not run".to_owned(), format),
            ratio: None,
            target,
            met: None,
            errors: o.is_some_and(|o| o.errors > 0),
        },
    }
}

/// The summary rows for every measured target in `report`.
pub fn evaluate(report: &RunReport, settings: &Settings, labels: &[String]) -> Vec<TargetRow> {
    let results = &report.results;
    let ref_get = |size: u64| reference_for(results, size).and_then(|r| r.op("get"));
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
        let op = |workload: &str, op: &str| find(results, label, workload).and_then(|r| r.op(op));
        let by_ops: fn(&OpSummary) -> f64 = |o| o.ops_per_s;
        let by_bytes: fn(&OpSummary) -> f64 = |o| o.bytes_per_s;

        let get1 = op("get:1KiB", "get");
        rows.push(relative(
            tag("1 KiB GET, keep-alive (ops/s)"),
            get1,
            ref_get(1024).map(|r| r.ops_per_s),
            0.5,
            by_ops,
            ops,
        ));
        rows.push(TargetRow {
            workload: tag("1 KiB GET p99 latency"),
            ours: get1.map_or("not run".to_owned(), |o| format!("{:.2} ms", o.p99_ms)),
            reference: ref_get(1024).map_or("-".to_owned(), |r| format!("{:.2} ms", r.p99_ms)),
            ratio: None,
            target: "<= 5 ms".to_owned(),
            met: get1.map(|o| o.p99_ms <= 5.0 && o.errors == 0),
            errors: get1.is_some_and(|o| o.errors > 0),
        });
        rows.push(relative(
            tag("1 KiB PUT, distinct keys, durable (ops/s vs 1 KiB GET)"),
            op("put:1KiB", "put"),
            ref_get(1024).map(|r| r.ops_per_s),
            0.3,
            by_ops,
            ops,
        ));
        rows.push(relative(
            tag("100 KiB GET (bytes/s)"),
            op("get:100KiB", "get"),
            ref_get(100 * 1024).map(|r| r.bytes_per_s),
            0.5,
            by_bytes,
            mib,
        ));
        rows.push(relative(
            tag("100 KiB PUT (bytes/s vs 100 KiB GET)"),
            op("put:100KiB", "put"),
            ref_get(100 * 1024).map(|r| r.bytes_per_s),
            0.25,
            by_bytes,
            mib,
        ));
        let mut put_large = relative(
            tag(&format!(
                "{large} PUT, streamed (bytes/s vs fio write, end_fsync)"
            )),
            op("put-large", "put"),
            report.fio_write.as_ref().map(|f| f.bytes_per_s),
            0.6,
            by_bytes,
            mib,
        );
        put_large.target = ">= 0.6 x fio write".to_owned();
        rows.push(put_large);
        rows.push(relative(
            tag(&format!("{large} GET, streamed (bytes/s)")),
            op("get-large", "get"),
            ref_get(settings.large_size).map(|r| r.bytes_per_s),
            0.5,
            by_bytes,
            mib,
        ));

        let batch = find(results, label, "batch");
        let n = settings.batch_ops;
        let seq = batch.and_then(|b| b.op(&format!("sequential-{n}")));
        let one = batch.and_then(|b| b.op(&format!("batch-{n}")));
        let batch_errors = seq.is_some_and(|s| s.errors > 0) || one.is_some_and(|s| s.errors > 0);
        let speedup = batch.and_then(|b| b.speedup);
        rows.push(TargetRow {
            workload: tag(&format!(
                "batch of {n} x {} inserts vs {n} sequential PUTs",
                format_size(settings.batch_object_size)
            )),
            ours: one.map_or("not run".to_owned(), |o| {
                format!("{:.1} ms per batch", o.mean_ms)
            }),
            reference: seq.map_or("not run".to_owned(), |o| {
                format!("{:.1} ms sequential", o.mean_ms)
            }),
            ratio: speedup,
            target: ">= 5 x faster".to_owned(),
            met: speedup.map(|s| s >= 5.0 && !batch_errors),
            errors: batch_errors,
        });

        let small_peak = results
            .iter()
            .filter(|r| !r.reference && r.target == *label && is_small(&r.workload))
            .filter_map(|r| r.process.map(|m| m.peak_rss_kib))
            .max();
        rows.push(memory_row(
            tag("server peak RSS, small-object workloads"),
            small_peak,
            48,
        ));
        let large_peak = find(results, label, "put-large")
            .and_then(|r| r.process)
            .map(|m| m.peak_rss_kib);
        rows.push(memory_row(
            tag(&format!(
                "server peak RSS, {} x {large} uploads at once",
                settings
                    .large_connections
                    .min(settings.large_requests as usize)
            )),
            large_peak,
            40,
        ));
    }
    rows
}

fn is_small(workload: &str) -> bool {
    ["put:", "get:", "head:"]
        .iter()
        .any(|p| workload.starts_with(p))
        || workload == "mixed"
        || workload == "batch"
}

fn memory_row(workload: String, peak_kib: Option<u64>, max_mib: u64) -> TargetRow {
    TargetRow {
        workload,
        ours: peak_kib.map_or("not measured".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        }),
        reference: "-".to_owned(),
        ratio: None,
        target: format!("<= {max_mib} MiB"),
        met: peak_kib.map(|k| k <= max_mib * 1024),
        errors: false,
    }
}

/// Server CPU per request next to the reference's, for the workloads that have one: a
/// comparison of efficiency that a busy machine disturbs much less than throughput.
fn cpu_section(out: &mut String, report: &RunReport, labels: &[String]) {
    let rows: Vec<String> = report
        .results
        .iter()
        .filter(|r| !r.reference && labels.contains(&r.target))
        .filter_map(|r| {
            let ours = r.cpu_us_per_request()?;
            let theirs = reference_for(&report.results, r.compare_size?)
                .and_then(WorkloadResult::cpu_us_per_request);
            let (theirs_text, ratio) = match theirs {
                Some(t) if t > 0.0 => (format!("{t:.1}"), format!("{:.1}", ours / t)),
                _ => ("-".to_owned(), "-".to_owned()),
            };
            Some(format!(
                "| {} | {} | {ours:.1} | {theirs_text} | {ratio} |",
                r.workload, r.target
            ))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Server CPU per request\n");
    let _ = writeln!(
        out,
        "User + system CPU time of the server process during each workload divided by its \
         requests, next to the reference's CPU per GET of the same size (nginx master and \
         workers). Informational: no target, but it separates the server's own cost from the \
         machine's load.\n"
    );
    let _ = writeln!(
        out,
        "| workload | target | our CPU µs/req | reference CPU µs/GET | ours / reference |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
}

fn workload_rows(out: &mut String, report: &RunReport, r: &WorkloadResult) {
    for o in &r.ops {
        let vs = crate::report::ratio(&report.results, r, &o.op)
            .map_or("-".to_owned(), |x| format!("{x:.2}"));
        let rss = r.process.map_or("-".to_owned(), |m| {
            format!(
                "{:.1} ({:.1})",
                m.peak_rss_kib as f64 / 1024.0,
                m.hwm_kib as f64 / 1024.0
            )
        });
        let cpu = r
            .cpu_us_per_request()
            .map_or("-".to_owned(), |c| format!("{c:.1}"));
        let wait = r
            .process
            .map_or("-".to_owned(), |m| m.runqueue_wait_ms.to_string());
        let target = if r.reference {
            format!("{} (reference, {})", r.target, r.workload)
        } else {
            r.target.clone()
        };
        let _ = writeln!(
            out,
            "| {target} | {} | {} | {} | {} | {:.1} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {vs} | {rss} | {cpu} | {wait} |",
            o.op,
            r.connections,
            o.count,
            o.errors,
            o.ops_per_s,
            o.bytes_per_s / f64::from(1u32 << 20),
            o.p50_ms,
            o.p90_ms,
            o.p99_ms,
            o.max_ms
        );
    }
}

/// The markdown report: `notes` (one paragraph each), the summary table, the baselines and
/// one table per workload.
pub fn markdown(
    report: &RunReport,
    settings: &Settings,
    labels: &[String],
    notes: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# objectstore benchmark report\n");
    for note in notes {
        let _ = writeln!(out, "{note}\n");
    }
    if let (Some(start), Some(end)) = (&report.loadavg_start, &report.loadavg_end) {
        let _ = writeln!(
            out,
            "Load average (1, 5, 15 min) when the workloads started: {start}; when they \
             ended: {end}.\n"
        );
    }
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(
        out,
        "| workload | our figure | reference figure | ratio | target | met |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in evaluate(report, settings, labels) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.workload,
            row.ours,
            row.reference,
            row.ratio.map_or("-".to_owned(), |r| format!("{r:.2}")),
            row.target,
            row.verdict()
        );
    }
    cpu_section(&mut out, report, labels);
    let _ = writeln!(out, "\n## Baselines\n");
    for (name, fio) in [
        (
            "fio sequential write, 1 MiB blocks, one fsync at the end (`--end_fsync=1`; the PUT target's reference)",
            &report.fio_write,
        ),
        (
            "fio sequential write, 1 MiB blocks, fsync after every block (`--fsync=1`; for information)",
            &report.fio_write_fsync,
        ),
        ("fio sequential read, 1 MiB blocks", &report.fio_read),
    ] {
        let figure = fio
            .as_ref()
            .map_or("not run".to_owned(), |f| mib(f.bytes_per_s));
        let _ = writeln!(out, "* {name}: {figure}");
    }
    let _ = writeln!(out, "\n## Workloads\n");
    let _ = writeln!(
        out,
        "Latencies in ms; \"vs ref\" is ops/s divided by the reference GET of the same size in \
         this run; RSS is the server's peak sampled VmRSS during the workload (VmHWM, the \
         process-lifetime peak, in brackets); CPU µs/req is the server's user + system CPU \
         time during the workload divided by its requests; run-queue wait is the time the \
         server's threads were runnable but found no free CPU (large values mean the machine \
         was oversubscribed and throughput measures its load as much as the server).\n"
    );
    let mut groups: Vec<(&str, Vec<&WorkloadResult>)> = Vec::new();
    for r in report.results.iter().filter(|r| !r.reference) {
        match groups.iter_mut().find(|(w, _)| *w == r.workload) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((&r.workload, vec![r])),
        }
    }
    for (workload, rows) in groups {
        let _ = writeln!(out, "\n### {workload}\n");
        let _ = writeln!(
            out,
            "| target | op | conns | count | errors | ops/s | MiB/s | p50 | p90 | p99 | max | vs ref | RSS MiB | CPU µs/req | run-queue wait ms |"
        );
        let _ = writeln!(
            out,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        let reference = rows
            .first()
            .and_then(|r| r.compare_size)
            .and_then(|size| reference_for(&report.results, size));
        for r in rows.iter().copied().chain(reference) {
            workload_rows(&mut out, report, r);
        }
        for r in rows {
            if let Some(s) = r.speedup {
                let _ = writeln!(out, "\nBatch speedup on {}: {s:.2} x.", r.target);
            }
        }
    }
    let errors: Vec<String> = report
        .results
        .iter()
        .flat_map(|r| {
            r.ops.iter().filter_map(move |o| {
                o.first_error.as_ref().map(|e| {
                    format!(
                        "* {} on {}, {}: {} errors, first: `{e}`",
                        r.workload, r.target, o.op, o.errors
                    )
                })
            })
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\n## Errors\n");
        for e in errors {
            let _ = writeln!(out, "{e}");
        }
    }
    out
}
