//! Storage layout configuration (`storage.*`, spec 12.4), tagged by `type`.
//!
//! | `storage.type` | layout | cargo feature |
//! |---|---|---|
//! | `tiered` (default) | `high_volume` (objects up to 1 MiB, redirect tombstones, change log) + `long_term` (larger objects, multipart uploads) | - |
//! | `filesystem` | a standalone filesystem store at `path` | - |
//! | `s3`, `azure`, `gcs` | a standalone cloud store (fields of the matching `backend::cloud` config) | `s3`, `azure`, `gcs` |
//!
//! The tiered layout's own settings (leases, recovery, sweeper, multipart window) are the
//! remaining keys of its section, see [`TieredSettings`]; unknown keys there are rejected.
//!
//! `storage.high_volume.type`: `embedded` (default, `path` and the value-log settings of
//! [`ValueLogSettings`]), `postgres` (feature `postgres`,
//! fields of [`PostgresConfig`]) or `bigtable` (feature `bigtable`, fields of
//! `BigtableConfig`; a standalone `storage.type: bigtable` is not offered).
//! `storage.long_term.type`: `filesystem` (default, `path`),
//! `s3`, `azure` or `gcs` (features of the same names).
//!
//! # Defaults and merging
//!
//! The storage section is not part of the serialized defaults that the file and the `OS__`
//! variables are merged onto (a default `path` would otherwise leak into an `s3` section,
//! whose config rejects unknown fields). Instead every level fills in what is missing while
//! deserializing: `type` defaults to `tiered`, `embedded` and `filesystem`, and the paths to
//! `data/hv` and `data/lt`, so `OS__STORAGE__HIGH_VOLUME__PATH=/fast` alone still works.
//!
//! # Errors
//!
//! An unknown `type`, a type whose cargo feature is not compiled into this build, and every
//! field error of a backend config are start-up errors naming the full key
//! (`storage.long_term.type`, `storage.high_volume.max_connections`, ...). The backend
//! configs keep their secrets out of `Debug` (`Secret`, `PostgresUrl`), so a logged
//! configuration never shows a password or key.

use std::path::PathBuf;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

#[cfg(feature = "bigtable")]
pub use objectstore_service::backend::bigtable::BigtableConfig;
#[cfg(feature = "azure")]
pub use objectstore_service::backend::cloud::AzureConfig;
#[cfg(feature = "gcs")]
pub use objectstore_service::backend::cloud::GcsConfig;
#[cfg(feature = "s3")]
pub use objectstore_service::backend::cloud::S3Config;
pub use objectstore_service::backend::embedded::ValueLogSettings;
#[cfg(feature = "postgres")]
pub use objectstore_service::backend::postgres::PostgresConfig;

use super::ConfigError;
pub use super::tiering::TieredSettings;

/// The storage layout.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once at start-up; boxing the tiered settings would only complicate patterns"
)]
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
        /// Leases, recovery, sweeper and multipart window (`storage.lease_duration`, ...).
        settings: TieredSettings,
    },
    /// A standalone S3 (or S3-compatible) store. Env `OS__STORAGE__BUCKET`, ...
    #[cfg(feature = "s3")]
    S3(S3Config),
    /// A standalone Azure Blob Storage container. Env `OS__STORAGE__CONTAINER`, ...
    #[cfg(feature = "azure")]
    Azure(AzureConfig),
    /// A standalone Google Cloud Storage bucket. Env `OS__STORAGE__BUCKET`, ...
    #[cfg(feature = "gcs")]
    Gcs(GcsConfig),
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

/// The high-volume tier of a tiered layout.
#[derive(Debug, Clone, PartialEq)]
pub enum HighVolumeConfig {
    /// The embedded single-node store. Default path `data/hv`.
    Embedded {
        /// Directory of the store (created if missing).
        path: PathBuf,
        /// Where mid-size payloads go and how their space comes back
        /// (`storage.high_volume.value_log_threshold`, ...).
        value_log: ValueLogSettings,
    },
    /// A PostgreSQL(-compatible) cluster, shared by any number of server instances.
    #[cfg(feature = "postgres")]
    Postgres(PostgresConfig),
    /// A Bigtable table (or emulator), shared by any number of server instances.
    #[cfg(feature = "bigtable")]
    Bigtable(BigtableConfig),
}

impl Default for HighVolumeConfig {
    fn default() -> Self {
        Self::Embedded {
            path: PathBuf::from("data/hv"),
            value_log: ValueLogSettings::default(),
        }
    }
}

