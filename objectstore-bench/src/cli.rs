//! The command line.
//!
//! ```text
//! objectstore-bench run --target [LABEL=]URL [--target ...] [--pid PID ...]
//!                       [--reference URL] [options] WORKLOAD...
//! objectstore-bench soak --target URL --data-dir DIR [options]
//! objectstore-bench free-port
//! objectstore-bench wait URL [--timeout SECS]
//! ```
//!
//! `run` prints the text table on stdout and progress on stderr; `--json` and `--report`
//! also write files. Exit codes: 0 when the run completed (whatever the figures), 1 when it
//! could not (unreachable target, failed set-up, unwritable output), 2 for a bad command
//! line. `soak` runs [`crate::soak`] and prints its markdown section (also written to
//! `--markdown`). `free-port` prints a port that 127.0.0.1 had free a moment ago; `wait`
//! polls a URL until it answers 2xx (for scripts starting servers).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use http::Method;

use crate::body::ReqBody;
use crate::conn::{Conn, drain};
use crate::fio::read_bandwidth;
use crate::report::{RunReport, markdown, text_table};
use crate::runner::{Measured, run_all};
use crate::size::parse_size;
use crate::target::Target;
use crate::workloads::{Mix, Settings, Workload};

/// Command line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "objectstore-bench",
    version,
    about = "Load generator for the objectstore HTTP API"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run workloads against one or two servers (and a reference).
    Run(Box<RunArgs>),
    /// Overwrite and delete objects for a long time; report the data directory's size
    /// against the live bytes.
    Soak(Box<SoakArgs>),
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// Wait until `URL` answers with a 2xx status.
    Wait {
        /// A loopback URL (e.g. http://127.0.0.1:8888/health).
        url: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).ok_or_else(|| format!("`{s}` is not a size (e.g. 1KiB, 256MiB)"))
}

fn secs_arg(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(v).map_err(|e| format!("`{s}`: {e}"))
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A server to measure: `URL` or `LABEL=URL` (loopback only). Give it once or twice.
    #[arg(long = "target", value_name = "[LABEL=]URL", required = true)]
    pub targets: Vec<String>,
    /// Process id of each target's server, in `--target` order, for its memory and CPU.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Process ids of the reference server (e.g. nginx master and workers; summed).
    #[arg(long = "reference-pid", value_name = "PID")]
    pub reference_pids: Vec<u32>,
    /// Static-file reference server: GETs read `/<bytes>.bin` (e.g. `/1024.bin`).
    #[arg(long, value_name = "[LABEL=]URL")]
    pub reference: Option<String>,
    /// Connections (= concurrent requests) of the throughput workloads.
    #[arg(short = 'c', long, default_value_t = 32)]
    pub connections: usize,
    /// Duration of each throughput workload, seconds.
    #[arg(short = 'd', long, default_value = "5", value_parser = secs_arg)]
    pub duration: Duration,
    /// Request budget of each throughput workload (stops at whichever comes first).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Objects written for the GET/HEAD workloads and the mixed pool.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Usecase of the objects.
    #[arg(long, default_value = "bench")]
    pub usecase: String,
    /// Scopes path segment (`_` = none, or `name=value;...`).
    #[arg(long, default_value = "_")]
    pub scopes: String,
    /// Object size of `put-large` / `get-large`.
    #[arg(long, default_value = "256MiB", value_parser = size_arg)]
    pub large_size: u64,
    /// Concurrent streams of the large-object workloads.
    #[arg(long, default_value_t = 8)]
    pub large_connections: usize,
    /// Requests of each large-object workload (default: one per connection).
    #[arg(long)]
    pub large_requests: Option<u64>,
    /// Weights of the mixed workload.
    #[arg(long, default_value = "get=80,put=15,delete=5")]
    pub mix: Mix,
    /// Object size of the mixed workload.
    #[arg(long, default_value = "1KiB", value_parser = size_arg)]
    pub mixed_size: u64,
    /// Inserts per batch request (the API allows up to 1000).
    #[arg(long, default_value_t = 1000)]
    pub batch_ops: usize,
    /// Payload of each batch insert.
    #[arg(long, default_value = "1KiB", value_parser = size_arg)]
    pub batch_object_size: u64,
    /// Rounds of the batch workload.
    #[arg(long, default_value_t = 3)]
    pub batch_rounds: usize,
    /// Parts per multipart upload.
    #[arg(long, default_value_t = 4)]
    pub parts: usize,
    /// Size of each multipart part.
    #[arg(long, default_value = "8MiB", value_parser = size_arg)]
    pub part_size: u64,
    /// Multipart uploads.
    #[arg(long, default_value_t = 3)]
    pub multipart_rounds: usize,
    /// Run the whole workload list this many times; the report takes the median of the
    /// per-round figures and ratios (each round measures the reference again).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Seed of the mixed workload's choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Runtime worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Write all figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the markdown report with the targets to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// fio JSON of the sequential write with `--end_fsync=1` (the large PUT target's base).
    #[arg(long, value_name = "FILE")]
    pub fio_write: Option<PathBuf>,
    /// fio JSON of the sequential write with `--fsync=1` (reported for information).
    #[arg(long, value_name = "FILE")]
    pub fio_write_fsync: Option<PathBuf>,
    /// fio JSON of the sequential read.
    #[arg(long, value_name = "FILE")]
    pub fio_read: Option<PathBuf>,
    /// The S3 listener of the (first) target, for the `s3-*` workloads (loopback only);
    /// measured with the first target's `--pid` and reported under its label.
    #[arg(long, value_name = "URL")]
    pub s3_target: Option<String>,
    /// Access key id of the S3 workloads' SigV4 signatures.
    #[arg(long, default_value = "bench")]
    pub s3_access_key: String,
    /// Secret access key of the S3 workloads' SigV4 signatures.
    #[arg(long, default_value = "bench-secret")]
    pub s3_secret_key: String,
    /// Region of the S3 workloads' SigV4 signatures.
    #[arg(long, default_value = "us-east-1")]
    pub s3_region: String,
    /// A paragraph for the top of the markdown report (repeatable).
    #[arg(long = "note", value_name = "TEXT")]
    pub notes: Vec<String>,
    /// Workloads: `put:<size>`, `get:<size>`, `head:<size>`, `mixed`, `put-large`,
    /// `get-large`, `batch`, `multipart`, `s3-put:<size>`, `s3-get:<size>`,
    /// `s3-multipart-large`, or the groups `small`, `mid`, `standard` and `s3`
    /// (comma-separated or repeated).
    #[arg(required = true, value_name = "WORKLOAD")]
    pub workloads: Vec<String>,
}

