//! Configuration of the cloud backends: one config type per store, plus the HTTP client,
//! retry and upload settings they share. This is the one place where the retry policy is
//! configured and documented.
//!
//! Each config is deserialized (serde) from the server's storage configuration. Durations
//! use humantime syntax (`30s`, `3m`). Secrets are [`Secret`]s: `Debug` prints
//! `<redacted>`, so a logged config never leaks a key.
//!
//! **Credentials and store settings left unset** fall back to the environment variables
//! that `object_store`'s `from_env` builders read (`AWS_*`, `AZURE_*`, `GOOGLE_*`: access
//! keys, session tokens, web identity, instance metadata, managed identity, application
//! default credentials, ...), unless `from_env` is `false`. Values set in the config win over
//! the environment. The HTTP client settings ([`ClientSettings`], `allow_http`) come from the
//! config only.
//!
//! # Retries ([`ClientSettings`])
//!
//! Every request the backend sends goes through `object_store`'s retry loop (and the few
//! requests it signs itself, see `native`, through an equivalent loop):
//!
//! * **Retried:** 5xx responses, 429 Too Many Requests, connection errors, dropped
//!   connections, and (for multipart completion) S3's "200 OK with an `InternalError` or
//!   `SlowDown` body".
//! * **Retried on timeout only when idempotent:** GET and HEAD, unconditional PUTs of
//!   objects and parts, DELETE, and multipart creation and completion count as idempotent
//!   and are retried after a [`ClientSettings::request_timeout`] (a retried creation may
//!   leave an unused native upload behind: give S3 buckets an "abort incomplete multipart
//!   uploads" lifecycle rule). Conditional PUTs (`If-Match`, `If-None-Match`: expiry
//!   records, upload records) are not retried after a timeout, since their effect is
//!   unknown; the caller sees a backend error and may retry the operation.
//! * **Never retried:** other 4xx answers (not found, precondition failed, bad request,
//!   denied): they are mapped to [`crate::Error`] variants at once.
//! * **Bounds:** at most [`ClientSettings::max_retries`] retries per request, with
//!   exponential backoff (`backoff_initial` growing by `backoff_base` up to `backoff_max`,
//!   with jitter), and no retry is started after [`ClientSettings::retry_timeout`] since the
//!   first attempt: that is the overall deadline of one request's retries (on top of the
//!   last attempt's own `request_timeout`).
//!
//! Failures that remain after the retries surface as [`crate::Error::Backend`] (retryable by
//! the caller).

use std::fmt;
use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use serde::Deserialize;

use crate::error::{Error, Result};

/// A secret string (key, token). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for handing it to the store's client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The HTTP client and the retry policy (see the module docs for what retries).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// Timeout of one HTTP request attempt, from connecting to the last byte of the response
    /// body (a streamed GET body included). Default `60s`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Timeout of establishing a connection. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Retries per request after the first attempt; 0 disables retries. Default 10.
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt (the overall deadline of a
    /// request's retries). Keep it below the lifetime of temporary credentials. Default `3m`.
    #[serde(with = "humantime_serde")]
    pub retry_timeout: Duration,
    /// The first backoff delay. Default `100ms`.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// The longest backoff delay. Default `15s`.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Growth factor of the backoff delay per retry. Default 2.
    pub backoff_base: f64,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(15),
            backoff_base: 2.0,
        }
    }
}

impl ClientSettings {
    /// The `object_store` retry configuration.
    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.backoff_initial,
                max_backoff: self.backoff_max,
                base: self.backoff_base,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }

    /// The `object_store` HTTP client options.
    pub(crate) fn client_options(&self, allow_http: bool) -> ClientOptions {
        ClientOptions::new()
            .with_allow_http(allow_http)
            .with_timeout(self.request_timeout)
            .with_connect_timeout(self.connect_timeout)
    }

    fn validate(&self) -> Result<()> {
        if self.backoff_base.is_nan() || self.backoff_base < 1.0 {
            return Err(invalid("client.backoff_base must be at least 1"));
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(invalid("client timeouts must not be zero"));
        }
        Ok(())
    }
}

