//! An in-process server over the tiered engine as the default layout stores objects: a
//! memory high-volume store and a filesystem long-term store (no background sweeper) in a
//! temporary directory, no tiered background tasks, a manual clock.

use std::sync::Arc;

use objectstore_server::testing::TestServer;
use objectstore_service::backend::LongTermBackend;
use objectstore_service::backend::filesystem::{FilesystemBackend, FilesystemConfig};
use objectstore_service::backend::memory::MemoryBackend;
use objectstore_service::clock::{ManualClock, SharedClock};
use objectstore_service::service::{ServiceConfig, StorageService};
use objectstore_service::tiered::{TieredConfig, TieredStorage};

/// Starts a server on a manual clock over a memory high-volume store (returned, to reach
/// under the server) and a filesystem long-term store in a new temporary directory, seen
/// through `wrap_lt`; objects above `threshold` bytes (default: the engine's) go to the
/// long-term store. The directory is returned: it must live as long as the server.
pub async fn start(
    threshold: Option<usize>,
    wrap_lt: impl FnOnce(FilesystemBackend) -> Arc<dyn LongTermBackend>,
) -> (TestServer, MemoryBackend, tempfile::TempDir) {
    let clock: SharedClock = ManualClock::new();
    let hv = MemoryBackend::new("hv", clock.clone());
    let lt_dir = tempfile::tempdir().unwrap();
    let config = FilesystemConfig {
        background_sweeper: false,
        ..FilesystemConfig::default()
    };
    let lt = FilesystemBackend::open_with_config(lt_dir.path(), clock.clone(), config).unwrap();
    let defaults = TieredConfig::default();
    let tiered = TieredConfig {
        threshold: threshold.unwrap_or(defaults.threshold),
        background: false,
        ..defaults
    };
    let storage = TieredStorage::new(Arc::new(hv.clone()), wrap_lt(lt), clock.clone(), tiered);
    let service = StorageService::new(Arc::new(storage), clock, ServiceConfig::default());
    (TestServer::start(service).await, hv, lt_dir)
}
