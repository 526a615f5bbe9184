//! In-process test server: [`TestServer`] binds `127.0.0.1:0`, serves a storage service with
//! a test configuration, and shuts down gracefully on request.
//!
//! Every server gets its own temporary directory (storage paths, down marker) that lives as
//! long as the server value.
//!
//! Compiled only with the cargo feature `testing`, which this crate's own tests turn on
//! through a dev-dependency on the crate itself: the production library does not ship it.
//! (A feature rather than a copy in `tests/common`: the server is assembled here from
//! crate-internal parts, `storage::build`, `AppState`, `server::serve_with_s3`, that need not be
//! public API.)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use objectstore_service::service::StorageService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Config, HighVolumeConfig, LongTermConfig, StorageConfig, TieredSettings};

/// A server running inside the test's runtime.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    config: Arc<Config>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// A configuration for tests: loopback, storage and down marker inside `dir`.
    pub fn config(dir: &Path) -> Config {
        let mut config = Config {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: StorageConfig::Tiered {
                high_volume: HighVolumeConfig::Embedded {
                    path: dir.join("hv"),
                    value_log: Default::default(),
                },
                long_term: LongTermConfig::Filesystem {
                    path: dir.join("lt"),
                },
                settings: TieredSettings::default(),
            },
            ..Config::default()
        };
        config.http.down_marker = dir.join("objectstore.down");
        config
    }

    /// Serves `service` with the test configuration.
    pub async fn start(service: StorageService) -> Self {
        Self::start_with(service, |_| {}).await
    }

    /// Serves `service` with the test configuration changed by `configure`.
    pub async fn start_with(service: StorageService, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Self::config(dir.path());
        configure(&mut config);
        Self::spawn(dir, config, Some(service))
            .await
            .expect("test server starts")
    }

    /// Serves the storage built from the test configuration (`storage.*`, changed by
    /// `configure`), as the binary would.
    pub async fn start_configured(configure: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temporary directory")?;
        let mut config = Self::config(dir.path());
        configure(&mut config);
        Self::spawn(dir, config, None).await
    }

    async fn spawn(
        dir: tempfile::TempDir,
        config: Config,
        service: Option<StorageService>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let config = Arc::new(config);
        let (tx, rx) = oneshot::channel::<()>();
        let signal = async move {
            let _ = rx.await;
        };
        let service = match service {
            Some(s) => s,
            None => crate::storage::build(&config).await?,
        };
        let state = crate::state::AppState::new(service, config.clone())?;
        let task = tokio::spawn(crate::server::serve_with_s3(listener, None, state, signal));
        Ok(Self {
            addr,
            config,
            shutdown: Some(tx),
            task: Some(task),
            dir,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The configuration the server runs with.
    pub fn server_config(&self) -> &Config {
        &self.config
    }

    /// The server's temporary directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Signals shutdown and waits until the server has finished every request and the
    /// storage engine's background work.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        self.wait().await
    }

    /// Signals shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the server task to end (after [`TestServer::begin_shutdown`]).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match self.task.take() {
            Some(task) => task.await.context("server task panicked")?,
            None => Ok(()),
        }
    }
}
