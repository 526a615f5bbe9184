//! `objectstore check [--repair] [--deep] [--json] [--grace D]`: the command-line wrapper of
//! [`objectstore_service::check`].
//!
//! It opens the two tiers named by `storage.*` (the default: embedded high-volume store in
//! `data/hv`, filesystem long-term store in `data/lt`), runs the check (for the embedded
//! store also the check of its value log, with compaction paused), prints the report
//! (human-readable, or JSON with `--json`) and maps it to the exit code:
//!
//! * **0**: no problem found, or every problem repaired;
//! * **1**: problems found and not (all) repaired;
//! * **2**: bad command line or configuration, a store that cannot be opened (the embedded
//!   store is **locked while a server runs**: stop it first), or a backend error during the
//!   scans.
//!
//! Local stores (embedded, filesystem) must already exist: a mistyped path is an error, not
//! an empty, clean store.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use objectstore_service::backend::HighVolumeStore;
use objectstore_service::check::{CheckOptions, CheckReport};
use objectstore_service::clock;

use crate::config::{Config, HighVolumeConfig, LongTermConfig, StorageConfig, ValueLogSettings};

/// Most findings of one kind the human-readable report lists (`--json` lists all).
const LISTED: usize = 20;

/// Options of the `check` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CheckArgs {
    /// Fix what is safe: recover change records of dead instances, sweep expired rows,
    /// delete unreferenced blobs older than the grace, remove dangling tombstones and rows
    /// whose value-log payload is lost (their objects are lost and reported as such), fix
    /// the value log's accounting and compact it.
    #[arg(long)]
    pub repair: bool,
    /// Also compare every large object's long-term blob with what its tombstone records:
    /// the size, and the MD5 where the ETag is one (reads every such blob). Corrupt objects
    /// are reported, never repaired.
    #[arg(long)]
    pub deep: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Unreferenced long-term blobs younger than this are not reported as problems (they
    /// may belong to writes in flight on a live, shared store).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub grace: Duration,
}

/// Runs the check; the exit code as documented in the module docs.
pub(crate) fn main(config: &Config, args: &CheckArgs) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("cannot start the Tokio runtime")
        .and_then(|rt| rt.block_on(run(config, args)));
    match result {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            let printed = if args.json {
                serde_json::to_writer_pretty(&mut out, &report)
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(out))
            } else {
                write_human(&mut out, &report)
            };
            if let Err(e) = printed {
                let _ = writeln!(std::io::stderr(), "error: cannot print the report: {e}");
                return ExitCode::from(2);
            }
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn require_dir(key: &str, path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        Ok(())
    } else {
        anyhow::bail!("`{key}`: no store at {}", path.display())
    }
}

async fn run(config: &Config, args: &CheckArgs) -> anyhow::Result<CheckReport> {
    let StorageConfig::Tiered {
        high_volume,
        long_term,
        ..
    } = &config.storage
    else {
        anyhow::bail!(
            "`objectstore check` checks tiered stores; `storage.type` names a standalone store"
        );
    };
    if let HighVolumeConfig::Embedded { path, .. } = high_volume {
        require_dir("storage.high_volume.path", path)?;
    }
    if let LongTermConfig::Filesystem { path } = long_term {
        require_dir("storage.long_term.path", path)?;
    }
    let clock = clock::system();
    let in_use = |e: anyhow::Error| {
        if format!("{e:#}").contains("is locked") {
            e.context(
                "the store is in use: stop the objectstore server first \
                 (check runs on a stopped store)",
            )
        } else {
            e
        }
    };
    let (hv, embedded) = if let HighVolumeConfig::Embedded { path, value_log } = high_volume {
        // No background compaction while pointers are verified (a repair compacts).
        let paused = ValueLogSettings {
            compaction_bytes_per_second: 0,
            ..value_log.clone()
        };
        let embedded = crate::storage::open_embedded(path, paused, clock.clone())
            .await
            .map_err(in_use)?;
        let hv: Arc<dyn HighVolumeStore> = Arc::new(embedded.clone());
        (hv, Some(embedded))
    } else {
        let hv = crate::storage::open_high_volume(high_volume, clock.clone())
            .await
            .map_err(in_use)?;
        (hv, None)
    };
    let lt = crate::storage::open_long_term("storage.long_term", long_term, clock.clone()).await?;
    let options = CheckOptions {
        repair: args.repair,
        grace: args.grace,
        deep: args.deep,
        ..CheckOptions::default()
    };
    let mut report = objectstore_service::check::check(hv.clone(), lt.clone(), clock, &options)
        .await
        .context("the check failed")?;
    if let Some(embedded) = embedded {
        let value_log = embedded
            .check_value_log(args.repair)
            .await
            .context("the check of the value log failed")?;
        report.value_log = Some(value_log);
    }
    tokio::join!(hv.join(), lt.join());
    Ok(report)
}

