//! An in-process S3 front for tests: tiered storage (embedded high-volume store, filesystem
//! long-term store) in a temporary directory, served on `127.0.0.1:0` with the same
//! `S3Front` service the server runs; plus an `object_store` client and raw HTTP helpers.

#![allow(
    dead_code,
    reason = "each test binary uses a part of the support module"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use objectstore_s3::{FrontConfig, Hooks, NoHooks};
use objectstore_service::backend::LongTermBackend;
use objectstore_service::backend::around::Decorated;
use objectstore_service::backend::around::corrupt::Corrupt;
use objectstore_service::backend::embedded::EmbeddedBackend;
use objectstore_service::backend::filesystem::FilesystemBackend;
use objectstore_service::clock::{ManualClock, SharedClock};
use objectstore_service::service::{ServiceConfig, StorageService};
use objectstore_service::tiered::{TieredConfig, TieredStorage};
use reqwest::{Body, Method, RequestBuilder, Response};
use tokio::sync::oneshot;

/// Access key and secret of the credentialed harnesses.
pub const ACCESS_KEY: &str = "AKTEST";
/// Its secret.
pub const SECRET: &str = "test-secret-key";

/// A running front.
pub struct Harness {
    pub addr: SocketAddr,
    pub service: StorageService,
    pub clock: Arc<ManualClock>,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// Tiered storage over an embedded store and a filesystem store in `dir`, on `clock`.
pub fn tiered_service(dir: &std::path::Path, clock: SharedClock) -> StorageService {
    tiered_service_over(dir, clock, None)
}

/// The same, with the filesystem store behind `corrupt` when given.
fn tiered_service_over(
    dir: &std::path::Path,
    clock: SharedClock,
    corrupt: Option<Corrupt>,
) -> StorageService {
    let hv = EmbeddedBackend::open(&dir.join("hv"), clock.clone()).expect("embedded store");
    let lt = FilesystemBackend::open(&dir.join("lt"), clock.clone()).expect("filesystem store");
    let lt: Arc<dyn LongTermBackend> = match corrupt {
        Some(corrupt) => Arc::new(Decorated::new(Arc::new(lt), corrupt)),
        None => Arc::new(lt),
    };
    let tiered = TieredStorage::new(Arc::new(hv), lt, clock.clone(), TieredConfig::default());
    StorageService::with_catalog(Arc::new(tiered), clock, ServiceConfig::default())
}

impl Harness {
    /// Zero-config front (no credentials), no admission hooks.
    pub async fn open() -> Self {
        Self::start(FrontConfig::default(), Arc::new(NoHooks)).await
    }

    /// A zero-config front with `buckets` created.
    pub async fn with_buckets(buckets: &[&str]) -> Self {
        let h = Self::open().await;
        for bucket in buckets {
            h.create_bucket(bucket).await;
        }
        h
    }

    /// A zero-config front with `bucket` created, and an `object_store` client for it.
    pub async fn with_bucket(bucket: &str) -> (Self, AmazonS3) {
        let h = Self::with_buckets(&[bucket]).await;
        let store = h.store(bucket);
        (h, store)
    }

    /// A front with one full-access credential ([`ACCESS_KEY`], [`SECRET`]) and more from
    /// `extra`; `buckets` exist from the start (as configured usecases do).
    pub async fn signed(
        extra: &[(&str, objectstore_s3::auth::CredentialConfig)],
        buckets: &[&str],
    ) -> Self {
        let mut config = FrontConfig {
            buckets: buckets.iter().map(|b| (*b).to_owned()).collect(),
            ..FrontConfig::default()
        };
        config.credentials.insert(
            ACCESS_KEY.into(),
            objectstore_s3::auth::CredentialConfig {
                secret_access_key: Some(objectstore_s3::auth::Secret::new(SECRET)),
                ..Default::default()
            },
        );
        for (id, c) in extra {
            config.credentials.insert((*id).into(), c.clone());
        }
        Self::start(config, Arc::new(NoHooks)).await
    }