/// Options of `soak` (see [`crate::soak`]).
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// The server (loopback only).
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// The server's data directory (everything it stores: both tiers).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// How long the writers run, seconds.
    #[arg(long, default_value = "300", value_parser = secs_arg)]
    pub duration: Duration,
    /// How long to wait for background work afterwards, seconds.
    #[arg(long, default_value = "30", value_parser = secs_arg)]
    pub settle: Duration,
    /// Sampling interval of the data directory, seconds.
    #[arg(long, default_value = "5", value_parser = secs_arg)]
    pub interval: Duration,
    /// Writers (connections).
    #[arg(short = 'c', long, default_value_t = 16)]
    pub connections: usize,
    /// Keys per writer.
    #[arg(long, default_value_t = 64)]
    pub keys: u64,
    /// Smallest object.
    #[arg(long, default_value = "1KiB", value_parser = size_arg)]
    pub min_size: u64,
    /// Largest object.
    #[arg(long, default_value = "2MiB", value_parser = size_arg)]
    pub max_size: u64,
    /// Usecase of the objects.
    #[arg(long, default_value = "bench")]
    pub usecase: String,
    /// Seed of the choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the markdown section to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

fn parse_labeled(default_label: &str, text: &str) -> anyhow::Result<Target> {
    let (label, url) = match text.split_once('=') {
        Some((label, url)) if !label.contains("://") => (label, url),
        _ => (default_label, text),
    };
    Ok(Target::parse(label, url)?)
}

impl RunArgs {
    /// The settings of the workloads.
    pub fn settings(&self) -> Settings {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Settings {
            connections: self.connections.max(1),
            duration: self.duration,
            requests: self.requests,
            keys: self.keys.max(1),
            usecase: self.usecase.clone(),
            scopes: self.scopes.clone(),
            large_size: self.large_size,
            large_connections: self.large_connections.max(1),
            large_requests: self
                .large_requests
                .unwrap_or(self.large_connections.max(1) as u64),
            mix: self.mix,
            mixed_size: self.mixed_size,
            batch_ops: self.batch_ops.max(1),
            batch_object_size: self.batch_object_size,
            batch_rounds: self.batch_rounds.max(1),
            parts: self.parts.max(1),
            part_size: self.part_size,
            multipart_rounds: self.multipart_rounds.max(1),
            seed: self.seed,
            run_id: format!("{:x}", nanos % (1u128 << 48)),
            s3_signer: Arc::new(crate::sigv4::Signer::new(
                &self.s3_access_key,
                &self.s3_secret_key,
                &self.s3_region,
            )),
        }
    }

    /// The workloads, groups expanded.
    pub fn workloads(&self) -> anyhow::Result<Vec<Workload>> {
        let mut out = Vec::new();
        for name in self.workloads.iter().flat_map(|w| w.split(',')) {
            if !name.trim().is_empty() {
                out.extend(Workload::parse(name).map_err(anyhow::Error::msg)?);
            }
        }
        Ok(out)
    }
}

