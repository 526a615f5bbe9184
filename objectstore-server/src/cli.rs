//! The `objectstore` command line (docs/http-api.md §15.1):
//! `objectstore [-c FILE] run [--strict-config] | healthcheck | version | sleep <secs> |
//! down [secs] | check | config check`.
//!
//! Exit codes: 0 on success (including a graceful shutdown after a signal), 1 when a
//! command fails (healthcheck not healthy, server error), 2 for an invalid configuration or
//! command line (including what only shows at start-up: an unreadable auth key file, an
//! unusable `metrics.addr` or Sentry DSN).
//!
//! The client commands `put | get | head | rm` and the signing commands
//! `keygen | token | presign` are the `objectstore-cli` crate's, flattened into this command
//! line, with their own documented exit codes.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::config::Config;

/// Command line arguments.
#[derive(Debug, Parser)]
#[command(name = "objectstore", version, about = "Tiered blob storage over HTTP")]
pub(crate) struct Cli {
    /// YAML configuration file (overridden by `OS__*` environment variables).
    #[arg(short, long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the HTTP API until SIGINT/SIGTERM.
    Run {
        /// Refuse to start (exit 2) when the configuration has keys nothing reads (typos);
        /// without it each is logged as a warning.
        #[arg(long)]
        strict_config: bool,
    },
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 if the server at `http_addr` answers `/health` with 2xx, else 1.
    Healthcheck,
    /// Print `objectstore@<version>[+<git sha>]`.
    Version,
    /// Sleep for the given seconds (for container orchestration hooks).
    Sleep {
        /// Seconds to sleep.
        secs: u64,
    },
    /// Mark the server as going down (`/ready` answers 503), then optionally sleep.
    Down {
        /// Seconds to sleep after creating the marker.
        secs: Option<u64>,
    },
    /// Client and signing commands (`objectstore-cli`).
    #[command(flatten)]
    Client(Box<objectstore_cli::Command>),
    /// Check a stopped store's consistency (dangling tombstones, unreferenced blobs, expired
    /// rows, change-log records of dead instances), optionally repair it. Exit 0: clean (or
    /// all repaired); 1: problems left; 2: usage, configuration or backend error (e.g. the
    /// embedded store is locked by a running server).
    Check(crate::check::CheckArgs),
}

/// `objectstore config ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Load the configuration (`-c FILE` and the `OS__` variables) as `run` would and print
    /// every problem: invalid values, unreadable key files, unknown keys (with the closest
    /// valid key). Exit 0: clean; 2: any problem.
    Check,
}

/// The version string printed by `objectstore version`.
pub(crate) fn version_string() -> String {
    match option_env!("OBJECTSTORE_GIT_SHA") {
        Some(sha) => format!("objectstore@{}+{sha}", crate::VERSION),
        None => format!("objectstore@{}", crate::VERSION),
    }
}

/// Why a server command failed, and so its exit code.
enum Failure {
    /// The configuration cannot be used (a key file, `metrics.addr`, the Sentry DSN): 2.
    Config(anyhow::Error),
    /// The command itself failed (bind, storage, health check): 1.
    Failed(anyhow::Error),
}

impl Failure {
    /// Prints the error once and returns the exit code.
    fn report(&self) -> ExitCode {
        let (error, code) = match self {
            Self::Config(e) => (e, 2),
            Self::Failed(e) => (e, 1),
        };
        let _ = writeln!(std::io::stderr(), "error: {error:#}");
        ExitCode::from(code)
    }
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Command::Client(command) => return objectstore_cli::run(&command),
        Command::Version => {
            let _ = writeln!(std::io::stdout(), "{}", version_string());
            return ExitCode::SUCCESS;
        }
        Command::Sleep { secs } => {
            std::thread::sleep(Duration::from_secs(secs));
            return ExitCode::SUCCESS;
        }
        command => command,
    };
    if let Command::Config(ConfigCommand::Check) = command {
        return crate::config_check::check_main(cli.config.as_deref());
    }
    if let Command::Run { strict_config } = command {
        return match crate::config_check::load_for_run(cli.config.as_deref(), strict_config) {
            Ok((config, unknown)) => match run(config, cli.config, &unknown) {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => failure.report(),
            },
            Err(code) => code,
        };
    }
    let config = match Config::from_process(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Healthcheck => healthcheck(&config).map_err(Failure::Failed),
        Command::Down { secs } => down(&config, secs).map_err(Failure::Failed),
        Command::Check(args) => return crate::check::main(&config, &args),
        Command::Client(_)
        | Command::Version
        | Command::Sleep { .. }
        | Command::Run { .. }
        | Command::Config(_) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn runtime(config: &Config) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("objectstore");
    if let Some(n) = config.runtime.worker_threads {
        builder.worker_threads(n.max(1));
    }
    builder.build().context("cannot start the Tokio runtime")
}

/// `run`: start-up in order (logging, error reporting, metrics, listener, storage, auth
/// keys), then serve until a shutdown signal.
fn run(
    config: Config,
    file: Option<PathBuf>,
    unknown: &[crate::config::UnknownKey],
) -> Result<(), Failure> {
    crate::logging::init(&config.logging).map_err(Failure::Config)?;
    crate::config_check::log_unknown(unknown);
    let _sentry = crate::error_reporting::init(&config.sentry).map_err(Failure::Config)?;
    let config = Arc::new(config);
    let runtime = runtime(&config).map_err(Failure::Failed)?;
    runtime.block_on(async {
        // DogStatsD's exporter needs no runtime, but must be installed before any metric.
        crate::metrics::init(&config.metrics).map_err(Failure::Config)?;
        let shutdown = crate::server::shutdown_signal();
        let listener = crate::server::bind(&config).map_err(Failure::Failed)?;
        let s3_listener = crate::s3::bind(&config).map_err(Failure::Failed)?;
        let service = crate::storage::build(&config)
            .await
            .map_err(Failure::Failed)?;
        let state = crate::state::AppState::new(service, config).map_err(Failure::Config)?;
        let _watcher = match file {
            Some(file) => {
                Some(crate::server::watch_killswitches(&state, file).map_err(Failure::Failed)?)
            }
            None => {
                crate::server::ignore_hangup();
                None
            }
        };
        let s3 = match s3_listener {
            Some(s3_listener) => Some((
                s3_listener,
                crate::s3::front(&state).map_err(Failure::Failed)?,
            )),
            None => None,
        };
        crate::server::serve_with_s3(listener, s3, state, shutdown)
            .await
            .map_err(Failure::Failed)
    })
}

fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let mut addr = config.http_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the Tokio runtime")?;
    let status = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), async {
            let mut stream = tokio::net::TcpStream::connect(addr)
                .await
                .with_context(|| format!("cannot connect to {addr}"))?;
            let request =
                format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await?;
            let head = String::from_utf8_lossy(&response);
            head.split_whitespace()
                .nth(1)
                .and_then(|code| code.parse::<u16>().ok())
                .context("malformed HTTP response")
        })
        .await
        .context("health check timed out")?
    })?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        anyhow::bail!("/health answered {status}")
    }
}

fn down(config: &Config, secs: Option<u64>) -> anyhow::Result<()> {
    let marker = &config.http.down_marker;
    std::fs::write(marker, b"")
        .with_context(|| format!("cannot create the down marker {}", marker.display()))?;
    if let Some(secs) = secs {
        std::thread::sleep(Duration::from_secs(secs));
    }
    Ok(())
}
