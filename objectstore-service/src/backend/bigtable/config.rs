//! [`BigtableConfig`]: where the Bigtable backend connects and how.
//!
//! The reference server's keys (`endpoint`, `project_id`, `instance_name`, `table_name`,
//! `connections`) plus `timeout` and `create_table`. Credentials are never part of the
//! config: against Google Cloud they come from Application Default Credentials
//! (`GOOGLE_APPLICATION_CREDENTIALS`, the metadata server, `gcloud auth`), so there is no
//! secret to keep out of logs here; the emulator needs none.
//!
//! **Endpoint choice** (first that applies): `endpoint` from the config, then the
//! `BIGTABLE_EMULATOR_HOST` environment variable (both `host:port` of an emulator, plaintext
//! and without credentials), else Google's production endpoint over TLS with ADC.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Configuration of [`super::BigtableBackend`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigtableConfig {
    /// `host:port` of a Bigtable emulator (plaintext, no credentials). When unset, the
    /// `BIGTABLE_EMULATOR_HOST` variable, else Google's production endpoint.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The Google Cloud project. Required.
    pub project_id: String,
    /// The Bigtable instance. Required.
    pub instance_name: String,
    /// The table (families `fg` and `fm`, see the module docs). Required.
    pub table_name: String,
    /// Number of gRPC channels (HTTP/2 connections) requests are balanced over. Default 1.
    #[serde(default = "defaults::connections")]
    pub connections: usize,
    /// Deadline of every request. Humantime (`10s`) or seconds. Default 10 s.
    #[serde(
        default = "defaults::timeout",
        deserialize_with = "crate::backend::duration::deserialize"
    )]
    pub timeout: Duration,
    /// Create the table with its column families at start-up when it is missing. Only done
    /// against an emulator; on Google Cloud the table is created by the operator (see
    /// `docs/backends.md`) and start-up only checks that it can be read. Default true.
    #[serde(default = "defaults::create_table")]
    pub create_table: bool,
}

mod defaults {
    use std::time::Duration;

    pub fn connections() -> usize {
        1
    }

    pub fn timeout() -> Duration {
        Duration::from_secs(10)
    }

    pub fn create_table() -> bool {
        true
    }
}

impl BigtableConfig {
    /// A config with the defaults for the optional fields.
    pub fn new(
        project_id: impl Into<String>,
        instance_name: impl Into<String>,
        table_name: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: None,
            project_id: project_id.into(),
            instance_name: instance_name.into(),
            table_name: table_name.into(),
            connections: defaults::connections(),
            timeout: defaults::timeout(),
            create_table: defaults::create_table(),
        }
    }

    /// The emulator to use, if any: `endpoint`, else `BIGTABLE_EMULATOR_HOST`.
    pub fn emulator(&self) -> Option<String> {
        self.endpoint
            .clone()
            .filter(|e| !e.is_empty())
            .or_else(|| std::env::var("BIGTABLE_EMULATOR_HOST").ok())
            .filter(|e| !e.is_empty())
    }

    /// Rejects settings that cannot work, with a message naming the field.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |why: String| Err(Error::InvalidRequest(format!("bigtable config: {why}")));
        // Resource ids as Google Cloud allows them: no `/` (they become resource paths).
        for (field, value) in [
            ("project_id", &self.project_id),
            ("instance_name", &self.instance_name),
            ("table_name", &self.table_name),
        ] {
            let ok = !value.is_empty()
                && value.len() <= 50
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                return invalid(format!(
                    "{field} {value:?} must be 1 to 50 ASCII letters, digits, `-`, `_` or `.`"
                ));
            }
        }
        if let Some(endpoint) = &self.endpoint
            && (endpoint.contains("://") || endpoint.contains('/'))
        {
            return invalid(format!(
                "endpoint {endpoint:?} must be `host:port` of an emulator"
            ));
        }
        if self.connections == 0 || self.connections > 256 {
            return invalid("connections must be between 1 and 256".into());
        }
        if self.timeout.is_zero() {
            return invalid("timeout must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        let config: BigtableConfig = serde_json::from_str(
            r#"{"project_id": "p", "instance_name": "i", "table_name": "t", "timeout": "2s 500ms"}"#,
        )
        .unwrap();
        assert_eq!(config.timeout, Duration::from_millis(2500));
        assert_eq!(config.connections, 1);
        assert_eq!(config.endpoint, None);
        assert!(config.create_table);
        assert!(config.validate().is_ok());
        assert!(
            serde_json::from_str::<BigtableConfig>(
                r#"{"project_id": "p", "instance_name": "i", "table_name": "t", "typo": 1}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<BigtableConfig>(r#"{"project_id": "p", "instance_name": "i"}"#)
                .is_err(),
            "table_name is required"
        );
        let bad = [
            BigtableConfig::new("", "i", "t"),
            BigtableConfig::new("p/x", "i", "t"),
            BigtableConfig::new("p", "i", "t t"),
            BigtableConfig {
                connections: 0,
                ..BigtableConfig::new("p", "i", "t")
            },
            BigtableConfig {
                timeout: Duration::ZERO,
                ..BigtableConfig::new("p", "i", "t")
            },
            BigtableConfig {
                endpoint: Some("http://127.0.0.1:1".into()),
                ..BigtableConfig::new("p", "i", "t")
            },
        ];
        for config in bad {
            assert!(
                matches!(config.validate(), Err(Error::InvalidRequest(_))),
                "{config:?} accepted"
            );
        }
    }
}
