//! Building the front: [`FrontConfig`] (what the server's `s3` config section turns into) and
//! [`build`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use objectstore_service::service::StorageService;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::S3ServiceBuilder;
use s3s::validation::NameValidation;

use crate::auth::{AccessCheck, Authority, CredentialConfig, CredentialError, SecretStore};
use crate::front::S3Front;
use crate::handler::Handler;
use crate::hooks::Hooks;
use crate::mapping::is_bucket_name;
use crate::registry::Registry;

/// Default largest XML request body (`DeleteObjects` of 1000 long keys,
/// `CompleteMultipartUpload` of 10 000 parts with checksums).
pub const DEFAULT_MAX_XML_BODY: usize = 4 * 1024 * 1024;

/// How the front is set up.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// The region reported to clients (bucket regions and locations). The region of a
    /// SigV4 credential scope is part of the signature but not compared with it. Default
    /// `us-east-1`.
    pub region: String,
    /// Access keys; none means zero-config (no signature checks, loopback only).
    pub credentials: BTreeMap<String, CredentialConfig>,
    /// A request body silent for this long fails (`0s`: never).
    pub body_timeout: Duration,
    /// Largest XML request body.
    pub max_xml_body: usize,
    /// Usecases that exist as buckets without `CreateBucket` (the server's `usecases`).
    pub buckets: Vec<String>,
    /// Base domain for virtual-hosted-style requests (`<bucket>.<domain>`); path style
    /// always works.
    pub virtual_host_domain: Option<String>,
}

impl Default for FrontConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            credentials: BTreeMap::new(),
            body_timeout: Duration::from_secs(30),
            max_xml_body: DEFAULT_MAX_XML_BODY,
            buckets: Vec::new(),
            virtual_host_domain: None,
        }
    }
}

/// Why the front cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A credential is unusable.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The virtual-host domain is unusable.
    #[error("s3.virtual_host_domain {0:?} is not a valid domain")]
    Domain(String),
}

/// Bucket names are usecase names: 3 to 64 of `A-Z a-z 0-9 _ -`.
struct BucketNames;

impl NameValidation for BucketNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        is_bucket_name(name)
    }
}

/// Builds the front over `service` with the server's `hooks`.
pub fn build(
    service: StorageService,
    hooks: Arc<dyn Hooks>,
    config: &FrontConfig,
) -> Result<S3Front, BuildError> {
    let authority = Authority::load(&config.credentials)?;
    let open = authority.is_open();
    let configured = config.buckets.iter().filter(|b| is_bucket_name(b)).cloned();
    let handler = Handler {
        registry: Arc::new(Registry::new(service.clone(), configured)),
        service,
        hooks: hooks.clone(),
        authority: authority.clone(),
        region: config.region.clone(),
        verify_payload_sha256: open,
    };
    let mut builder = S3ServiceBuilder::new(handler.clone());
    let mut s3s_config = S3Config::default();
    s3s_config.xml_max_body_size = config.max_xml_body;
    s3s_config.post_object_max_file_size = 0;
    s3s_config.form_max_field_size = 64 * 1024;
    s3s_config.form_max_fields_size = 256 * 1024;
    s3s_config.form_max_parts = 32;
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(s3s_config))));
    builder.set_auth(SecretStore(authority.clone()));
    builder.set_access(AccessCheck(authority));
    builder.set_validation(BucketNames);
    if let Some(domain) = &config.virtual_host_domain {
        let host =
            s3s::host::SingleDomain::new(domain).map_err(|_| BuildError::Domain(domain.clone()))?;
        builder.set_host(host);
    }
    Ok(S3Front::from_parts(
        builder.build(),
        handler,
        hooks,
        open,
        config,
    ))
}
