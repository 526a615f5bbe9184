//! Configuration keys that nothing reads: typos (`auth: {enforse: true}`, `htp_addr`) and keys
//! of other versions or other servers (`OS__LOG__LEVEL`, set by the official clients' test
//! harness). Loading ignores them; `objectstore run` logs each at start-up as a warning,
//! `objectstore run --strict-config` and `objectstore config check` refuse them.
//!
//! # Finding them
//!
//! 1. Merge the sources as loading does (defaults, file, `OS__` variables).
//! 2. Deserialize the merged tree into [`Config`] through `serde_ignored`, which reports
//!    every key a struct skipped. Maps whose keys the operator chooses (usecases, key ids,
//!    tags, scopes) are not structs: their keys are never reported.
//! 3. The storage section deserializes by hand from its `type`; the local stores
//!    (`embedded`, `filesystem`) have their keys compared with `schema::children` here
//!    (`filesystem` would skip extra keys silently; `embedded` also refuses them at load,
//!    and this adds the closest valid key). The other storage configs refuse unknown keys
//!    at load.
//! 4. An unknown section (`log: {level: x}`) is reported as each of its leaf keys
//!    (`log.level`), with the source of each: the file, or the `OS__` variable that set it.
//! 5. Each key gets the closest valid key (Jaro-Winkler similarity of at least
//!    [`SIMILAR`], segment by segment: `log.level` → `logging.level`), written the way its
//!    source writes keys (`OS__LOGGING__LEVEL` for a variable).

use std::fmt;
use std::path::PathBuf;

use figment::Figment;
use figment::Source;
use figment::value::Value;

use super::{Config, ENV_PREFIX, EnvVars, schema};

/// The lowest Jaro-Winkler similarity of a suggested key to the unknown one.
pub const SIMILAR: f64 = 0.7;

/// A configuration key that nothing reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The dotted key path (`auth.enforse`, `killswitches.0.usecsae`).
    pub key: String,
    /// Where it was set.
    pub source: KeySource,
    /// The closest valid key path, if any is similar enough.
    pub suggestion: Option<String>,
}

/// Where an unknown key was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The configuration file.
    File(PathBuf),
    /// This `OS__` environment variable.
    Env(String),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown configuration key `{}` ({})",
            self.key, self.source
        )?;
        match (&self.suggestion, &self.source) {
            (Some(key), KeySource::Env(_)) => {
                write!(f, ": did you mean `{key}` ({})?", env_name(key))
            }
            (Some(key), KeySource::File(_)) => write!(f, ": did you mean `{key}`?"),
            (None, _) => write!(f, ": no configuration key is like it; it is ignored"),
        }
    }
}

/// `OS__A__B` for `a.b`.
fn env_name(key: &str) -> String {
    let upper: Vec<String> = key.split('.').map(str::to_ascii_uppercase).collect();
    format!("{ENV_PREFIX}{}", upper.join("__"))
}

/// Every unknown key of the merged sources (module docs), in the order found.
pub(super) fn find(figment: &Figment, env: &EnvVars) -> Vec<UnknownKey> {
    let Ok(merged) = figment.extract::<Value>() else {
        return Vec::new();
    };
    let mut ignored: Vec<Vec<String>> = Vec::new();
    let _: Result<Config, _> = serde_ignored::deserialize(&merged, |path| {
        let mut segments = Vec::new();
        push_segments(&path, &mut segments);
        ignored.push(segments);
    });
    ignored.extend(storage_leftovers(&merged));
    let mut out = Vec::new();
    for path in ignored {
        let mut leaves = Vec::new();
        if let Some(value) = lookup(&merged, &path) {
            collect_leaves(value, path, &mut leaves);
        }
        for (leaf, value) in leaves {
            let refs: Vec<&str> = leaf.iter().map(String::as_str).collect();
            out.push(UnknownKey {
                key: leaf.join("."),
                source: source(figment, env, value, &leaf),
                suggestion: suggest(&merged, &refs),
            });
        }
    }
    out
}

