//! Builds the storage engine from `storage.*` (docs/http-api.md §15.4).
//!
//! | `storage.type` | engine |
//! |---|---|
//! | `tiered` (default) | [`TieredStorage`] over the high-volume tier (`open_high_volume`: `embedded`: [`EmbeddedBackend`], `postgres`: `PostgresBackend`, `bigtable`: `BigtableBackend`) and the long-term tier (`open_long_term`: `filesystem`: [`FilesystemBackend`], `s3`/`azure`/`gcs`: `CloudBackend`) |
//! | a long-term type | that store standalone (`open_long_term`) |
//!
//! A new backend is an arm of `open_high_volume` or `open_long_term` (and a variant of
//! its config enum, see `config/storage.rs`).
//!
//! Every backend is wrapped in the metering decorator ([`Metering`]: per-backend operation
//! latency and errors): each tier of a tiered layout ([`tiered`]), or the standalone store.
//!
//! Directories are created when missing; PostgreSQL tables are created or migrated on
//! connect; a missing Bigtable table is created on an emulator only (on Google Cloud the
//! table must exist); cloud buckets must exist (building a cloud backend does not contact
//! the store, so wrong credentials show on the first request; their periodic cleanup of
//! abandoned multipart uploads starts here). Failures name the configuration key;
//! errors never carry a password or key (the backends scrub them).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use objectstore_service::backend::around::Decorated;
use objectstore_service::backend::around::metering::Metering;
#[cfg(feature = "bigtable")]
use objectstore_service::backend::bigtable::BigtableBackend;
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
use objectstore_service::backend::cloud::CloudBackend;
use objectstore_service::backend::embedded::{EmbeddedBackend, ValueLogSettings};
use objectstore_service::backend::filesystem::FilesystemBackend;
#[cfg(feature = "postgres")]
use objectstore_service::backend::postgres::PostgresBackend;
use objectstore_service::backend::{HighVolumeStore, LongTermBackend};
use objectstore_service::clock::{self, SharedClock};
use objectstore_service::service::StorageService;
use objectstore_service::tiered::{TieredConfig, TieredStorage};

use crate::config::{Config, HighVolumeConfig, LongTermConfig, StorageConfig};

/// Opens the configured backends with the system clock and wraps them in a
/// [`StorageService`]. Must run inside the Tokio runtime (background tasks start here).
pub(crate) async fn build(config: &Config) -> anyhow::Result<StorageService> {
    build_with_clock(config, clock::system()).await
}

/// [`build`] with an explicit clock (tests control time this way). A tiered layout is the
/// service's catalog too (listings and conditional writes, which the S3 API needs); a
/// standalone store has none.
pub(crate) async fn build_with_clock(
    config: &Config,
    clock: SharedClock,
) -> anyhow::Result<StorageService> {
    let service_config = config.service.to_service_config();
    Ok(match &config.storage {
        StorageConfig::Tiered {
            high_volume,
            long_term,
            settings,
        } => {
            let hv = open_high_volume(high_volume, clock.clone()).await?;
            let lt = open_long_term("storage.long_term", long_term, clock.clone()).await?;
            let engine = Arc::new(tiered(hv, lt, clock.clone(), settings.to_tiered_config()));
            StorageService::with_catalog(engine, clock, service_config)
        }
        StorageConfig::Standalone(store) => {
            let backend = open_long_term("storage", store, clock.clone()).await?;
            // A standalone store is metered here (tiered layouts meter each tier).
            let backend = Arc::new(Decorated::new(backend, Metering::new("standalone")));
            StorageService::new(backend, clock, service_config)
        }
    })
}

/// A [`TieredStorage`] over `hv` and `lt`, each wrapped in the metering decorator
/// ([`Metering`]: per-backend operation latency and errors). Must run inside the Tokio
/// runtime.
pub fn tiered(
    hv: Arc<dyn HighVolumeStore>,
    lt: Arc<dyn LongTermBackend>,
    clock: SharedClock,
    config: TieredConfig,
) -> TieredStorage {
    let hv = Arc::new(Decorated::new(hv, Metering::new("high_volume")));
    let lt = Arc::new(Decorated::new(lt, Metering::new("long_term")));
    TieredStorage::new(hv, lt, clock, config)
}

