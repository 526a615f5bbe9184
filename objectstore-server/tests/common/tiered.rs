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

/// A server over the tiered engine, with a client.
pub struct TieredServer {
    pub server: TestServer,
    /// The high-volume store under the server, to reach around it.
    pub hv: MemoryBackend,
    pub client: reqwest::Client,
    /// The long-term store's directory, which must live as long as the server.
    _lt_dir: tempfile::TempDir,
}

impl TieredServer {
    /// Starts a server on a manual clock over a memory high-volume store and a filesystem
    /// long-term store in a new temporary directory, seen through `wrap_lt`; objects above
    /// `threshold` bytes (default: the engine's) go to the long-term store.
    pub async fn start(
        threshold: Option<usize>,
        wrap_lt: impl FnOnce(FilesystemBackend) -> Arc<dyn LongTermBackend>,
    ) -> Self {
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
        Self {
            server: TestServer::start(service).await,
            hv,
            client: super::client(),
            _lt_dir: lt_dir,
        }
    }

    /// The URL of object `key` in usecase `app`, scopes `org=1`.
    pub fn object(&self, key: &str) -> String {
        self.server.url(&format!("/v1/objects/app/org=1/{key}"))
    }
}
