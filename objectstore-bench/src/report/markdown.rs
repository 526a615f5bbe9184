//! The markdown report (`--report`): notes, the targets table, server CPU per request, the
//! baselines, and one table per workload with every round's figures and the reference's.

use std::fmt::Write as _;

use crate::report::targets::summary;
use crate::report::{RunReport, ratio, reference_for};
use crate::workloads::{Settings, WorkloadResult};

fn mib(bps: f64) -> String {
    format!("{:.1} MiB/s", bps / f64::from(1u32 << 20))
}

/// The whole report. `notes` become paragraphs at the top; `labels` are the measured
/// targets.
pub fn markdown(
    report: &RunReport,
    settings: &Settings,
    labels: &[String],
    notes: &[String],
) -> String {
    let mut out = String::new();
    let rounds = report.rounds();
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
    if let Some(steal) = report.steal_share {
        let _ = writeln!(
            out,
            "CPU time stolen by the hypervisor while the workloads ran (`steal` in \
             `/proc/stat`): {:.0} % of the machine's CPU time. Wall-clock figures (ops/s, \
             latency) shrink with it and vary with it between rounds; CPU per request and \
             the callgrind counts below do not.\n",
            steal * 100.0
        );
    }
    let _ = writeln!(out, "## Targets\n");
    if rounds > 1 {
        let _ = writeln!(
            out,
            "Every figure is the median over {rounds} rounds; each round measured the \
             reference again, and the ratio is the median of the per-round ratios (range in \
             brackets). Memory is the largest peak of any round.\n"
        );
    }
    let _ = writeln!(
        out,
        "| workload | our figure | reference figure | ratio | target | met |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in summary(report, settings, labels) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.workload,
            row.ours_text(),
            row.reference_text(),
            row.ratio_text(),
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
    workload_section(&mut out, report);
    errors_section(&mut out, report);
    out
}

/// Server CPU per request next to the reference's, for the workloads that have one: a
/// comparison of efficiency that a busy machine disturbs much less than throughput.
fn cpu_section(out: &mut String, report: &RunReport, labels: &[String]) {
    let mut rows: Vec<(String, String, Vec<f64>, Vec<f64>)> = Vec::new();
    for r in report
        .results
        .iter()
        .filter(|r| !r.reference && labels.contains(&r.target))
    {
        let Some(ours) = r.cpu_us_per_request() else {
            continue;
        };
        let theirs = r
            .compare_size
            .and_then(|size| reference_for(&report.results, size, r.round))
            .and_then(WorkloadResult::cpu_us_per_request);
        match rows
            .iter_mut()
            .find(|(w, t, _, _)| *w == r.workload && *t == r.target)
        {
            Some((_, _, o, t)) => {
                o.push(ours);
                t.extend(theirs);
            }
            None => rows.push((
                r.workload.clone(),
                r.target.clone(),
                vec![ours],
                theirs.into_iter().collect(),
            )),
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Server CPU per request\n");
    let _ = writeln!(
        out,
        "User + system CPU time of the server process during each workload divided by its \
         requests (median over the rounds), next to the reference's CPU per GET of the same \
         size (nginx master and workers). Informational: no target, but it separates the \
         server's own cost from the machine's load.\n"
    );
    let _ = writeln!(
        out,
        "| workload | target | our CPU µs/req | reference CPU µs/GET | ours / reference |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    for (workload, target, ours, theirs) in rows {
        let ours = median(ours).unwrap_or(0.0);
        let (theirs_text, ratio) = match median(theirs) {
            Some(t) if t > 0.0 => (format!("{t:.1}"), format!("{:.1}", ours / t)),
            _ => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {workload} | {target} | {ours:.1} | {theirs_text} | {ratio} |"
        );
    }
}

fn workload_section(out: &mut String, report: &RunReport) {
    let _ = writeln!(out, "\n## Workloads\n");
    let _ = writeln!(
        out,
        "Latencies in ms; \"vs ref\" is ops/s divided by the reference GET of the same size in \
         the same round; RSS is the server's peak sampled anonymous memory (`RssAnon`: heap and \
         stacks, which the memory bounds apply to) + file-backed pages (`RssFile`: the \
         executable's code and other mapped files, which the kernel can drop and read again) \
         during the workload, and VmHWM, the process-lifetime peak of the whole, in brackets; CPU µs/req is the server's user + system CPU \
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
            "| round | target | op | conns | count | errors | ops/s | MiB/s | p50 | p90 | p99 | max | vs ref | RSS MiB, anon + file (VmHWM) | CPU µs/req | run-queue wait ms |"
        );
        let _ = writeln!(
            out,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &rows {
            workload_rows(out, report, r);
            let reference = r
                .compare_size
                .and_then(|size| reference_for(&report.results, size, r.round));
            if let Some(reference) = reference {
                workload_rows(out, report, reference);
            }
        }
        for r in rows {
            if let Some(s) = r.speedup {
                let _ = writeln!(
                    out,
                    "\nBatch speedup on {}, round {}: {s:.2} x.",
                    r.target, r.round
                );
            }
        }
    }
}

fn workload_rows(out: &mut String, report: &RunReport, r: &WorkloadResult) {
    for o in &r.ops {
        let vs = ratio(&report.results, r, &o.op).map_or("-".to_owned(), |x| format!("{x:.2}"));
        let rss = r.process.map_or("-".to_owned(), |m| {
            format!(
                "{:.1} + {:.1} ({:.1})",
                m.peak_anon_kib as f64 / 1024.0,
                m.peak_file_kib as f64 / 1024.0,
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
            "| {} | {target} | {} | {} | {} | {} | {:.1} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {vs} | {rss} | {cpu} | {wait} |",
            r.round,
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

fn errors_section(out: &mut String, report: &RunReport) {
    let errors: Vec<String> = report
        .results
        .iter()
        .flat_map(|r| {
            r.ops.iter().filter_map(move |o| {
                o.first_error.as_ref().map(|e| {
                    format!(
                        "* {} on {} (round {}), {}: {} errors, first: `{e}`",
                        r.workload, r.target, r.round, o.op, o.errors
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
}
