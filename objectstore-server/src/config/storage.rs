//! Storage layout configuration (`storage.*`, docs/http-api.md §15.4), tagged by `type`.
//!
//! | `storage.type` | layout | cargo feature |
//! |---|---|---|
//! | `tiered` (default) | `high_volume` (objects up to 1 MiB, redirect tombstones, change log) + `long_term` (larger objects, multipart uploads) | - |
//! | any long-term type | one standalone store: the fields of that type in `storage` itself | that type's |
//!
//! `storage.high_volume.type` ([`HighVolumeConfig`]): `embedded` (default, `path` and the
//! value-log settings of [`ValueLogSettings`]), `postgres` (fields of `PostgresConfig`) or `bigtable` (fields of `BigtableConfig`; not
//! offered standalone). `storage.long_term.type` ([`LongTermConfig`]): `filesystem`
//! (default, `path`), `s3`, `azure` or `gcs` (fields of the `backend::cloud` configs). The
//! tiered layout's own settings (leases, recovery, sweeper, multipart window) are the
//! remaining keys of its section, see [`TieredSettings`]; unknown keys there are rejected.
//!
//! # Adding a backend
//!
//! A variant in [`HighVolumeConfig`] or [`LongTermConfig`] (its `type` is the variant name
//! in lowercase; a long-term type is then also a standalone `storage.type`) and an arm in
//! the matching `open_*` of `crate::storage`. A backend behind a cargo feature is declared
//! twice, `#[cfg(feature = "x")] X(XConfig)` and `#[cfg(not(feature = "x"))] X(NotBuilt)`,
//! with the feature named like the type: every build knows every type name, and one without
//! the feature says which feature to build with.
//!
//! # Defaults and errors
//!
//! The storage section is not part of the serialized defaults that the file and the `OS__`
//! variables are merged onto (a default `path` would otherwise leak into an `s3` section,
//! whose config rejects unknown fields). Each level fills in what is missing while loading
//! (module `tagged`): `type` defaults to `tiered`, `embedded` and `filesystem`, and the
//! default types' `path` to `data/hv` and `data/lt`, so `OS__STORAGE__HIGH_VOLUME__PATH=/fast`
//! alone still works. An unknown `type`, a type whose cargo feature is not compiled into
//! this build, and every field error are start-up errors naming the full key
//! (`storage.long_term.type`, `storage.high_volume.max_connections`, ...); so is an unknown
//! key of a section with a config of its own (every type but `filesystem`: `embedded`
//! refuses keys that are neither `path` nor a value-log setting). The backend
//! configs keep their secrets out of `Debug` (`Secret`, `PostgresUrl`), so a logged
//! configuration never shows a password or key.

use std::path::{Path, PathBuf};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

#[cfg(feature = "bigtable")]
use objectstore_service::backend::bigtable::BigtableConfig;
#[cfg(feature = "azure")]
use objectstore_service::backend::cloud::AzureConfig;
#[cfg(feature = "gcs")]
use objectstore_service::backend::cloud::GcsConfig;
#[cfg(feature = "s3")]
use objectstore_service::backend::cloud::S3Config;
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
use objectstore_service::backend::cloud::UploadSettings;
pub use objectstore_service::backend::embedded::ValueLogSettings;
#[cfg(feature = "postgres")]
use objectstore_service::backend::postgres::PostgresConfig;

use super::ConfigError;
pub use super::tagged::NotBuilt;
use super::tagged::Section;
pub use super::tiering::TieredSettings;

/// The storage layout.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once at start-up; boxing the tiered settings would only complicate patterns"
)]
pub enum StorageConfig {
    /// High-volume store for small objects, long-term store for large ones.
    Tiered {
        /// The high-volume tier. Env `OS__STORAGE__HIGH_VOLUME__*`.
        high_volume: HighVolumeConfig,
        /// The long-term tier. Env `OS__STORAGE__LONG_TERM__*`.
        long_term: LongTermConfig,
        /// Leases, recovery, sweeper and multipart window (`storage.lease_duration`, ...).
        settings: TieredSettings,
    },
    /// One store of a long-term type, configured in `storage` itself (`storage.type:
    /// filesystem` with `storage.path`, `storage.type: s3` with `storage.bucket`, ...).
    Standalone(LongTermConfig),
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self::Tiered {
            high_volume: HighVolumeConfig::default(),
            long_term: LongTermConfig::default(),
            settings: TieredSettings::default(),
        }
    }
}

/// The high-volume tier of a tiered layout, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum HighVolumeConfig {
    /// The embedded single-node store. Default path `data/hv`.
    Embedded {
        /// Directory of the store (created if missing).
        path: PathBuf,
        /// Where mid-size payloads go and how their space comes back: the keys
        /// `storage.high_volume.value_log_threshold`, ... next to `path`.
        #[serde(flatten)]
        value_log: ValueLogSettings,
    },
    /// A PostgreSQL(-compatible) cluster, shared by any number of server instances.
    #[cfg(feature = "postgres")]
    Postgres(PostgresConfig),
    /// PostgreSQL, not compiled into this build (cargo feature `postgres`).
    #[cfg(not(feature = "postgres"))]
    Postgres(NotBuilt),
    /// A Bigtable table (or emulator), shared by any number of server instances.
    #[cfg(feature = "bigtable")]
    Bigtable(BigtableConfig),
    /// Bigtable, not compiled into this build (cargo feature `bigtable`).
    #[cfg(not(feature = "bigtable"))]
    Bigtable(NotBuilt),
}