/// The key segments of a `serde_ignored` path (options and newtypes add none).
fn push_segments(path: &serde_ignored::Path<'_>, out: &mut Vec<String>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            push_segments(parent, out);
            out.push(index.to_string());
        }
        Path::Map { parent, key } => {
            push_segments(parent, out);
            out.push(key.clone());
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => {
            push_segments(parent, out);
        }
    }
}

/// Keys of the `path`-only storage sections that are not theirs (step 3).
fn storage_leftovers(merged: &Value) -> Vec<Vec<String>> {
    let kind = schema::storage_kind(merged, &["storage"], "tiered");
    let sections: &[&[&str]] = match kind.as_str() {
        "tiered" => &[&["storage", "high_volume"], &["storage", "long_term"]],
        "filesystem" => &[&["storage"]],
        _ => &[],
    };
    let mut out = Vec::new();
    for parent in sections {
        let (Some(valid), Some(Value::Dict(_, dict))) =
            (schema::children(merged, parent), lookup(merged, parent))
        else {
            continue;
        };
        for key in dict.keys().filter(|k| !valid.contains(&k.as_str())) {
            let mut path: Vec<String> = parent.iter().map(|s| (*s).to_owned()).collect();
            path.push(key.clone());
            out.push(path);
        }
    }
    out
}

/// The value at `path` (dictionary keys and list indices).
fn lookup<'a>(value: &'a Value, path: &[impl AsRef<str>]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, segment| match value {
        Value::Dict(_, dict) => dict.get(segment.as_ref()),
        Value::Array(_, items) => items.get(segment.as_ref().parse::<usize>().ok()?),
        _ => None,
    })
}

/// The leaf keys at and below `path` (a non-empty dictionary is not a leaf).
fn collect_leaves<'a>(
    value: &'a Value,
    path: Vec<String>,
    out: &mut Vec<(Vec<String>, &'a Value)>,
) {
    match value {
        Value::Dict(_, dict) if !dict.is_empty() => {
            for (key, child) in dict {
                let mut child_path = path.clone();
                child_path.push(key.clone());
                collect_leaves(child, child_path, out);
            }
        }
        _ => out.push((path, value)),
    }
}

/// Where the leaf `value` at `path` came from.
fn source(figment: &Figment, env: &EnvVars, value: &Value, path: &[String]) -> KeySource {
    let from_file = figment
        .get_metadata(value.tag())
        .and_then(|m| m.source.as_ref())
        .and_then(|s| match s {
            Source::File(file) => Some(file.clone()),
            _ => None,
        });
    if let Some(file) = from_file {
        return KeySource::File(file);
    }
    // The variable whose key is the longest prefix of `path` (inline tables set several).
    let variable = env
        .vars
        .iter()
        .map(|(key, _)| key)
        .filter(|key| {
            let segments: Vec<&str> = key.split('.').collect();
            path.len() >= segments.len() && path.iter().zip(&segments).all(|(a, b)| a == b)
        })
        .max_by_key(|key| key.len());
    KeySource::Env(env_name(variable.map_or(&path.join("."), |k| k)))
}

/// The closest valid key path to `path` (step 5).
fn suggest(merged: &Value, path: &[&str]) -> Option<String> {
    let mut out: Vec<&str> = Vec::with_capacity(path.len());
    for segment in path {
        let valid = match schema::children(merged, &out) {
            Some(valid) if !valid.contains(segment) => valid,
            // A valid key, or a name the operator chooses.
            _ => {
                out.push(segment);
                continue;
            }
        };
        let lower = segment.to_ascii_lowercase();
        let (best, score) = valid
            .iter()
            .map(|v| (*v, strsim::jaro_winkler(&lower, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        if score < SIMILAR {
            return None;
        }
        out.push(best);
    }
    let suggestion = out.join(".");
    (suggestion != path.join(".")).then_some(suggestion)
}