/// How objects are uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadSettings {
    /// Bodies smaller than this are stored with one PUT; larger ones are streamed as a
    /// multipart upload of parts of exactly this size (the last one smaller). At least
    /// 5 MiB (the S3 minimum). Default 8 MiB.
    pub part_size: usize,
    /// Parts of one streamed put in flight at once: a put holds at most
    /// `part_size × (max_parts_in_flight + 1)` bytes. At least 1. Default 4.
    pub max_parts_in_flight: usize,
    /// Largest part accepted by the multipart API (`upload_part`): a part is buffered in
    /// memory before it is sent, since the store needs its length and a retry needs its
    /// bytes. Larger parts are refused as too large. Default 128 MiB.
    pub max_api_part_size: u64,
    /// Multipart uploads (of the multipart API) older than this are aborted by the
    /// periodic cleanup ([`super::CloudBackend::spawn_upload_cleanup`]). Behind the tiered
    /// layer it must exceed `storage.multipart_deadline + storage.multipart_grace`, which
    /// the server checks at start-up. Default `7d`.
    #[serde(with = "humantime_serde")]
    pub abandoned_after: Duration,
    /// How often the periodic cleanup lists the uploads. Default `1h`.
    #[serde(with = "humantime_serde")]
    pub cleanup_interval: Duration,
}

/// The S3 minimum part size (all parts but the last).
pub(crate) const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            part_size: 8 * 1024 * 1024,
            max_parts_in_flight: 4,
            max_api_part_size: 128 * 1024 * 1024,
            abandoned_after: Duration::from_secs(7 * 24 * 3600),
            cleanup_interval: Duration::from_secs(3600),
        }
    }
}

impl UploadSettings {
    fn validate(&self) -> Result<()> {
        if self.part_size < MIN_PART_SIZE {
            return Err(invalid("uploads.part_size must be at least 5 MiB"));
        }
        if self.max_parts_in_flight == 0 {
            return Err(invalid("uploads.max_parts_in_flight must be at least 1"));
        }
        if self.max_api_part_size == 0 {
            return Err(invalid("uploads.max_api_part_size must not be zero"));
        }
        if self.abandoned_after.is_zero() || self.cleanup_interval.is_zero() {
            return Err(invalid(
                "uploads.abandoned_after and uploads.cleanup_interval must not be zero",
            ));
        }
        Ok(())
    }
}

/// Settings every store config carries.
pub(crate) struct Common<'a> {
    pub prefix: Option<&'a str>,
    pub client: &'a ClientSettings,
    pub uploads: &'a UploadSettings,
}

impl Common<'_> {
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(prefix) = self.prefix {
            let trimmed = prefix.trim_matches('/');
            if trimmed.is_empty() || object_store::path::Path::parse(trimmed).is_err() {
                return Err(invalid(
                    "prefix must be a relative path without empty, `.` or `..` segments",
                ));
            }
        }
        self.client.validate()?;
        self.uploads.validate()
    }
}

fn invalid(why: &str) -> Error {
    Error::InvalidRequest(format!("invalid cloud storage configuration: {why}"))
}

/// Amazon S3 or an S3-compatible store (Ceph, MinIO, R2, ...). `storage.type: s3`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket (must exist). Required.
    pub bucket: String,
    /// Path inside the bucket under which everything is stored. Default: the bucket root.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Endpoint URL for S3-compatible stores, e.g. `http://127.0.0.1:7480`. Default: AWS,
    /// or `AWS_ENDPOINT`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region. Default `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Access key id. Default `AWS_ACCESS_KEY_ID`, else the credential chain (web identity,
    /// container and instance metadata).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key. Default `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary credentials. Default `AWS_SESSION_TOKEN`.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// Address buckets as `https://{bucket}.{endpoint}` instead of `{endpoint}/{bucket}`.
    /// Default `false` (path style, which every S3-compatible store understands).
    #[serde(default)]
    pub virtual_hosted_style: bool,
    /// Allow plain `http://` endpoints. Default `false`.
    #[serde(default)]
    pub allow_http: bool,
    /// Send ETags without their quotes in `If-Match` preconditions. Ceph radosgw needs it
    /// (it compares the raw header with its unquoted ETag). Default `false`.
    #[serde(default)]
    pub unquoted_if_match: bool,
    /// The store's ETag of a single-part object or of a part is the MD5 of its bytes, as
    /// on S3 without KMS or customer-key encryption: the backend reports it as the store's
    /// account of what it kept, and a part whose ETag differs from the MD5 of the bytes
    /// sent is refused before it is recorded. Set `false` for buckets whose ETags are not
    /// MD5s (SSE-KMS, SSE-C); the size is then read back instead. Default `true`.
    #[serde(default = "yes")]
    pub etags_are_md5: bool,
    /// Read unset settings from the `AWS_*` environment variables. Default `true`.
    #[serde(default = "yes")]
    pub from_env: bool,
    /// HTTP client and retry policy.
    #[serde(default)]
    pub client: ClientSettings,
    /// Upload part sizes and concurrency.
    #[serde(default)]
    pub uploads: UploadSettings,
}