    /// A zero-config front whose long-term store is behind the returned [`Corrupt`], with
    /// `bucket` created.
    pub async fn corrupting(bucket: &str) -> (Self, Corrupt) {
        let corrupt = Corrupt::new();
        let h = Self::start_over(
            FrontConfig::default(),
            Arc::new(NoHooks),
            Some(corrupt.clone()),
        )
        .await;
        h.create_bucket(bucket).await;
        (h, corrupt)
    }

    /// A front with `config` and `hooks`, over fresh tiered storage on a manual clock.
    pub async fn start(config: FrontConfig, hooks: Arc<dyn Hooks>) -> Self {
        Self::start_over(config, hooks, None).await
    }

    async fn start_over(
        config: FrontConfig,
        hooks: Arc<dyn Hooks>,
        corrupt: Option<Corrupt>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let clock = ManualClock::new();
        let service = tiered_service_over(dir.path(), clock.clone(), corrupt);
        let front = objectstore_s3::build(service.clone(), hooks, &config).expect("front builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            loop {
                let (tcp, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(_) => continue,
                    },
                    _ = &mut rx => break,
                };
                let service = TowerToHyperService::new(front.clone());
                let connection = Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            graceful.shutdown().await;
        });
        Self {
            addr,
            service,
            clock,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// An `object_store` S3 client for `bucket`, signing with `key` / `secret`.
    pub fn store_as(&self, bucket: &str, key: &str, secret: &str) -> AmazonS3 {
        self.builder(bucket, key, secret)
            .build()
            .expect("object_store client")
    }

    /// An `object_store` S3 client for `bucket` built with more options by `configure`.
    pub fn store_with(
        &self,
        bucket: &str,
        configure: impl FnOnce(AmazonS3Builder) -> AmazonS3Builder,
    ) -> AmazonS3 {
        configure(self.builder(bucket, ACCESS_KEY, SECRET))
            .build()
            .expect("object_store client")
    }

    fn builder(&self, bucket: &str, key: &str, secret: &str) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(key)
            .with_secret_access_key(secret)
            .with_retry(object_store::RetryConfig {
                max_retries: 0,
                ..Default::default()
            })
            .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
    }

    /// An `object_store` S3 client for `bucket` (signed with the test credential, which
    /// zero-config fronts ignore).
    pub fn store(&self, bucket: &str) -> AmazonS3 {
        self.store_as(bucket, ACCESS_KEY, SECRET)
    }

    /// Creates `bucket` with an unsigned request (zero-config fronts only).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = http().put(self.url(&format!("/{bucket}"))).send().await;
        assert_eq!(response.unwrap().status(), 200, "create bucket {bucket}");
    }

    /// An unsigned `method path` request carrying `headers` (not sent yet).
    pub fn request(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> RequestBuilder {
        let mut request = http().request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    }

    /// Sends an unsigned `method path` without a body.
    pub async fn send(&self, method: Method, path: &str) -> Response {
        self.request(method, path, &[]).send().await.unwrap()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path).await
    }

    /// `HEAD path`.
    pub async fn head(&self, path: &str) -> Response {
        self.send(Method::HEAD, path).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path).await
    }

    /// The status of `GET path`.
    pub async fn status_of_get(&self, path: &str) -> u16 {
        self.get(path).await.status().as_u16()
    }

    /// The body of `GET path` as text, whatever its status.
    pub async fn text_of_get(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// `PUT path` with `body`.
    pub async fn put(&self, path: &str, body: impl Into<Body>) -> Response {
        self.put_with(path, &[], body).await
    }

    /// `PUT path` with `headers` and `body`.
    pub async fn put_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Response {
        let request = self.request(Method::PUT, path, headers);
        request.body(body).send().await.unwrap()
    }

    /// `POST path` with `body`.
    pub async fn post(&self, path: &str, body: impl Into<Body>) -> Response {
        let request = self.request(Method::POST, path, &[]);
        request.body(body).send().await.unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A plain HTTP client.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// An S3 error response's status and `<Code>`.
pub async fn error_code(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, first_tag(&text, "Code").unwrap_or_default())
}

/// The contents of the first `<tag>` element of `xml`.
pub fn first_tag(xml: &str, tag: &str) -> Option<String> {
    xml.split(&format!("<{tag}>"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("</{tag}>")).next())
        .map(str::to_owned)
}