/// The human-readable report.
fn write_human(out: &mut impl std::io::Write, r: &CheckReport) -> std::io::Result<()> {
    let mark = |repaired: bool| if repaired { " (repaired)" } else { "" };
    writeln!(
        out,
        "scanned: {} rows ({} tombstones), {} long-term blobs",
        r.rows, r.tombstones, r.blobs
    )?;
    writeln!(
        out,
        "dangling tombstones (object lost): {}",
        r.dangling_tombstones.len()
    )?;
    for f in r.dangling_tombstones.iter().take(LISTED) {
        writeln!(out, "  {} -> {}{}", f.id, f.target, mark(f.repaired))?;
    }
    if r.deep {
        writeln!(
            out,
            "corrupt objects (never repaired): {}",
            r.corrupt_objects.len()
        )?;
        for f in r.corrupt_objects.iter().take(LISTED) {
            writeln!(out, "  {} -> {}: {}", f.id, f.target, f.problem)?;
        }
    }
    writeln!(
        out,
        "unreferenced blobs: {} (plus {} younger than the grace)",
        r.unreferenced_blobs.len(),
        r.recent_unreferenced_blobs
    )?;
    for f in r.unreferenced_blobs.iter().take(LISTED) {
        writeln!(
            out,
            "  {} ({} bytes, {} s old){}",
            f.id,
            f.size,
            f.age_secs,
            mark(f.repaired)
        )?;
    }
    writeln!(out, "expired rows still stored: {}", r.expired_rows.len())?;
    for f in r.expired_rows.iter().take(LISTED) {
        let kind = if f.tombstone { "tombstone" } else { "inline" };
        writeln!(
            out,
            "  {} ({kind}, expired {} s ago){}",
            f.id,
            f.expired_secs,
            mark(f.repaired)
        )?;
    }
    let log = &r.change_log;
    writeln!(
        out,
        "change log: {} records ({} deferred, {} due for recovery), oldest {}",
        log.records,
        log.deferred,
        log.due,
        log.oldest_age_secs
            .map_or_else(|| "-".to_owned(), |s| format!("{s} s old"))
    )?;
    for o in &log.owners {
        let lease = if o.lease_live { "live" } else { "dead" };
        writeln!(
            out,
            "  owner {}: lease {lease}, {} records, {} due",
            o.owner, o.records, o.due
        )?;
    }
    if r.repair && log.due > 0 {
        writeln!(
            out,
            "  recovered {} records ({} failed)",
            log.recovered, log.recovery_failed
        )?;
    }
    if let Some(v) = &r.value_log {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        writeln!(
            out,
            "value log: {} values ({:.1} MiB) in {} segments ({:.1} MiB, {:.1} MiB reclaimable)",
            v.values,
            mib(v.value_bytes),
            v.segments,
            mib(v.segment_bytes),
            mib(v.reclaimable_bytes)
        )?;
        if !v.removed_at_open.is_empty() {
            writeln!(
                out,
                "  unreferenced segments removed at open: {:?}",
                v.removed_at_open
            )?;
        }
        writeln!(
            out,
            "  objects whose payload is lost: {}",
            v.lost_values.len()
        )?;
        for f in v.lost_values.iter().take(LISTED) {
            writeln!(
                out,
                "    {} (segment {} offset {}: {}){}",
                f.id,
                f.segment,
                f.offset,
                f.reason,
                mark(f.repaired)
            )?;
        }
        writeln!(
            out,
            "  segments with wrong accounting: {}",
            v.accounting_errors.len()
        )?;
        for a in v.accounting_errors.iter().take(LISTED) {
            writeln!(
                out,
                "    segment {}: {} live bytes recorded, {} actual{}",
                a.segment,
                a.recorded,
                a.actual,
                mark(a.repaired)
            )?;
        }
        if let Some(c) = &v.compaction {
            writeln!(
                out,
                "  compacted: {} segments deleted, {:.1} MiB moved, {:.1} MiB reclaimed",
                c.segments_deleted,
                mib(c.moved_bytes),
                mib(c.reclaimed_bytes)
            )?;
        }
        for e in &v.errors {
            writeln!(out, "repair error: {e}")?;
        }
    }
    for e in &r.errors {
        writeln!(out, "repair error: {e}")?;
    }
    let verdict = if r.is_clean() {
        if r.problems() == 0 {
            "clean".to_owned()
        } else {
            format!("{} problems, all repaired", r.problems())
        }
    } else {
        format!("{} problems not repaired", r.unrepaired())
    };
    writeln!(out, "result: {verdict}")
}