/// The long-term tier of a tiered layout.
#[derive(Debug, Clone, PartialEq)]
pub enum LongTermConfig {
    /// A filesystem store. Default path `data/lt`.
    Filesystem {
        /// Root directory (created if missing).
        path: PathBuf,
    },
    /// An S3 (or S3-compatible) bucket.
    #[cfg(feature = "s3")]
    S3(S3Config),
    /// An Azure Blob Storage container.
    #[cfg(feature = "azure")]
    Azure(AzureConfig),
    /// A Google Cloud Storage bucket.
    #[cfg(feature = "gcs")]
    Gcs(GcsConfig),
}

impl Default for LongTermConfig {
    fn default() -> Self {
        Self::Filesystem {
            path: PathBuf::from("data/lt"),
        }
    }
}

#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
impl LongTermConfig {
    /// The upload settings of a cloud store.
    fn uploads(&self) -> Option<&objectstore_service::backend::cloud::UploadSettings> {
        match self {
            Self::Filesystem { .. } => None,
            #[cfg(feature = "s3")]
            Self::S3(c) => Some(&c.uploads),
            #[cfg(feature = "azure")]
            Self::Azure(c) => Some(&c.uploads),
            #[cfg(feature = "gcs")]
            Self::Gcs(c) => Some(&c.uploads),
        }
    }
}

/// A `type` value of one level: its name, the cargo feature it needs (`None`: always
/// built), and whether this build has it.
type TypeEntry = (&'static str, Option<&'static str>, bool);

const STORAGE_TYPES: &[TypeEntry] = &[
    ("tiered", None, true),
    ("filesystem", None, true),
    ("s3", Some("s3"), cfg!(feature = "s3")),
    ("azure", Some("azure"), cfg!(feature = "azure")),
    ("gcs", Some("gcs"), cfg!(feature = "gcs")),
];
const HIGH_VOLUME_TYPES: &[TypeEntry] = &[
    ("embedded", None, true),
    ("postgres", Some("postgres"), cfg!(feature = "postgres")),
    ("bigtable", Some("bigtable"), cfg!(feature = "bigtable")),
];
const LONG_TERM_TYPES: &[TypeEntry] = &[
    ("filesystem", None, true),
    ("s3", Some("s3"), cfg!(feature = "s3")),
    ("azure", Some("azure"), cfg!(feature = "azure")),
    ("gcs", Some("gcs"), cfg!(feature = "gcs")),
];

/// One level of the storage section: its key path and fields, `type` removed.
struct Section {
    key: &'static str,
    kind: String,
    fields: Map<String, Value>,
}