fn out_line(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

fn err_line(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Runs `run`: the workloads, then the outputs.
pub async fn run(args: &RunArgs) -> anyhow::Result<()> {
    let workloads = args.workloads()?;
    let settings = args.settings();
    if args.targets.len() > 2 {
        anyhow::bail!("at most two --target values");
    }
    let mut measured = Vec::new();
    for (i, text) in args.targets.iter().enumerate() {
        let default = if i == 0 { "objectstore" } else { "target-2" };
        measured.push(Measured {
            target: Arc::new(parse_labeled(default, text)?),
            pids: args.pids.get(i).copied().into_iter().collect(),
        });
    }
    let reference = args
        .reference
        .as_deref()
        .map(|r| {
            parse_labeled("reference", r).map(|t| Measured {
                target: Arc::new(t),
                pids: args.reference_pids.clone(),
            })
        })
        .transpose()?;
    let s3 = match &args.s3_target {
        Some(url) => {
            let first = measured.first().context("--s3-target needs a --target")?;
            Some(Measured {
                target: Arc::new(Target::parse(&first.target.label, url)?),
                pids: first.pids.clone(),
            })
        }
        None => None,
    };
    if s3.is_none() && workloads.iter().any(Workload::is_s3) {
        anyhow::bail!("the s3-* workloads need --s3-target");
    }
    let loadavg_start = crate::report::loadavg();
    let cpu_start = crate::report::CpuTimes::now();
    let results = run_all(
        &settings,
        &measured,
        s3.as_ref(),
        reference.as_ref(),
        &workloads,
        args.rounds,
        &|line| err_line(&format!("[bench] {line}")),
    )
    .await?;
    let fio = |path: &Option<PathBuf>, dir: &str| {
        path.as_deref().map(|p| read_bandwidth(p, dir)).transpose()
    };
    let report = RunReport {
        results,
        fio_write: fio(&args.fio_write, "write")?,
        fio_write_fsync: fio(&args.fio_write_fsync, "write")?,
        fio_read: fio(&args.fio_read, "read")?,
        loadavg_start,
        loadavg_end: crate::report::loadavg(),
        steal_share: cpu_start
            .zip(crate::report::CpuTimes::now())
            .and_then(|(start, end)| start.steal_share(end)),
    };
    out_line(&text_table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        let labels: Vec<String> = measured.iter().map(|m| m.target.label.clone()).collect();
        let md = markdown::markdown(&report, &settings, &labels, &args.notes);
        std::fs::write(path, md).with_context(|| format!("writing {}", path.display()))?;
        err_line(&format!("[bench] report written to {}", path.display()));
    }
    Ok(())
}

/// Runs `soak`.
pub async fn soak(args: &SoakArgs) -> anyhow::Result<()> {
    let target = Arc::new(Target::parse("objectstore", &args.target)?);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let settings = crate::soak::SoakSettings {
        connections: args.connections.max(1),
        keys: args.keys.max(1),
        min_size: args.min_size,
        max_size: args.max_size.max(args.min_size),
        duration: args.duration,
        settle: args.settle,
        interval: args.interval.max(Duration::from_millis(100)),
        data_dir: args.data_dir.clone(),
        usecase: args.usecase.clone(),
        seed: args.seed,
        run_id: format!("{:x}", nanos % (1u128 << 48)),
    };
    let report = crate::soak::run(target, settings, &|line| {
        err_line(&format!("[bench] {line}"));
    })
    .await?;
    let md = report.markdown();
    out_line(&md);
    if let Some(path) = &args.markdown {
        std::fs::write(path, &md).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs `free-port`.
pub fn free_port() -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    out_line(&listener.local_addr()?.port().to_string());
    Ok(())
}

/// Runs `wait`: polls `url` every 100 ms until a 2xx answer or the timeout.
pub async fn wait(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let uri: http::Uri = url.parse()?;
    let target = Arc::new(Target::parse("wait", url)?);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let path = path
        .strip_prefix(target.prefix.as_str())
        .unwrap_or(&path)
        .to_owned();
    let start = Instant::now();
    let mut last = String::from("no attempt");
    while start.elapsed() < timeout {
        match Conn::connect(target.clone()).await {
            Ok(mut conn) => {
                let answer = async {
                    let req = conn.request(Method::GET, &path, ReqBody::Empty)?;
                    let resp = conn.send(req).await?;
                    drain(resp).await
                }
                .await;
                match answer {
                    Ok((status, _)) if status.is_success() => return Ok(()),
                    Ok((status, _)) => last = format!("status {status}"),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} not ready after {timeout:?}: {last}")
}