impl Default for HighVolumeConfig {
    fn default() -> Self {
        Self::Embedded {
            path: PathBuf::from(HIGH_VOLUME_PATH),
            value_log: ValueLogSettings::default(),
        }
    }
}

/// The long-term tier of a tiered layout, or a standalone store; tagged by `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LongTermConfig {
    /// A filesystem store. Default path `data/lt` as a tier; required standalone.
    Filesystem {
        /// Root directory (created if missing).
        path: PathBuf,
    },
    /// An S3 (or S3-compatible) bucket.
    #[cfg(feature = "s3")]
    S3(S3Config),
    /// S3, not compiled into this build (cargo feature `s3`).
    #[cfg(not(feature = "s3"))]
    S3(NotBuilt),
    /// An Azure Blob Storage container.
    #[cfg(feature = "azure")]
    Azure(AzureConfig),
    /// Azure, not compiled into this build (cargo feature `azure`).
    #[cfg(not(feature = "azure"))]
    Azure(NotBuilt),
    /// A Google Cloud Storage bucket.
    #[cfg(feature = "gcs")]
    Gcs(GcsConfig),
    /// GCS, not compiled into this build (cargo feature `gcs`).
    #[cfg(not(feature = "gcs"))]
    Gcs(NotBuilt),
}

impl Default for LongTermConfig {
    fn default() -> Self {
        Self::Filesystem {
            path: PathBuf::from(LONG_TERM_PATH),
        }
    }
}

/// The default `path` of the embedded high-volume tier.
const HIGH_VOLUME_PATH: &str = "data/hv";
/// The default `path` of the filesystem long-term tier.
const LONG_TERM_PATH: &str = "data/lt";

impl HighVolumeConfig {
    /// The directory of a local store.
    fn local_path(&self) -> Option<&Path> {
        match self {
            Self::Embedded { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl LongTermConfig {
    /// The directory of a local store.
    fn local_path(&self) -> Option<&Path> {
        match self {
            Self::Filesystem { path } => Some(path),
            _ => None,
        }
    }

    /// The upload settings of a cloud store.
    #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
    fn uploads(&self) -> Option<&UploadSettings> {
        match self {
            #[cfg(feature = "s3")]
            Self::S3(c) => Some(&c.uploads),
            #[cfg(feature = "azure")]
            Self::Azure(c) => Some(&c.uploads),
            #[cfg(feature = "gcs")]
            Self::Gcs(c) => Some(&c.uploads),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for StorageConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::load(value).map_err(D::Error::custom)
    }
}

impl StorageConfig {
    /// The layout from the `storage` section, with the defaults of the module docs.
    fn load(value: serde_json::Value) -> Result<Self, String> {
        let mut top = Section::new("storage", Some(value), "tiered")?;
        if top.kind() != "tiered" {
            // A standalone store: the tier sections of an overridden tiered layout do not
            // apply.
            top.drop_key("high_volume");
            top.drop_key("long_term");
            return top.parse_among(&["tiered"]).map(Self::Standalone);
        }
        let high_volume = top.take("high_volume", "embedded")?;
        let long_term = top.take("long_term", "filesystem")?;
        Ok(Self::Tiered {
            high_volume: high_volume.with_path(HIGH_VOLUME_PATH).parse()?,
            long_term: long_term.with_path(LONG_TERM_PATH).parse()?,
            // What is left are the tiered settings; a standalone store's fields (`path`,
            // ...) do not belong here and are rejected by name.
            settings: top.rest("tiered settings")?,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let not_empty = |key: &str, path: Option<&Path>| match path {
            Some(path) if path.as_os_str().is_empty() => {
                Err(ConfigError::invalid(key, "must not be empty"))
            }
            _ => Ok(()),
        };
        let (high_volume, long_term, settings) = match self {
            Self::Standalone(store) => return not_empty("storage.path", store.local_path()),
            Self::Tiered {
                high_volume,
                long_term,
                settings,
            } => (high_volume, long_term, settings),
        };
        settings.validate()?;
        if let HighVolumeConfig::Embedded { value_log, .. } = high_volume {
            value_log
                .validate()
                .map_err(|e| ConfigError::invalid("storage.high_volume", e))?;
        }
        let hv = high_volume.local_path();
        let lt = long_term.local_path();
        not_empty("storage.high_volume.path", hv)?;
        not_empty("storage.long_term.path", lt)?;
        #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
        if let Some(uploads) = long_term.uploads() {
            let window = settings.multipart_deadline + settings.multipart_grace;
            if uploads.abandoned_after <= window {
                return Err(ConfigError::invalid(
                    "storage.long_term.uploads.abandoned_after",
                    format!(
                        "must exceed storage.multipart_deadline + storage.multipart_grace \
                         ({}), or live uploads are aborted",
                        humantime::format_duration(window)
                    ),
                ));
            }
        }
        if hv.is_some() && hv == lt {
            return Err(ConfigError::invalid(
                "storage.long_term.path",
                "must differ from storage.high_volume.path",
            ));
        }
        Ok(())
    }
}
