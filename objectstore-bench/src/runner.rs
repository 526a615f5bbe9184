//! Runs the workloads over the targets and the reference, in a fixed order.
//!
//! # Order
//!
//! The whole list runs `rounds` times (round 0, 1, ...); each round has its own key prefix
//! (so PUTs stay distinct) and measures the reference again, so every comparison pairs
//! figures taken minutes apart at most. Within a round, for each workload, in the order
//! given:
//!
//! 1. For each target (in `--target` order): the untimed set-up (objects for GET/HEAD, the
//!    key pool for `mixed`, one large object for `get-large` unless `put-large` already
//!    wrote one), then the measured phase on fresh connections, with the target's memory
//!    sampler running when it has a `--pid`.
//! 2. Then, if a reference is configured and the workload has a reference size that was not
//!    measured yet in this run, a GET run of `/<size>.bin` on the reference with the same
//!    connections and limits, reported as workload `ref-get:<size>`. Interleaving keeps
//!    each comparison close in time.
//!
//! A target that cannot be reached aborts the run (the figures would be meaningless); a
//! workload whose set-up fails is reported with the set-up error and skipped for that target.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context as _;

use crate::engine::{Limits, connect_all, run};
use crate::process::Sampler;
use crate::stats::{OpSummary, Recorder};
use crate::target::Target;
use crate::workloads::small::{MixedPlan, Paths, PutPlan, ReadPlan};
use crate::workloads::{Settings, Workload, WorkloadResult, batch, multipart, s3};

/// A server to measure, with the pids whose memory and CPU to sample.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Where it listens.
    pub target: Arc<Target>,
    /// Its process ids (`--pid`, `--reference-pid`); empty: not sampled.
    pub pids: Vec<u32>,
}

fn start_sampler(pids: &[u32]) -> Option<Sampler> {
    (!pids.is_empty()).then(|| Sampler::start(pids))
}

/// What a target already holds from earlier workloads of this run.
#[derive(Default)]
struct TargetState {
    /// GET/HEAD objects by size.
    objects: HashMap<u64, Arc<Vec<String>>>,
    /// The mixed workload's pool.
    pool: Option<Arc<Vec<String>>>,
    /// A large object written by `put-large` or the `get-large` set-up.
    large: Option<String>,
    /// Whether the S3 workloads' bucket exists.
    bucket: bool,
}

