//! Builds the storage engine from `storage.*` (spec 12.4).
//!
//! | `storage.type` | engine |
//! |---|---|
//! | `tiered` (default) | [`TieredStorage`] over an [`EmbeddedBackend`] (high volume) and a [`FilesystemBackend`] (long term) |
//! | `filesystem` | a standalone [`FilesystemBackend`] |
//!
//! Directories are created when missing. Failures name the configuration key and path.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use objectstore_service::backend::LongTermBackend;
use objectstore_service::backend::embedded::EmbeddedBackend;
use objectstore_service::backend::filesystem::FilesystemBackend;
use objectstore_service::clock::{self, SharedClock};
use objectstore_service::service::StorageService;
use objectstore_service::tiered::{TieredConfig, TieredStorage};

use crate::config::{Config, HighVolumeConfig, LongTermConfig, StorageConfig};

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
    Ok(StorageService::new(
        backend,
        clock,
        config.service.to_service_config(),
    ))
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
            high_volume: HighVolumeConfig::Embedded { path: hv_path },
            long_term: LongTermConfig::Filesystem { path: lt_path },
        } => {
            let c = clock.clone();
            let hv = open_blocking("storage.high_volume.path", hv_path, move |p| {
                EmbeddedBackend::open(p, c)
            })
            .await?;
            let c = clock.clone();
            let lt = open_blocking("storage.long_term.path", lt_path, move |p| {
                FilesystemBackend::open(p, c)
            })
            .await?;
            lt.spawn_sweeper();
            Arc::new(TieredStorage::new(
                Arc::new(hv),
                Arc::new(lt),
                clock,
                TieredConfig::default(),
            ))
        }
    })
}
