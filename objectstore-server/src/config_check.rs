//! The command-line side of configuration checking: `objectstore config check` and the
//! start-up of `objectstore run [--strict-config]` ([`crate::config::Config::check`] does the
//! checking).
//!
//! | | invalid value | unknown key (a typo) |
//! |---|---|---|
//! | `objectstore run` | every problem printed, exit 2 | a warning per key in the log, the server starts |
//! | `objectstore run --strict-config` | every problem printed, exit 2 | every key printed, exit 2 |
//! | `objectstore config check` | every problem printed, exit 2 | every key printed, exit 2 |
//!
//! `config check` also loads the `auth.keys` key files, as `run` does before it serves. It
//! prints one line per problem on stdout and `configuration OK` when there is none.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, ConfigReport, UnknownKey};

/// The exit code of a configuration that must not be used.
const INVALID: u8 = 2;

/// `objectstore config check`: exit 0 when the configuration is clean, 2 otherwise.
pub(crate) fn check_main(file: Option<&Path>) -> ExitCode {
    let report = Config::check_process(file);
    let lines = problems(&report);
    let mut out = std::io::stdout().lock();
    for line in &lines {
        let _ = writeln!(out, "{line}");
    }
    if lines.is_empty() {
        let _ = writeln!(out, "configuration OK");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

/// Every problem of `report` as one line each, the key files included.
pub(crate) fn problems(report: &ConfigReport) -> Vec<String> {
    let mut lines: Vec<String> = match &report.config {
        Ok(config) => match crate::auth::KeyDirectory::load(&config.auth.keys) {
            Ok(_) => Vec::new(),
            Err(e) => vec![format!("error: invalid configuration: {e}")],
        },
        Err(problems) => problems.iter().map(|p| format!("error: {p}")).collect(),
    };
    lines.extend(report.unknown_keys.iter().map(|k| format!("error: {k}")));
    lines
}

/// The configuration `objectstore run` starts with, and the unknown keys to log once logging
/// is up; `Err` with the exit code after printing why it must not start.
pub(crate) fn load_for_run(
    file: Option<&Path>,
    strict: bool,
) -> Result<(Config, Vec<UnknownKey>), ExitCode> {
    let report = Config::check_process(file);
    let mut err = std::io::stderr().lock();
    match report.config {
        Ok(config) if !strict || report.unknown_keys.is_empty() => {
            Ok((config, report.unknown_keys))
        }
        Ok(_) => {
            for key in &report.unknown_keys {
                let _ = writeln!(err, "error: {key}");
            }
            let _ = writeln!(
                err,
                "error: --strict-config: not starting with unknown configuration keys"
            );
            Err(ExitCode::from(INVALID))
        }
        Err(problems) => {
            for problem in &problems {
                let _ = writeln!(err, "error: {problem}");
            }
            // A typo may be why a value is missing: name those keys too.
            for key in &report.unknown_keys {
                let _ = writeln!(err, "warning: {key}");
            }
            Err(ExitCode::from(INVALID))
        }
    }
}

/// Logs each unknown key as a warning (after the logger is installed).
pub(crate) fn log_unknown(keys: &[UnknownKey]) {
    for key in keys {
        tracing::warn!(
            key = %key.key,
            source = %key.source,
            suggestion = key.suggestion.as_deref(),
            "{key}"
        );
    }
}