/// Runs `workloads`; `progress` receives one line per phase (for stderr).
pub async fn run_all(
    settings: &Settings,
    targets: &[Measured],
    s3: Option<&Measured>,
    reference: Option<&Measured>,
    workloads: &[Workload],
    rounds: usize,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Vec<WorkloadResult>> {
    let mut states: Vec<TargetState> = targets.iter().map(|_| TargetState::default()).collect();
    let mut s3_state = TargetState::default();
    let mut results = Vec::new();
    for round in 0..rounds.max(1) {
        let mut settings = settings.clone();
        if round > 0 {
            settings.run_id = format!("{}r{round}", settings.run_id);
        }
        let settings = &settings;
        let mut reference_done: BTreeSet<u64> = BTreeSet::new();
        for workload in workloads {
            // The S3 workloads run on the S3 listener only (reported under the first
            // target's label); every other workload on every target.
            let runs: Vec<(&Measured, &mut TargetState)> = match (workload.is_s3(), s3) {
                (true, Some(s3)) => vec![(s3, &mut s3_state)],
                (true, None) => anyhow::bail!("{} needs --s3-target", workload.name()),
                (false, _) => targets.iter().zip(states.iter_mut()).collect(),
            };
            for (measured, state) in runs {
                progress(&format!(
                    "round {round}: {} on {}",
                    workload.name(),
                    measured.target.label
                ));
                let mut result = run_one(settings, measured, state, *workload)
                    .await
                    .with_context(|| format!("{} on {}", workload.name(), measured.target.label))?;
                result.round = round;
                results.push(result);
            }
            if let (Some(reference), Some(size)) = (reference, workload.reference_size(settings))
                && reference_done.insert(size)
            {
                progress(&format!(
                    "round {round}: reference GET /{size}.bin on {}",
                    reference.target.label
                ));
                let large = matches!(workload, Workload::PutLarge | Workload::GetLarge);
                let mut result = run_reference(settings, reference, size, large)
                    .await
                    .with_context(|| format!("reference GET /{size}.bin"))?;
                result.round = round;
                results.push(result);
            }
        }
    }
    Ok(results)
}

/// The workload name of the reference GET of `size` (`ref-get:1KiB`).
pub fn reference_name(size: u64) -> String {
    format!("ref-get:{}", crate::size::format_size(size))
}

fn small_limits(settings: &Settings) -> Limits {
    Limits {
        requests: settings.requests,
        duration: Some(settings.duration),
    }
}

fn large_limits(settings: &Settings) -> Limits {
    Limits {
        requests: Some(settings.large_requests),
        duration: None,
    }
}

async fn run_reference(
    settings: &Settings,
    reference: &Measured,
    size: u64,
    large: bool,
) -> anyhow::Result<WorkloadResult> {
    let (connections, limits) = if large {
        (settings.large_connections, large_limits(settings))
    } else {
        (settings.connections, small_limits(settings))
    };
    let conns = connect_all(&reference.target, connections).await?;
    let plan = ReadPlan {
        paths: Arc::new(vec![format!("/{size}.bin")]),
        size,
        head: false,
    };
    let sampler = start_sampler(&reference.pids);
    let out = run(Arc::new(plan), conns, limits, settings.seed).await;
    let process = sampler.and_then(Sampler::finish);
    let reconnects = out.reconnects;
    Ok(WorkloadResult {
        workload: reference_name(size),
        round: 0,
        target: reference.target.label.clone(),
        reference: true,
        size: Some(size),
        connections,
        ops: out.summaries(),
        process,
        speedup: None,
        reconnects,
        compare_size: Some(size),
    })
}

/// Writes `paths` (untimed) with `size` bytes each; fails if any write failed.
/// The paths of `--keys` objects named `<prefix>-<i>`.
fn keyed_paths(settings: &Settings, prefix: &str) -> Arc<Vec<String>> {
    let path = |i| settings.object_path(&format!("{prefix}-{i}"));
    Arc::new((0..settings.keys).map(path).collect())
}

async fn populate(
    target: &Arc<Target>,
    connections: usize,
    paths: Arc<Vec<String>>,
    size: u64,
    seed: u64,
) -> anyhow::Result<()> {
    let n = paths.len() as u64;
    let conns = connect_all(target, connections.max(1)).await?;
    let plan = PutPlan {
        paths: Paths::List(paths),
        size,
    };
    let limits = Limits {
        requests: Some(n),
        duration: None,
    };
    let out = run(Arc::new(plan), conns, limits, seed).await;
    for (op, rec) in out.ops {
        let s = rec.summarize(op, out.elapsed);
        if s.errors > 0 {
            anyhow::bail!(
                "set-up: {} of {n} writes failed, first: {}",
                s.errors,
                s.first_error.unwrap_or_default()
            );
        }
    }
    Ok(())
}

async fn run_one(
    settings: &Settings,
    measured: &Measured,
    state: &mut TargetState,
    workload: Workload,
) -> anyhow::Result<WorkloadResult> {
    let target = &measured.target;
    let run_id = &settings.run_id;
    let mut connections = settings.connections;
    let mut speedup = None;
    let mut reconnects = 0;
    let mut size = workload.reference_size(settings);

    // Set-up (untimed), then the measured phase with the sampler running.
    let ops: Vec<OpSummary>;
    let sampler;
    match workload {
        Workload::Put(s) => {
            let conns = connect_all(target, connections).await?;
            let plan = PutPlan {
                paths: Paths::Distinct(settings.object_path(&format!("put-{run_id}-{s}"))),
                size: s,
            };
            sampler = start_sampler(&measured.pids);
            let out = run(Arc::new(plan), conns, small_limits(settings), settings.seed).await;
            reconnects = out.reconnects;
            ops = out.summaries();
        }
        Workload::Get(s) | Workload::Head(s) => {
            let paths = match state.objects.get(&s) {
                Some(p) => p.clone(),
                None => {
                    let paths = keyed_paths(settings, &format!("obj-{run_id}-{s}"));
                    populate(target, connections, paths.clone(), s, settings.seed).await?;
                    state.objects.insert(s, paths.clone());
                    paths
                }
            };
            let conns = connect_all(target, connections).await?;
            let plan = ReadPlan {
                paths,
                size: s,
                head: matches!(workload, Workload::Head(_)),
            };
            sampler = start_sampler(&measured.pids);
            let out = run(Arc::new(plan), conns, small_limits(settings), settings.seed).await;
            reconnects = out.reconnects;
            ops = out.summaries();
        }
        Workload::Mixed => {
            size = Some(settings.mixed_size);
            let pool = match &state.pool {
                Some(p) => p.clone(),
                None => {
                    let pool = keyed_paths(settings, &format!("mix-{run_id}"));
                    populate(
                        target,
                        connections,
                        pool.clone(),
                        settings.mixed_size,
                        settings.seed,
                    )
                    .await?;
                    state.pool = Some(pool.clone());
                    pool
                }
            };
            let conns = connect_all(target, connections).await?;
            let plan = MixedPlan {
                paths: pool,
                size: settings.mixed_size,
                mix: settings.mix,
            };
            sampler = start_sampler(&measured.pids);
            let out = run(Arc::new(plan), conns, small_limits(settings), settings.seed).await;
            reconnects = out.reconnects;
            ops = out.summaries();
        }
        Workload::PutLarge => {
            connections = settings.large_connections;
            let prefix = settings.object_path(&format!("large-{run_id}"));
            let conns = connect_all(target, connections).await?;
            let plan = PutPlan {
                paths: Paths::Distinct(prefix.clone()),
                size: settings.large_size,
            };
            sampler = start_sampler(&measured.pids);
            let out = run(Arc::new(plan), conns, large_limits(settings), settings.seed).await;
            reconnects = out.reconnects;
            ops = out.summaries();
            if ops.iter().all(|o| o.errors == 0 && o.count > 0) {
                state.large = Some(format!("{prefix}-0"));
            }
        }
        Workload::GetLarge => {
            connections = settings.large_connections;
            let path = match &state.large {
                Some(p) => p.clone(),
                None => {
                    let p = settings.object_path(&format!("large-get-{run_id}"));
                    populate(target, 1, Arc::new(vec![p.clone()]), settings.large_size, 0).await?;
                    state.large = Some(p.clone());
                    p
                }
            };
            let conns = connect_all(target, connections).await?;
            let plan = ReadPlan {
                paths: Arc::new(vec![path]),
                size: settings.large_size,
                head: false,
            };
            sampler = start_sampler(&measured.pids);
            let out = run(Arc::new(plan), conns, large_limits(settings), settings.seed).await;
            reconnects = out.reconnects;
            ops = out.summaries();
        }
        Workload::Batch => {
            connections = 1;
            size = Some(settings.batch_object_size);
            let mut conns = connect_all(target, 1).await?;
            sampler = start_sampler(&measured.pids);
            let (rows, s) = match conns.first_mut() {
                Some(conn) => batch::run(conn, settings).await,
                None => (Vec::new(), None),
            };
            ops = rows;
            speedup = s;
        }
        Workload::Multipart => {
            connections = 1;
            size = Some(settings.part_size);
            let mut conns = connect_all(target, 1).await?;
            sampler = start_sampler(&measured.pids);
            ops = match conns.first_mut() {
                Some(conn) => multipart::run(conn, settings).await,
                None => vec![Recorder::default().summarize("none", Default::default())],
            };
        }
        Workload::S3Put(_) | Workload::S3Get(_) | Workload::S3MultipartLarge => {
            (connections, size, sampler, ops) = run_s3(settings, measured, state, workload).await?;
        }
    }
    let process = sampler.and_then(Sampler::finish);
    Ok(WorkloadResult {
        workload: workload.name(),
        round: 0,
        target: target.label.clone(),
        reference: false,
        size,
        connections,
        ops,
        process,
        speedup,
        reconnects,
        compare_size: workload.reference_size(settings),
    })
}

/// The S3 workloads (module `workloads::s3`): connections, size, sampler, summaries.
async fn run_s3(
    settings: &Settings,
    measured: &Measured,
    state: &mut TargetState,
    workload: Workload,
) -> anyhow::Result<(usize, Option<u64>, Option<Sampler>, Vec<OpSummary>)> {
    let target = &measured.target;
    let run_id = &settings.run_id;
    let signer = settings.s3_signer.clone();
    if !state.bucket {
        let mut conns = connect_all(target, 1).await?;
        if let Some(conn) = conns.first_mut() {
            s3::create_bucket(conn, &signer, &settings.usecase)
                .await
                .map_err(anyhow::Error::msg)?;
        }
        state.bucket = true;
    }
    let connections = settings.connections;
    let (connections, size, plan_out) = match workload {
        Workload::S3Put(s) => {
            let conns = connect_all(target, connections).await?;
            let plan = s3::S3PutPlan {
                paths: s3::S3Paths::Distinct(settings.s3_path(&format!("s3put-{run_id}-{s}"))),
                size: s,
                signer,
            };
            let sampler = start_sampler(&measured.pids);
            let out = run(Arc::new(plan), conns, small_limits(settings), settings.seed).await;
            (connections, Some(s), (sampler, out))
        }
        Workload::S3Get(s) => {
            let paths = match state.objects.get(&s) {
                Some(p) => p.clone(),
                None => {
                    let paths: Arc<Vec<String>> = Arc::new(
                        (0..settings.keys)
                            .map(|i| settings.s3_path(&format!("s3obj-{run_id}-{s}-{i}")))
                            .collect(),
                    );
                    let conns = connect_all(target, connections).await?;
                    let plan = s3::S3PutPlan {
                        paths: s3::S3Paths::List(paths.clone()),
                        size: s,
                        signer: signer.clone(),
                    };
                    let limits = Limits {
                        requests: Some(paths.len() as u64),
                        duration: None,
                    };
                    let out = run(Arc::new(plan), conns, limits, settings.seed).await;
                    for summary in out.summaries() {
                        if summary.errors > 0 {
                            anyhow::bail!(
                                "set-up: {} S3 writes failed, first: {}",
                                summary.errors,
                                summary.first_error.unwrap_or_default()
                            );
                        }
                    }
                    state.objects.insert(s, paths.clone());
                    paths
                }
            };
            let conns = connect_all(target, connections).await?;
            let plan = s3::S3GetPlan {
                paths,
                size: s,
                signer,
            };
            let sampler = start_sampler(&measured.pids);
            let out = run(Arc::new(plan), conns, small_limits(settings), settings.seed).await;
            (connections, Some(s), (sampler, out))
        }
        _ => {
            let connections = settings.large_connections;
            let conns = connect_all(target, connections).await?;
            let plan = s3::S3MultipartPlan {
                prefix: settings.s3_path(&format!("s3large-{run_id}")),
                size: settings.large_size,
                part_size: settings.part_size,
                signer,
            };
            let sampler = start_sampler(&measured.pids);
            let out = run(Arc::new(plan), conns, large_limits(settings), settings.seed).await;
            (connections, Some(settings.large_size), (sampler, out))
        }
    };
    let (sampler, out) = plan_out;
    Ok((connections, size, sampler, out.summaries()))
}
