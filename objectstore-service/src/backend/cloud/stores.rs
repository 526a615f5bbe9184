//! The per-store constructors: each turns its config into an `object_store` client (one per
//! backend, shared by all requests) and wraps it into the generic [`CloudBackend`].

use std::sync::Arc;

use object_store::client::{HttpConnector, ReqwestConnector};
use object_store::multipart::MultipartStore;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

#[cfg(feature = "azure")]
use super::config::AzureConfig;
use super::config::Common;
#[cfg(feature = "gcs")]
use super::config::GcsConfig;
#[cfg(feature = "s3")]
use super::config::S3Config;
use super::native::{Flavor, Native};
use super::{CloudBackend, Limits};
use crate::clock::SharedClock;
use crate::error::{Error, Result};

impl CloudBackend {
    /// A backend on Amazon S3 or an S3-compatible store. Fails on an invalid config.
    ///
    /// Unset credentials come from the `AWS_*` environment (see [`S3Config`]). Conditional
    /// writes use ETags (`If-Match`, `If-None-Match: *`), which S3, Ceph radosgw and MinIO
    /// support.
    #[cfg(feature = "s3")]
    pub fn s3(config: &S3Config, clock: SharedClock) -> Result<CloudBackend> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};

        const NAME: &str = "s3";
        config.common().validate()?;
        let mut builder = if config.from_env {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
        };
        builder = builder
            .with_bucket_name(&config.bucket)
            .with_virtual_hosted_style_request(config.virtual_hosted_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(key_id) = &config.access_key_id {
            builder = builder.with_access_key_id(key_id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token.expose());
        }
        if builder
            .get_config_value(&AmazonS3ConfigKey::Checksum)
            .is_some()
        {
            return Err(Error::InvalidRequest(
                "invalid cloud storage configuration: AWS_CHECKSUM_ALGORITHM is not supported"
                    .into(),
            ));
        }
        let limits = Limits {
            // S3 keeps 2 KiB of user metadata, names included.
            metadata_bytes: 2000,
            max_part_number: 10_000,
            unquoted_if_match: config.unquoted_if_match,
            md5_etags: config.etags_are_md5,
        };
        let common = config.common();
        assemble(
            NAME,
            Flavor::S3,
            &common,
            config.allow_http,
            limits,
            clock,
            |options, retry| {
                builder
                    .with_client_options(options)
                    .with_retry(retry)
                    .build()
            },
        )
    }

    /// A backend on Azure Blob Storage (or Azurite). Fails on an invalid config.
    ///
    /// Unset credentials come from the `AZURE_*` environment (see [`AzureConfig`]).
    #[cfg(feature = "azure")]
    pub fn azure(config: &AzureConfig, clock: SharedClock) -> Result<CloudBackend> {
        use object_store::azure::MicrosoftAzureBuilder;

        const NAME: &str = "azure";
        config.common().validate()?;
        let mut builder = if config.from_env {
            MicrosoftAzureBuilder::from_env()
        } else {
            MicrosoftAzureBuilder::new()
        };
        builder = builder
            .with_container_name(&config.container)
            .with_use_emulator(config.use_emulator);
        if let Some(account) = &config.account {
            builder = builder.with_account(account);
        }
        if let Some(key) = &config.access_key {
            builder = builder.with_access_key(key.expose());
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let limits = Limits {
            // Azure keeps 8 KiB of metadata per blob; a block blob has at most 50,000 blocks.
            metadata_bytes: 7 * 1024,
            max_part_number: 50_000,
            unquoted_if_match: false,
            md5_etags: false,
        };
        let common = config.common();
        assemble(
            NAME,
            Flavor::Azure,
            &common,
            config.allow_http,
            limits,
            clock,
            |options, retry| {
                builder
                    .with_client_options(options)
                    .with_retry(retry)
                    .build()
            },
        )
    }

    /// A backend on Google Cloud Storage. Fails on an invalid config.
    ///
    /// Unset credentials come from the `GOOGLE_*` environment and application default
    /// credentials (see [`GcsConfig`]). Completing a multipart upload with a selection of
    /// parts other than `1..=n` signs a URL, which needs service account credentials.
    #[cfg(feature = "gcs")]
    pub fn gcs(config: &GcsConfig, clock: SharedClock) -> Result<CloudBackend> {
        use object_store::gcp::GoogleCloudStorageBuilder;

        const NAME: &str = "gcs";
        config.common().validate()?;
        let mut builder = if config.from_env {
            GoogleCloudStorageBuilder::from_env()
        } else {
            GoogleCloudStorageBuilder::new()
        };
        builder = builder.with_bucket_name(&config.bucket);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_base_url(endpoint);
        }
        if let Some(path) = &config.service_account_path {
            builder = builder.with_service_account_path(path);
        }
        if let Some(key) = &config.service_account_key {
            builder = builder.with_service_account_key(key.expose());
        }
        if let Some(path) = &config.application_credentials {
            builder = builder.with_application_credentials(path);
        }
        let limits = Limits {
            // GCS keeps 8 KiB of custom metadata per object.
            metadata_bytes: 7 * 1024,
            max_part_number: 10_000,
            unquoted_if_match: false,
            md5_etags: false,
        };
        let common = config.common();
        assemble(
            NAME,
            Flavor::Gcs,
            &common,
            config.allow_http,
            limits,
            clock,
            |options, retry| {
                builder
                    .with_client_options(options)
                    .with_retry(retry)
                    .build()
            },
        )
    }
}

/// Builds the store client with the configured client options and retry policy (`build`
/// gets both; each store has its own builder type) and wraps it, below the configured
/// prefix, into a backend.
fn assemble<T>(
    name: &'static str,
    flavor: Flavor,
    common: &Common<'_>,
    allow_http: bool,
    limits: Limits,
    clock: SharedClock,
    build: impl FnOnce(ClientOptions, RetryConfig) -> object_store::Result<T>,
) -> Result<CloudBackend>
where
    T: ObjectStore + MultipartStore + Signer,
{
    let options = common.client.client_options(allow_http);
    let store = build(options.clone(), common.client.retry_config())
        .map_err(|e| Error::backend(name, "configure the client", e))?;
    let http = ReqwestConnector::default()
        .connect(&options)
        .map_err(|e| Error::backend(name, "configure the client", e))?;
    let (store, multipart, signer): (
        Arc<dyn ObjectStore>,
        Arc<dyn MultipartStore>,
        Arc<dyn Signer>,
    ) = match common.prefix.map(|p| p.trim_matches('/')) {
        Some(prefix) => {
            let store = Arc::new(PrefixStore::new(store, prefix));
            (store.clone(), store.clone(), store)
        }
        None => {
            let store = Arc::new(store);
            (store.clone(), store.clone(), store)
        }
    };
    Ok(CloudBackend {
        name,
        store,
        native: Some(Native {
            flavor,
            multipart,
            signer,
            http,
            settings: common.client.clone(),
            name,
        }),
        clock,
        uploads: common.uploads.clone(),
        limits,
    })
}
