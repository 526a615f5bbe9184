//! The S3 listener (`s3.*`): an S3-compatible API on its own address, over the same storage
//! as the objectstore API (the `objectstore-s3` crate; `docs/s3.md`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use objectstore_s3::auth::CredentialConfig;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `s3.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Section {
    /// Whether the S3 listener runs. Default true. Env `OS__S3__ENABLED`.
    pub enabled: bool,
    /// Address of the S3 listener. Default `127.0.0.1:8889` (loopback only). Without
    /// `credentials` only a loopback address is accepted. Env `OS__S3__ADDR`.
    pub addr: SocketAddr,
    /// Region reported to clients. Default `us-east-1`. Env `OS__S3__REGION`.
    pub region: String,
    /// Access keys by access key id: `secret_access_key` or `secret_access_key_file`,
    /// `usecases` (default all), `permissions` (default `object.read`, `object.write`,
    /// `object.delete`). Default none: every request is served without signature checks
    /// (loopback only). Env `OS__S3__CREDENTIALS` (inline table).
    #[serde(skip_serializing)]
    pub credentials: BTreeMap<String, CredentialConfig>,
    /// Base domain for virtual-hosted-style requests (`<bucket>.<domain>`). Default none
    /// (path style only). Env `OS__S3__VIRTUAL_HOST_DOMAIN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_host_domain: Option<String>,
    /// Largest XML request body (`DeleteObjects`, `CompleteMultipartUpload`), bytes.
    /// Default 4 MiB. Env `OS__S3__MAX_XML_BODY`.
    pub max_xml_body: usize,
}

impl Default for S3Section {
    fn default() -> Self {
        Self {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 8889)),
            region: "us-east-1".into(),
            credentials: BTreeMap::new(),
            virtual_host_domain: None,
            max_xml_body: objectstore_s3::config::DEFAULT_MAX_XML_BODY,
        }
    }
}

impl S3Section {
    /// Cross-field rules: a non-loopback address needs credentials; the address differs
    /// from `http_addr`; credentials are well-formed (secret files are read at start-up).
    pub fn validate(&self, http_addr: SocketAddr) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if !self.addr.ip().is_loopback() && self.credentials.is_empty() {
            return Err(ConfigError::invalid(
                "s3.addr",
                format!(
                    "{} is reachable from other hosts but `s3.credentials` is empty; configure \
                     credentials, use a loopback address, or set `s3.enabled: false`",
                    self.addr
                ),
            ));
        }
        if self.addr.port() != 0 && self.addr == http_addr {
            return Err(ConfigError::invalid(
                "s3.addr",
                format!(
                    "{} is also `http_addr`; the S3 listener needs its own",
                    self.addr
                ),
            ));
        }
        if self.region.is_empty() {
            return Err(ConfigError::invalid("s3.region", "must not be empty"));
        }
        for (id, credential) in &self.credentials {
            credential
                .check(id)
                .map_err(|e| ConfigError::invalid(format!("s3.credentials.{id}"), e.to_string()))?;
        }
        Ok(())
    }

    /// The front's configuration; `body_timeout` is `http.body_timeout`, `buckets` the
    /// usecases of the `usecases` section.
    pub fn front_config(
        &self,
        body_timeout: Duration,
        buckets: Vec<String>,
    ) -> objectstore_s3::FrontConfig {
        objectstore_s3::FrontConfig {
            region: self.region.clone(),
            credentials: self.credentials.clone(),
            body_timeout,
            max_xml_body: self.max_xml_body,
            buckets,
            virtual_host_domain: self.virtual_host_domain.clone(),
        }
    }
}
