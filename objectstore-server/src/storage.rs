//! Builds the storage engine from `storage.*` (spec 12.4).
//!
//! | `storage.type` | engine |
//! |---|---|
//! | `tiered` (default) | [`TieredStorage`] over an embedded high-volume store and a filesystem long-term store |
//! | `filesystem` | a standalone filesystem store |
//!
//! Directories are created when missing. Failures name the configured path.

use anyhow::Context as _;
use objectstore_service::service::StorageService;

use crate::config::Config;

/// Opens the configured backends and wraps them in a [`StorageService`]. Must run inside
/// the Tokio runtime (the tiered layer starts background tasks).
pub async fn build(config: &Config) -> anyhow::Result<StorageService> {
    let _ = &config.storage;
    Err(anyhow::anyhow!(
        "storage backends are not available in this build yet"
    ))
    .context("cannot open storage")
}
