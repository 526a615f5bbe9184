//! Server configuration (docs/http-api.md §15): what can be set, its defaults, and how it is
//! loaded.
//!
//! # Loading
//!
//! 1. Start from the defaults below (every field has one; `Config::default()` is the
//!    zero-config server: tiered storage under `./data`, listening on `127.0.0.1:8888`).
//! 2. Merge the YAML file given with `-c/--config`, if any.
//! 3. Merge environment variables starting with `OS__`: the rest of the name, lowercased,
//!    split on `__`, is the key path (`OS__HTTP__MAX_REQUESTS=10` sets `http.max_requests`);
//!    values are TOML-like literals, so arrays and inline tables work
//!    (`OS__AUTH__KEYS={test_kid={key_files=["/x.pem"],max_permissions=["object.read"]}}`).
//! 4. Deserialize; unknown keys are ignored (an existing reference configuration works
//!    unchanged). [`Config::check`] also names each of them with the closest valid key
//!    ([`unknown`]); `objectstore run` logs them as warnings, `--strict-config` and
//!    `objectstore config check` refuse them.
//! 5. [`Config::validate`] checks what deserialization cannot: value ranges
//!    ([`validate`]), then cross-field rules.
//!
//! Any failure in steps 2-5 aborts start-up with a message that names the offending key.
//!
//! `runtime.metrics_interval` is parsed but not acted on yet (kept so that reference
//! configurations stay valid).
//! The `killswitches`, `rate_limits` and `usecases` types belong to [`crate::admission`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::admission::{Killswitch, RateLimitsConfig, UsecasesConfig};

mod auth;
mod observability;
mod s3;
pub mod schema;
mod storage;
#[cfg(test)]
mod storage_tests;
mod tagged;
#[cfg(test)]
mod tests;
mod tiering;
pub mod unknown;
pub mod validate;
#[cfg(test)]
mod validate_tests;

