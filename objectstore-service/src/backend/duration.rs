//! How the backend configurations (PostgreSQL, Bigtable) read durations: humantime text
//! (`10s`, `1m 30s`) or a number of seconds, so that YAML, JSON and environment overrides
//! all work.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration as humantime text (`10s`, `1m 30s`) or a number of seconds.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => humantime::parse_duration(&t).map_err(serde::de::Error::custom),
    }
}
