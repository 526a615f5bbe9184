//! Storage layout configuration (`storage.*`, spec 12.4), tagged by `type`.
//!
//! Supported layouts:
//!
//! * `type: tiered` (default): `high_volume: {type: embedded, path}` for objects up to
//!   1 MiB and redirect tombstones, `long_term: {type: filesystem, path}` for larger objects
//!   and multipart uploads.
//! * `type: filesystem` with `path`: a standalone filesystem store (no tiering).
//!
//! The reference server's distributed types (`gcs`, `s3compatible`, `bigtable`) are rejected
//! at start-up with a message naming `storage.type`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The storage layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StorageConfig {
    /// A standalone filesystem store rooted at `path`.
    Filesystem {
        /// Root directory (created if missing). Env `OS__STORAGE__PATH`.
        path: PathBuf,
    },
    /// High-volume store for small objects, long-term store for large ones.
    Tiered {
        /// The high-volume tier. Env `OS__STORAGE__HIGH_VOLUME__*`.
        high_volume: HighVolumeConfig,
        /// The long-term tier. Env `OS__STORAGE__LONG_TERM__*`.
        long_term: LongTermConfig,
    },
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self::Tiered {
            high_volume: HighVolumeConfig::Embedded {
                path: PathBuf::from("data/hv"),
            },
            long_term: LongTermConfig::Filesystem {
                path: PathBuf::from("data/lt"),
            },
        }
    }
}

/// The high-volume tier of a tiered layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum HighVolumeConfig {
    /// The embedded single-node store. Default path `data/hv`.
    Embedded {
        /// Directory of the store (created if missing).
        path: PathBuf,
    },
}

/// The long-term tier of a tiered layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LongTermConfig {
    /// A filesystem store. Default path `data/lt`.
    Filesystem {
        /// Root directory (created if missing).
        path: PathBuf,
    },
}

impl StorageConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let empty = |key: &str, path: &PathBuf| {
            if path.as_os_str().is_empty() {
                Err(ConfigError::invalid(key, "must not be empty"))
            } else {
                Ok(())
            }
        };
        match self {
            Self::Filesystem { path } => empty("storage.path", path),
            Self::Tiered {
                high_volume: HighVolumeConfig::Embedded { path: hv },
                long_term: LongTermConfig::Filesystem { path: lt },
            } => {
                empty("storage.high_volume.path", hv)?;
                empty("storage.long_term.path", lt)?;
                if hv == lt {
                    return Err(ConfigError::invalid(
                        "storage.long_term.path",
                        "must differ from storage.high_volume.path",
                    ));
                }
                Ok(())
            }
        }
    }
}