/// Azure Blob Storage (or Azurite). `storage.type: azure`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// The container (must exist). Required.
    pub container: String,
    /// Path inside the container under which everything is stored. Default: the root.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Storage account name. Default `AZURE_STORAGE_ACCOUNT_NAME`.
    #[serde(default)]
    pub account: Option<String>,
    /// Account access key. Default `AZURE_STORAGE_ACCOUNT_KEY`, else the credential chain
    /// (client secret, workload identity, managed identity, Azure CLI).
    #[serde(default)]
    pub access_key: Option<Secret>,
    /// Account endpoint URL, e.g. `http://127.0.0.1:10000/devstoreaccount1` for Azurite.
    /// Default `https://{account}.blob.core.windows.net`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Use the Azurite emulator at `AZURITE_BLOB_STORAGE_URL` (default
    /// `http://127.0.0.1:10000`) with its development account. Default `false`.
    #[serde(default)]
    pub use_emulator: bool,
    /// Allow plain `http://` endpoints. Default `false`.
    #[serde(default)]
    pub allow_http: bool,
    /// Read unset settings from the `AZURE_*` environment variables. Default `true`.
    #[serde(default = "yes")]
    pub from_env: bool,
    /// HTTP client and retry policy.
    #[serde(default)]
    pub client: ClientSettings,
    /// Upload part sizes and concurrency.
    #[serde(default)]
    pub uploads: UploadSettings,
}

/// Google Cloud Storage. `storage.type: gcs`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsConfig {
    /// The bucket (must exist). Required.
    pub bucket: String,
    /// Path inside the bucket under which everything is stored. Default: the bucket root.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Base URL of the API, e.g. for a proxy. Default `https://storage.googleapis.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path of a service account JSON key file. Default `GOOGLE_SERVICE_ACCOUNT`.
    #[serde(default)]
    pub service_account_path: Option<String>,
    /// A service account JSON key itself. Default `GOOGLE_SERVICE_ACCOUNT_KEY`.
    #[serde(default)]
    pub service_account_key: Option<Secret>,
    /// Path of an application default credentials file. Default
    /// `GOOGLE_APPLICATION_CREDENTIALS`, else the metadata server.
    #[serde(default)]
    pub application_credentials: Option<String>,
    /// Allow plain `http://` endpoints. Default `false`.
    #[serde(default)]
    pub allow_http: bool,
    /// Read unset settings from the `GOOGLE_*` environment variables. Default `true`.
    #[serde(default = "yes")]
    pub from_env: bool,
    /// HTTP client and retry policy.
    #[serde(default)]
    pub client: ClientSettings,
    /// Upload part sizes and concurrency.
    #[serde(default)]
    pub uploads: UploadSettings,
}

fn yes() -> bool {
    true
}

macro_rules! common {
    ($config:ty) => {
        impl $config {
            pub(crate) fn common(&self) -> Common<'_> {
                Common {
                    prefix: self.prefix.as_deref(),
                    client: &self.client,
                    uploads: &self.uploads,
                }
            }
        }
    };
}
#[cfg(feature = "s3")]
common!(S3Config);
#[cfg(feature = "azure")]
common!(AzureConfig);
#[cfg(feature = "gcs")]
common!(GcsConfig);