/// Opens a local store at `path` on a blocking thread; errors name `{key}.path`.
async fn open_blocking<T: Send + 'static>(
    key: &str,
    path: &Path,
    open: impl FnOnce(&Path) -> objectstore_service::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || open(&owned))
        .await
        .context("opening storage panicked")?
        .with_context(|| format!("cannot open `{key}.path` at {}", path.display()))
}

/// Opens the high-volume tier (also used by `objectstore check`).
pub(crate) async fn open_high_volume(
    config: &HighVolumeConfig,
    clock: SharedClock,
) -> anyhow::Result<Arc<dyn HighVolumeStore>> {
    Ok(match config {
        HighVolumeConfig::Embedded { path, value_log } => {
            Arc::new(open_embedded(path, value_log.clone(), clock).await?)
        }
        #[cfg(feature = "postgres")]
        HighVolumeConfig::Postgres(c) => {
            // The error never carries the URL's password (the backend scrubs it).
            let pg = PostgresBackend::connect(c.clone(), clock)
                .await
                .context("cannot open `storage.high_volume` (postgres)")?;
            Arc::new(pg)
        }
        #[cfg(feature = "bigtable")]
        HighVolumeConfig::Bigtable(c) => {
            let bt = BigtableBackend::connect(c.clone(), clock)
                .await
                .context("cannot open `storage.high_volume` (bigtable)")?;
            Arc::new(bt)
        }
        #[allow(
            unreachable_patterns,
            reason = "unreachable when every backend is built"
        )]
        _ => anyhow::bail!("`storage.high_volume.type` names a backend this build lacks"),
    })
}

/// Opens the embedded high-volume store (also used by `objectstore check`).
pub(crate) async fn open_embedded(
    path: &Path,
    value_log: ValueLogSettings,
    clock: SharedClock,
) -> anyhow::Result<EmbeddedBackend> {
    open_blocking("storage.high_volume", path, move |p| {
        EmbeddedBackend::open_with(p, clock, value_log)
    })
    .await
}

/// Opens a long-term store configured at `key`: the long-term tier (also used by
/// `objectstore check`) or a standalone store.
pub(crate) async fn open_long_term(
    key: &'static str,
    config: &LongTermConfig,
    clock: SharedClock,
) -> anyhow::Result<Arc<dyn LongTermBackend>> {
    Ok(match config {
        LongTermConfig::Filesystem { path } => {
            let c = clock.clone();
            let lt = open_blocking(key, path, move |p| FilesystemBackend::open(p, c)).await?;
            // The sweeper needs the runtime, which the blocking thread does not have.
            lt.spawn_sweeper();
            Arc::new(lt)
        }
        #[cfg(feature = "s3")]
        LongTermConfig::S3(c) => cloud(key, CloudBackend::s3(c, clock))?,
        #[cfg(feature = "azure")]
        LongTermConfig::Azure(c) => cloud(key, CloudBackend::azure(c, clock))?,
        #[cfg(feature = "gcs")]
        LongTermConfig::Gcs(c) => cloud(key, CloudBackend::gcs(c, clock))?,
        #[allow(
            unreachable_patterns,
            reason = "unreachable when every backend is built"
        )]
        _ => anyhow::bail!("`{key}.type` names a backend this build lacks"),
    })
}

/// A built cloud backend, or the builder's error naming `key`. Building does not contact
/// the store: a wrong bucket or credentials show on the first request.
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
fn cloud(
    key: &str,
    built: objectstore_service::Result<CloudBackend>,
) -> anyhow::Result<Arc<dyn LongTermBackend>> {
    let backend = built.with_context(|| format!("cannot open `{key}`"))?;
    // Uploads nobody completes or aborts (a client that went away, a lost tiered record)
    // would stay in the bucket for good.
    backend.spawn_upload_cleanup();
    Ok(Arc::new(backend))
}
