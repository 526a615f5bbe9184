//! The `objectstore` command line (spec 12.1):
//! `objectstore [-c FILE] run [--strict-config] | healthcheck | version | sleep <secs> |
//! down [secs] | check | config check`.
//!
//! Exit codes: 0 on success (including a graceful shutdown after a signal), 1 when a
//! command fails (healthcheck not healthy, server error), 2 for an invalid configuration or
//! command line.
//!
//! The HTTP client commands `put | get | head | rm` (and `presign --usecase`) live in
//! [`crate::client`], with their own documented exit codes.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use objectstore_types::Permission;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::config::Config;

/// Command line arguments.
#[derive(Debug, Parser)]
#[command(name = "objectstore", version, about = "Tiered blob storage over HTTP")]
pub struct Cli {
    /// YAML configuration file (overridden by `OS__*` environment variables).
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// HTTP client commands.
    #[command(flatten)]
    Client(crate::client::ClientCommand),
    /// Write a new Ed25519 key pair: `<prefix>.private.pem` (mode 0600) and
    /// `<prefix>.public.pem` (for `auth.keys.<kid>.key_files`).
    Keygen {
        /// Path prefix of the two files.
        prefix: PathBuf,
    },
    /// Print a token (JWT) signed with a private key.
    Token {
        /// Key id the server knows the public key under.
        #[arg(long)]
        kid: String,
        /// PKCS#8 PEM private key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Usecase the token is for.
        #[arg(long)]
        usecase: String,
        /// Scopes in matrix syntax (`org=1;project=2`), `_` for none.
        #[arg(long, default_value = "_")]
        scopes: String,
        /// Permissions granted (repeatable). Default: all three.
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<Permission>,
        /// Lifetime (humantime). Default 1h.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        expires_in: Duration,
    },
    /// Print a pre-signed URL for a GET or HEAD of an object URL (or, with `--usecase`, of
    /// an object key on the server at `--url`).
    Presign {
        /// Key id the server knows the public key under.
        #[arg(long, env = "OBJECTSTORE_KID")]
        kid: String,
        /// PKCS#8 PEM private key file.
        #[arg(
            long,
            alias = "private-key",
            env = "OBJECTSTORE_PRIVATE_KEY",
            value_name = "FILE"
        )]
        key: PathBuf,
        /// `GET` or `HEAD`.
        #[arg(long, default_value = "GET")]
        method: String,
        /// Validity (humantime), at most 7 days. Default 1h.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        valid_for: Duration,
        /// Object addressing (`--url`, `--usecase`, `--scope`, `--json`).
        #[command(flatten)]
        object: crate::client::args::PresignArgs,
        /// The object URL, path percent-encoded as clients send it, without query; with
        /// `--usecase`, the object key.
        url: String,
    },
    /// Check a stopped store's consistency (dangling tombstones, unreferenced blobs, expired
    /// rows, change-log records of dead instances), optionally repair it. Exit 0: clean (or
    /// all repaired); 1: problems left; 2: usage, configuration or backend error (e.g. the
    /// embedded store is locked by a running server).
    Check(crate::check::CheckArgs),
}

/// `objectstore config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load the configuration (`-c FILE` and the `OS__` variables) as `run` would and print
    /// every problem: invalid values, unreadable key files, unknown keys (with the closest
    /// valid key). Exit 0: clean; 2: any problem.
    Check,
}

/// The version string printed by `objectstore version`.
pub fn version_string() -> String {
    match option_env!("OBJECTSTORE_GIT_SHA") {
        Some(sha) => format!("objectstore@{}+{sha}", crate::VERSION),
        None => format!("objectstore@{}", crate::VERSION),
    }
}

fn report(error: &anyhow::Error) {
    let _ = writeln!(std::io::stderr(), "error: {error:#}");
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        Command::Client(command) => return crate::client::main(&command),
        command => Cli { command, ..cli },
    };
    if let Command::Presign {
        kid,
        key,
        method,
        valid_for,
        object,
        url,
    } = &cli.command
        && object.usecase.is_some()
    {
        return crate::client::presign(kid, key, method, *valid_for, object, url);
    }
    if let Command::Version = cli.command {
        let _ = writeln!(std::io::stdout(), "{}", version_string());
        return ExitCode::SUCCESS;
    }
    if let Command::Sleep { secs } = cli.command {
        std::thread::sleep(Duration::from_secs(secs));
        return ExitCode::SUCCESS;
    }
    if let Some(result) = auth_tool(&cli.command) {
        return match result {
            Ok(output) => {
                let _ = writeln!(std::io::stdout(), "{output}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                report(&e);
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return crate::config_check::check_main(cli.config.as_deref());
    }
    if let Command::Run { strict_config } = cli.command {
        let file = cli.config.as_deref();
        return match crate::config_check::load_for_run(file, strict_config) {
            Ok((config, unknown)) => match run(config, cli.config, &unknown) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    report(&e);
                    ExitCode::FAILURE
                }
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
    let result = match cli.command {
        Command::Healthcheck => healthcheck(&config),
        Command::Down { secs } => down(&config, secs),
        Command::Check(args) => return crate::check::main(&config, &args),
        _ => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
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

/// Runs the key and token tools; `None` for other commands.
fn auth_tool(command: &Command) -> Option<anyhow::Result<String>> {
    use crate::auth::tools;
    let result = match command {
        Command::Keygen { prefix } => tools::keygen(prefix).map(|(private, public)| {
            format!(
                "private key: {}\npublic key: {}",
                private.display(),
                public.display()
            )
        }),
        Command::Token {
            kid,
            key,
            usecase,
            scopes,
            permissions,
            expires_in,
        } => tools::read_private_key(key).and_then(|key| {
            let permissions = if permissions.is_empty() {
                Permission::ALL.to_vec()
            } else {
                permissions.clone()
            };
            tools::token(kid, &key, usecase, scopes, &permissions, *expires_in)
        }),
        Command::Presign {
            kid,
            key,
            method,
            valid_for,
            url,
            ..
        } => tools::read_private_key(key)
            .and_then(|key| tools::presign_url(method, url, kid, &key, *valid_for)),
        _ => return None,
    };
    Some(result.map_err(anyhow::Error::from))
}

fn run(
    config: Config,
    file: Option<PathBuf>,
    unknown: &[crate::config::UnknownKey],
) -> anyhow::Result<()> {
    crate::logging::init(&config.logging)?;
    crate::config_check::log_unknown(unknown);
    let _sentry = crate::error_reporting::init(&config.sentry)?;
    let config = Arc::new(config);
    runtime(&config)?.block_on(async {
        // DogStatsD's exporter needs no runtime, but must be installed before any metric.
        crate::metrics::init(&config.metrics)?;
        let shutdown = crate::server::shutdown_signal();
        let listener = crate::server::bind(&config)?;
        let service = crate::storage::build(&config).await?;
        let state = crate::app::AppState::new(service, config)?;
        let _watcher = match file {
            Some(file) => Some(crate::server::watch_killswitches(&state, file)?),
            None => {
                crate::server::ignore_hangup();
                None
            }
        };
        crate::server::serve_state(listener, state, shutdown).await
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
