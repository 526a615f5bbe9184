//! Builds the storage engine from `storage.*` (spec 12.4).
//!
//! | `storage.type` | engine |
//! |---|---|
//! | `tiered` (default) | [`TieredStorage`] over the high-volume tier (`embedded`: [`EmbeddedBackend`], `postgres`: `PostgresBackend`, `bigtable`: `BigtableBackend`) and the long-term tier (`filesystem`: [`FilesystemBackend`], `s3`/`azure`/`gcs`: `CloudBackend`) |
//! | `filesystem` | a standalone [`FilesystemBackend`] |
//! | `s3`, `azure`, `gcs` | a standalone `CloudBackend` |
//!
//! Every backend is wrapped in [`crate::metering`] (per-backend operation latency and
//! errors): each tier of a tiered layout ([`tiered`]), or the standalone store.
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
#[cfg(feature = "bigtable")]
use objectstore_service::backend::bigtable::BigtableBackend;
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
use objectstore_service::backend::cloud::CloudBackend;
use objectstore_service::backend::embedded::{EmbeddedBackend, ValueLogSettings};
use objectstore_service::backend::filesystem::FilesystemBackend;
#[cfg(feature = "postgres")]
use objectstore_service::backend::postgres::PostgresBackend;
use objectstore_service::backend::{HighVolumeBackend, LongTermBackend};
use objectstore_service::clock::{self, SharedClock};
use objectstore_service::service::StorageService;
use objectstore_service::tiered::{TieredConfig, TieredStorage};

use crate::config::{Config, HighVolumeConfig, LongTermConfig, StorageConfig};
use crate::metering::{MeteredHighVolume, MeteredLongTerm};

/// Opens the configured backends with the system clock and wraps them in a
/// [`StorageService`]. Must run inside the Tokio runtime (background tasks start here).
pub async fn build(config: &Config) -> anyhow::Result<StorageService> {
    build_with_clock(config, clock::system()).await
}

/// [`build`] with an explicit clock (tests control time this way).
pub async fn build_with_clock(
    config: &Config,
    clock: SharedClock,
) -> anyhow::Result<StorageService> {
    let backend = open(&config.storage, clock.clone()).await?;
    // Tiered layouts meter each tier (see `tiered`); a standalone store is metered here.
    let backend: Arc<dyn LongTermBackend> = match config.storage {
        StorageConfig::Tiered { .. } => backend,
        _ => Arc::new(MeteredLongTerm::new(backend, "standalone")),
    };
    Ok(StorageService::new(
        backend,
        clock,
        config.service.to_service_config(),
    ))
}

/// A [`TieredStorage`] over `hv` and `lt`, each wrapped in its metering wrapper
/// ([`crate::metering`]: per-backend operation latency and errors). Must run inside the
/// Tokio runtime.
pub fn tiered(
    hv: Arc<dyn HighVolumeBackend>,
    lt: Arc<dyn LongTermBackend>,
    clock: SharedClock,
    config: TieredConfig,
) -> TieredStorage {
    let hv = Arc::new(MeteredHighVolume::new(hv));
    let lt = Arc::new(MeteredLongTerm::new(lt, "long_term"));
    TieredStorage::new(hv, lt, clock, config)
}

async fn open_blocking<T: Send + 'static>(
    key: &'static str,
    path: &Path,
    open: impl FnOnce(&Path) -> objectstore_service::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || open(&owned))
        .await
        .context("opening storage panicked")?
        .with_context(|| format!("cannot open `{key}` at {}", path.display()))
}

async fn open(
    storage: &StorageConfig,
    clock: SharedClock,
) -> anyhow::Result<Arc<dyn LongTermBackend>> {
    Ok(match storage {
        StorageConfig::Filesystem { path } => {
            let c = clock.clone();
            let fs =
                open_blocking("storage.path", path, move |p| FilesystemBackend::open(p, c)).await?;
            // The sweeper needs the runtime, which the blocking thread does not have.
            fs.spawn_sweeper();
            Arc::new(fs)
        }
        StorageConfig::Tiered {
            high_volume,
            long_term,
            settings,
        } => {
            let hv = open_high_volume(high_volume, clock.clone()).await?;
            let lt = open_long_term(long_term, clock.clone()).await?;
            Arc::new(tiered(hv, lt, clock, settings.to_tiered_config()))
        }
        #[cfg(feature = "s3")]
        StorageConfig::S3(c) => cloud("storage", CloudBackend::s3(c, clock))?,
        #[cfg(feature = "azure")]
        StorageConfig::Azure(c) => cloud("storage", CloudBackend::azure(c, clock))?,
        #[cfg(feature = "gcs")]
        StorageConfig::Gcs(c) => cloud("storage", CloudBackend::gcs(c, clock))?,
    })
}

/// Opens the high-volume tier (also used by `objectstore check`).
pub(crate) async fn open_high_volume(
    config: &HighVolumeConfig,
    clock: SharedClock,
) -> anyhow::Result<Arc<dyn HighVolumeBackend>> {
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
    })
}

/// Opens the embedded high-volume store (also used by `objectstore check`).
pub(crate) async fn open_embedded(
    path: &Path,
    value_log: ValueLogSettings,
    clock: SharedClock,
) -> anyhow::Result<EmbeddedBackend> {
    open_blocking("storage.high_volume.path", path, move |p| {
        EmbeddedBackend::open_with(p, clock, value_log)
    })
    .await
}

/// Opens the long-term tier (also used by `objectstore check`).
pub(crate) async fn open_long_term(
    config: &LongTermConfig,
    clock: SharedClock,
) -> anyhow::Result<Arc<dyn LongTermBackend>> {
    Ok(match config {
        LongTermConfig::Filesystem { path } => {
            let c = clock.clone();
            let lt = open_blocking("storage.long_term.path", path, move |p| {
                FilesystemBackend::open(p, c)
            })
            .await?;
            // The sweeper needs the runtime, which the blocking thread does not have.
            lt.spawn_sweeper();
            Arc::new(lt)
        }
        #[cfg(feature = "s3")]
        LongTermConfig::S3(c) => cloud("storage.long_term", CloudBackend::s3(c, clock))?,
        #[cfg(feature = "azure")]
        LongTermConfig::Azure(c) => cloud("storage.long_term", CloudBackend::azure(c, clock))?,
        #[cfg(feature = "gcs")]
        LongTermConfig::Gcs(c) => cloud("storage.long_term", CloudBackend::gcs(c, clock))?,
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
