//! Value checks that types cannot express, and the whole-configuration report of
//! `objectstore config check` and `objectstore run` ([`Config::check`]).
//!
//! `values` finds every well-typed but unusable value, each error naming its key:
//!
//! * `logging.level` is a level (`trace`, `debug`, `info`, `warn`, `error`, `off`, any case)
//!   or a `tracing` directive list whose bare words are levels (`info,objectstore=debug`). A
//!   bare word that is not a level would be taken as a module name and silently hide every
//!   other log line (`warning` turns logging off); the error suggests the closest level.
//! * `sentry.sample_rate` and `sentry.traces_sample_rate` lie in [0, 1]; a `sentry.dsn`
//!   parses (checked even while unused, so a later DSN does not stop a start).
//! * `runtime.worker_threads` is at least 1; `runtime.metrics_interval` and
//!   `metrics.flush_interval` are not zero; `metrics.buffer_size` is at least 1;
//!   `metrics.addr` is an address the DogStatsD exporter accepts.
//! * `http.min_body_rate_window` is at least 1 s while `http.min_body_rate` is set;
//!   `http.down_marker` is not empty; `service.max_concurrency` is at least 1.
//!
//! [`Config::validate`] reports the first of these before its cross-field rules.

use std::path::Path;
use std::time::Duration;

use super::unknown::{self, UnknownKey};
use super::{Config, ConfigError};

/// The level names `logging.level` accepts (any case).
pub const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Everything loading learns about a configuration (see [`Config::check`]).
#[derive(Debug)]
pub struct ConfigReport {
    /// The configuration, or every reason found why it cannot be used (at least one).
    pub config: Result<Config, Vec<ConfigError>>,
    /// Keys nothing reads (ignored by loading).
    pub unknown_keys: Vec<UnknownKey>,
}

impl ConfigReport {
    /// Whether the configuration loads and has no unknown key.
    pub fn is_clean(&self) -> bool {
        self.config.is_ok() && self.unknown_keys.is_empty()
    }
}

impl Config {
    /// Loads like [`Config::load`], and also reports every unknown key and every invalid
    /// value found (not only the first).
    pub fn check(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> ConfigReport {
        let (figment, env) = match Self::figment(file, env) {
            Ok(loaded) => loaded,
            Err(e) => {
                return ConfigReport {
                    config: Err(vec![e]),
                    unknown_keys: Vec::new(),
                };
            }
        };
        let unknown_keys = unknown::find(&figment, &env);
        let config = match figment.extract::<Config>() {
            Err(e) => Err(e
                .into_iter()
                .map(|e| ConfigError::Load(Box::new(e)))
                .collect()),
            Ok(config) => {
                let problems = values(&config);
                if problems.is_empty() {
                    config.validate().map(|()| config).map_err(|e| vec![e])
                } else {
                    Err(problems)
                }
            }
        };
        ConfigReport {
            config,
            unknown_keys,
        }
    }

    /// [`Config::check`] with the process environment.
    pub fn check_process(file: Option<&Path>) -> ConfigReport {
        Self::check(file, std::env::vars())
    }
}

/// Every invalid value of `config` (module docs).
pub(super) fn values(config: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let mut check = |ok: bool, key: &str, reason: &str| {
        if !ok {
            out.push(ConfigError::invalid(key, reason));
        }
    };
    let sentry = &config.sentry;
    for (key, rate) in [
        ("sentry.sample_rate", sentry.sample_rate),
        ("sentry.traces_sample_rate", sentry.traces_sample_rate),
    ] {
        check((0.0..=1.0).contains(&rate), key, "must be between 0 and 1");
    }
    // The DSN's key is not a secret in Sentry's model, but it stays out of messages anyway.
    let dsn_ok = sentry
        .dsn
        .as_deref()
        .is_none_or(|d| d.is_empty() || d.parse::<sentry::types::Dsn>().is_ok());
    check(dsn_ok, "sentry.dsn", "not a valid DSN");
    check(
        config.runtime.worker_threads != Some(0),
        "runtime.worker_threads",
        "must be at least 1",
    );
    let nonzero = "must be greater than zero";
    check(
        !config.runtime.metrics_interval.is_zero(),
        "runtime.metrics_interval",
        nonzero,
    );
    let metrics = &config.metrics;
    check(
        !metrics.flush_interval.is_zero(),
        "metrics.flush_interval",
        nonzero,
    );
    check(
        metrics.buffer_size != Some(0),
        "metrics.buffer_size",
        "must be at least 1",
    );
    let http = &config.http;
    check(
        http.min_body_rate == 0 || http.min_body_rate_window >= Duration::from_secs(1),
        "http.min_body_rate_window",
        "must be at least 1s while http.min_body_rate is set (0 disables the rate)",
    );
    check(
        !http.down_marker.as_os_str().is_empty(),
        "http.down_marker",
        "must not be empty",
    );
    check(
        config.service.max_concurrency >= 1,
        "service.max_concurrency",
        "must be at least 1",
    );
    if let Some(addr) = &metrics.addr
        && let Err(e) =
            metrics_exporter_dogstatsd::DogStatsDBuilder::default().with_remote_address(addr)
    {
        out.push(ConfigError::invalid("metrics.addr", e.to_string()));
    }
    if let Err(reason) = log_filter(&config.logging.level) {
        out.push(ConfigError::invalid("logging.level", reason));
    }
    out
}

/// Checks `logging.level`: a level, or directives whose bare words are levels and whose
/// `target=level` directives name a level.
pub fn log_filter(level: &str) -> Result<(), String> {
    let is_level = |word: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word));
    let closest = |word: &str| {
        let lower = word.to_ascii_lowercase();
        LEVELS
            .iter()
            .map(|l| (*l, strsim::jaro_winkler(&lower, l)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or("info", |(l, _)| l)
    };
    if level.trim().is_empty() {
        return Err(format!(
            "is empty; expected a level ({})",
            LEVELS.join(", ")
        ));
    }
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        // Span filters (`target[span{field=value}]`) are left to the `tracing` parser.
        if directive.contains('[') {
            continue;
        }
        match directive.rsplit_once('=') {
            Some((_, word)) if !is_level(word) => {
                return Err(format!(
                    "`{word}` in `{directive}` is not a level ({}); did you mean `{}`?",
                    LEVELS.join(", "),
                    closest(word)
                ));
            }
            None if !is_level(directive) => {
                return Err(format!(
                    "`{directive}` is not a level ({}): a bare word is read as a module \
                     name and hides every other log line; did you mean `{}`? (a module's \
                     level is written `module=level`)",
                    LEVELS.join(", "),
                    closest(directive)
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