pub use auth::AuthConfig;
pub use observability::{LogFormat, LoggingConfig, MetricsConfig, RuntimeConfig, SentryConfig};
pub use s3::S3Section;
pub use storage::{
    HighVolumeConfig, LongTermConfig, NotBuilt, StorageConfig, TieredSettings, ValueLogSettings,
};
pub use unknown::{KeySource, UnknownKey};
pub use validate::ConfigReport;

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "OS__";

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:8888` (loopback only). Env `OS__HTTP_ADDR`.
    pub http_addr: SocketAddr,
    /// Where objects are stored. Default: tiered, embedded high-volume store under
    /// `./data/hv`, filesystem long-term store under `./data/lt`. Env `OS__STORAGE__*`.
    /// Not in the serialized defaults: the section fills in its own (see [`StorageConfig`]).
    #[serde(skip_serializing)]
    pub storage: StorageConfig,
    /// HTTP layer limits. Env `OS__HTTP__*`.
    pub http: HttpConfig,
    /// Storage service limits. Env `OS__SERVICE__*`.
    pub service: ServiceSection,
    /// Tokio runtime. Env `OS__RUNTIME__*`.
    pub runtime: RuntimeConfig,
    /// Log output. Env `OS__LOGGING__*`.
    pub logging: LoggingConfig,
    /// Error reporting to Sentry. Env `OS__SENTRY__*`.
    pub sentry: SentryConfig,
    /// DogStatsD metrics export. Env `OS__METRICS__*`.
    pub metrics: MetricsConfig,
    /// Authentication keys and enforcement. Env `OS__AUTH__*`.
    pub auth: AuthConfig,
    /// Killswitches: requests matching any entry are refused with 403. Default none;
    /// reloaded from the config file while running. Env `OS__KILLSWITCHES`.
    pub killswitches: Vec<Killswitch>,
    /// Throughput and bandwidth limits (429). Default: unlimited. Env `OS__RATE_LIMITS__*`.
    pub rate_limits: RateLimitsConfig,
    /// Per-usecase expiration rules, keyed by usecase name. Default: every policy allowed.
    /// Env `OS__USECASES`.
    pub usecases: UsecasesConfig,
    /// The S3-compatible listener. Default: on, `127.0.0.1:8889`. Env `OS__S3__*`.
    pub s3: S3Section,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8888)),
            storage: StorageConfig::default(),
            http: HttpConfig::default(),
            service: ServiceSection::default(),
            runtime: RuntimeConfig::default(),
            logging: LoggingConfig::default(),
            sentry: SentryConfig::default(),
            metrics: MetricsConfig::default(),
            auth: AuthConfig::default(),
            killswitches: Vec::new(),
            rate_limits: RateLimitsConfig::default(),
            usecases: Default::default(),
            s3: S3Section::default(),
        }
    }
}

/// HTTP layer settings (`http.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Requests in flight at once on object routes; more are answered 503. Internal routes
    /// (`/health`, `/ready`, `/keda`) are exempt; `0` rejects every object request.
    /// Default 10000. Env `OS__HTTP__MAX_REQUESTS`.
    pub max_requests: usize,
    /// While this file exists `/ready` answers 503 (`objectstore down` creates it).
    /// Default `/tmp/objectstore.down`. Env `OS__HTTP__DOWN_MARKER`.
    pub down_marker: PathBuf,
    /// How long shutdown waits for the storage engine's background work after the last
    /// request finished. Default `5s`. Env `OS__HTTP__SHUTDOWN_TIMEOUT`.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// A request body that sends nothing for this long fails with 408 and the request is
    /// abandoned (its partial write cleaned up); `0s` disables it. Default `30s`. Env
    /// `OS__HTTP__BODY_TIMEOUT`.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// A request body slower than this many bytes per second, averaged over
    /// `min_body_rate_window` of waiting for the client, fails with 408 and the request is
    /// abandoned (see the `body_rate` module); `0` disables it. Default 1024 (8 kbit/s).
    /// Env `OS__HTTP__MIN_BODY_RATE`.
    pub min_body_rate: u64,
    /// The averaging window of `min_body_rate`, also its grace period: nothing is cut off
    /// before the client has been waited for this long. Default `30s`. Env
    /// `OS__HTTP__MIN_BODY_RATE_WINDOW`.
    #[serde(with = "humantime_serde")]
    pub min_body_rate_window: Duration,
    /// An HTTP/1 request head (request line and headers) must arrive within this long, or
    /// the connection is closed; `0s` disables it. Default `30s`. Env
    /// `OS__HTTP__HEADER_TIMEOUT`.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_requests: 10_000,
            down_marker: PathBuf::from("/tmp/objectstore.down"),
            shutdown_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            min_body_rate_window: Duration::from_secs(30),
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// Storage service limits (`service.*`), see [`objectstore_service::service::ServiceConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSection {
    /// Storage operations running at once. Default 500. Env `OS__SERVICE__MAX_CONCURRENCY`.
    pub max_concurrency: usize,
    /// Operations that may wait for a slot. Default 0. Env `OS__SERVICE__CONCURRENCY_QUEUE`.
    pub concurrency_queue: usize,
    /// How long a queued operation waits. Default `1s`.
    /// Env `OS__SERVICE__CONCURRENCY_TIMEOUT`.
    #[serde(with = "humantime_serde")]
    pub concurrency_timeout: Duration,
    /// Share (percent, 1-100) of `max_concurrency` that batch operations may use.
    /// Default 60. Env `OS__SERVICE__BULK_CONCURRENCY_PCT`.
    pub bulk_concurrency_pct: u8,
}

impl Default for ServiceSection {
    fn default() -> Self {
        let d = objectstore_service::service::ServiceConfig::default();
        Self {
            max_concurrency: d.max_concurrency,
            concurrency_queue: d.concurrency_queue,
            concurrency_timeout: d.concurrency_timeout,
            bulk_concurrency_pct: d.bulk_concurrency_pct,
        }
    }
}