impl Section {
    /// Splits `value` (an object, or absent) into its `type` (or `default`) and the rest;
    /// rejects an unknown type and a type this build lacks.
    fn parse(
        key: &'static str,
        value: Option<Value>,
        types: &[TypeEntry],
        default: &str,
    ) -> Result<Self, String> {
        let mut fields = match value {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(format!("`{key}` must be a table, found {other}")),
        };
        let kind = match fields.remove("type") {
            None | Some(Value::Null) => default.to_owned(),
            Some(Value::String(s)) => s.to_ascii_lowercase(),
            Some(other) => return Err(format!("`{key}.type` must be a string, found {other}")),
        };
        let names = || {
            types
                .iter()
                .map(|(name, _, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match types.iter().find(|(name, _, _)| *name == kind) {
            None => Err(format!(
                "`{key}.type`: unknown type `{kind}`, expected one of {}",
                names()
            )),
            Some((_, Some(feature), false)) => Err(format!(
                "`{key}.type: {kind}` is not available in this build: rebuild the server with \
                 the cargo feature `{feature}` (`cargo build -p objectstore-server --features \
                 {feature}`)"
            )),
            Some(_) => Ok(Self { key, kind, fields }),
        }
    }

    /// `path`, or `default` when missing.
    fn path(&mut self, default: Option<&str>) -> Result<PathBuf, String> {
        match self.fields.remove("path") {
            Some(Value::String(s)) => Ok(PathBuf::from(s)),
            None | Some(Value::Null) => default
                .map(PathBuf::from)
                .ok_or_else(|| format!("`{}.path`: missing field `path`", self.key)),
            Some(other) => Err(format!(
                "`{}.path` must be a string, found {other}",
                self.key
            )),
        }
    }

    /// The remaining fields as a backend config; errors name the section's key.
    fn config<T: serde::de::DeserializeOwned>(self) -> Result<T, String> {
        serde_json::from_value(Value::Object(self.fields))
            .map_err(|e| format!("`{}` ({} config): {e}", self.key, self.kind))
    }
}

/// A cloud long-term config (standalone or tier) by `section.kind`.
fn long_term(mut section: Section, default_path: Option<&str>) -> Result<LongTermConfig, String> {
    Ok(match section.kind.as_str() {
        "filesystem" => LongTermConfig::Filesystem {
            path: section.path(default_path)?,
        },
        #[cfg(feature = "s3")]
        "s3" => LongTermConfig::S3(section.config()?),
        #[cfg(feature = "azure")]
        "azure" => LongTermConfig::Azure(section.config()?),
        #[cfg(feature = "gcs")]
        "gcs" => LongTermConfig::Gcs(section.config()?),
        other => return Err(format!("`{}.type`: `{other}` not handled", section.key)),
    })
}

fn parse_storage(value: Value) -> Result<StorageConfig, String> {
    let mut top = Section::parse("storage", Some(value), STORAGE_TYPES, "tiered")?;
    if top.kind == "tiered" {
        let hv = Section::parse(
            "storage.high_volume",
            top.fields.remove("high_volume"),
            HIGH_VOLUME_TYPES,
            "embedded",
        )?;
        let lt = Section::parse(
            "storage.long_term",
            top.fields.remove("long_term"),
            LONG_TERM_TYPES,
            "filesystem",
        )?;
        let high_volume = match hv.kind.as_str() {
            #[cfg(feature = "postgres")]
            "postgres" => HighVolumeConfig::Postgres(hv.config()?),
            #[cfg(feature = "bigtable")]
            "bigtable" => HighVolumeConfig::Bigtable(hv.config()?),
            _ => {
                let mut hv = hv;
                let path = hv.path(Some("data/hv"))?;
                HighVolumeConfig::Embedded {
                    path,
                    value_log: hv.config()?,
                }
            }
        };
        // What is left are the tiered settings; a standalone store's fields (`path`, ...)
        // do not belong here and are rejected by name.
        let settings = serde_json::from_value(Value::Object(top.fields))
            .map_err(|e| format!("`storage` (tiered settings): {e}"))?;
        return Ok(StorageConfig::Tiered {
            high_volume,
            long_term: long_term(lt, Some("data/lt"))?,
            settings,
        });
    }
    // A standalone store: the tier sections of an overridden tiered layout do not apply.
    top.fields.remove("high_volume");
    top.fields.remove("long_term");
    Ok(match long_term(top, None)? {
        LongTermConfig::Filesystem { path } => StorageConfig::Filesystem { path },
        #[cfg(feature = "s3")]
        LongTermConfig::S3(c) => StorageConfig::S3(c),
        #[cfg(feature = "azure")]
        LongTermConfig::Azure(c) => StorageConfig::Azure(c),
        #[cfg(feature = "gcs")]
        LongTermConfig::Gcs(c) => StorageConfig::Gcs(c),
    })
}

impl<'de> Deserialize<'de> for StorageConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_storage(value).map_err(D::Error::custom)
    }
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
                high_volume,
                long_term,
                settings,
            } => {
                settings.validate()?;
                let hv = match high_volume {
                    HighVolumeConfig::Embedded { path, value_log } => {
                        empty("storage.high_volume.path", path)?;
                        value_log
                            .validate()
                            .map_err(|e| ConfigError::invalid("storage.high_volume", e))?;
                        Some(path)
                    }
                    #[cfg(feature = "postgres")]
                    HighVolumeConfig::Postgres(_) => None,
                    #[cfg(feature = "bigtable")]
                    HighVolumeConfig::Bigtable(_) => None,
                };
                let lt = match long_term {
                    LongTermConfig::Filesystem { path } => {
                        empty("storage.long_term.path", path)?;
                        Some(path)
                    }
                    #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
                    _ => None,
                };
                #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
                if let Some(uploads) = long_term.uploads() {
                    let window = settings.multipart_deadline + settings.multipart_grace;
                    if uploads.abandoned_after <= window {
                        return Err(ConfigError::invalid(
                            "storage.long_term.uploads.abandoned_after",
                            format!(
                                "must exceed storage.multipart_deadline + \
                                 storage.multipart_grace ({}), or live uploads are aborted",
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
            #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
            _ => Ok(()),
        }
    }
}