impl ServiceSection {
    /// The storage service's configuration.
    pub fn to_service_config(&self) -> objectstore_service::service::ServiceConfig {
        objectstore_service::service::ServiceConfig {
            max_concurrency: self.max_concurrency,
            concurrency_queue: self.concurrency_queue,
            concurrency_timeout: self.concurrency_timeout,
            bulk_concurrency_pct: self.bulk_concurrency_pct.clamp(1, 100),
        }
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file, a value or a type is wrong (figment's message names key and source).
    #[error("invalid configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is well-formed but unusable.
    #[error("invalid configuration: `{key}`: {reason}")]
    Invalid {
        /// The dotted key path.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl Config {
    /// Loads defaults, then `file` (YAML) if given, then the `OS__` variables of `env`, and
    /// validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (figment, _) = Self::figment(file, env)?;
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Steps 1-3 of the module docs: the merged sources, and the `OS__` variables of `env`.
    fn figment(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Figment, EnvVars), ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::invalid(
                    "--config",
                    format!("{} is not a readable file", file.display()),
                ));
            }
            figment = figment.merge(Yaml::file_exact(file));
        }
        let env = EnvVars::new(env);
        Ok((figment.merge(&env), env))
    }

    /// Loads from the process environment (see [`Config::load`]).
    pub fn from_process(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, std::env::vars())
    }

    /// Checks value ranges ([`validate`]) and cross-field rules deserialization cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(first) = validate::values(self).into_iter().next() {
            return Err(first);
        }
        self.storage.validate()?;
        tracing_subscriber::EnvFilter::try_new(self.logging.level.to_ascii_lowercase())
            .map_err(|e| ConfigError::invalid("logging.level", e.to_string()))?;
        if !(1..=100).contains(&self.service.bulk_concurrency_pct) {
            return Err(ConfigError::invalid(
                "service.bulk_concurrency_pct",
                "must be between 1 and 100",
            ));
        }
        if self.auth.enforce == Some(true) && self.auth.keys.is_empty() {
            return Err(ConfigError::invalid(
                "auth.enforce",
                "is true but `auth.keys` is empty: configure at least one key or unset enforce",
            ));
        }
        if !self.http_addr.ip().is_loopback()
            && !self.auth.is_enforced()
            && !self.auth.allow_unauthenticated
        {
            return Err(ConfigError::invalid(
                "http_addr",
                format!(
                    "{} is reachable from other hosts but auth is not enforced; configure \
                     `auth.keys`, or set `auth.allow_unauthenticated: true` to serve without auth",
                    self.http_addr
                ),
            ));
        }
        for (kid, key) in &self.auth.keys {
            if key.key_files.is_empty() {
                return Err(ConfigError::invalid(
                    format!("auth.keys.{kid}.key_files"),
                    "needs at least one public key file",
                ));
            }
        }
        for name in self.usecases.0.keys() {
            objectstore_types::Usecase::new(name.as_str())
                .map_err(|e| ConfigError::invalid(format!("usecases.{name}"), e.to_string()))?;
        }
        self.rate_limits
            .validate()
            .map_err(|e| ConfigError::invalid("rate_limits", e))?;
        self.s3.validate(self.http_addr)?;
        Ok(())
    }
}

/// The `OS__` environment variables as a figment provider. Unlike `figment::providers::Env`
/// it reads from the given list, so tests do not touch the process environment.
struct EnvVars {
    vars: Vec<(String, String)>,
}

impl EnvVars {
    fn new(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = env
            .into_iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(ENV_PREFIX)?;
                let key = rest.to_ascii_lowercase().replace("__", ".");
                (!key.is_empty() && key.split('.').all(|s| !s.is_empty())).then_some((key, value))
            })
            .collect();
        Self { vars }
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("`{ENV_PREFIX}` environment variable(s)")).interpolater(
            |_: &Profile, keys: &[&str]| {
                let upper: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
                format!("{} ({ENV_PREFIX}{})", keys.join("."), upper.join("__"))
            },
        )
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, raw) in &self.vars {
            let value: Value = raw.parse().unwrap_or_else(|e| match e {});
            if let Value::Dict(_, nested) = figment::util::nest(key, value) {
                merge_into(&mut dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Merges `from` into `into`, recursing into dictionaries present in both; other values of
/// `from` win.
fn merge_into(into: &mut Dict, from: Dict) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, nested)) => {
                merge_into(existing, nested);
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}
