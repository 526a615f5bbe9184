//! Who may do what: S3 credentials (`s3.credentials.<access_key_id>`), signature
//! verification through s3s, and the permission check of every operation.
//!
//! # Two modes
//!
//! * **Credentials configured** ([`Authority::Credentials`]): s3s verifies SigV4 (headers,
//!   streaming `aws-chunked` bodies with chunk and trailer signatures, pre-signed URLs) and
//!   SigV2 (pre-signed query URLs, which boto3 generates by default for a custom endpoint
//!   in `us-east-1`, and `Authorization: AWS` headers) against the secret of the access key
//!   ([`S3Auth`]). Outcomes: unknown key → 403 `InvalidAccessKeyId`; wrong signature → 403
//!   `SignatureDoesNotMatch`; a request time more than 15 minutes off the server's →
//!   403 `RequestTimeTooSkewed` (s3s for SigV4; [`check_sigv2_date`] for SigV2 headers,
//!   which s3s does not check); an expired pre-signed URL → 403 `AccessDenied`; no
//!   signature at all → 403 `AccessDenied` ([`S3Access::check`]). Then every handler asks
//!   [`Authority::authorize`] for the permission it needs on each bucket it touches: the
//!   key's `usecases` (default: all) and `permissions` (default: `object.read`,
//!   `object.write`, `object.delete`) decide, else 403 `AccessDenied`.
//! * **Zero-config, no credentials** ([`Authority::Open`]): every request is served as the
//!   objectstore API does with auth off, whatever it is signed with ([`crate::normalize`]
//!   removes signatures before s3s sees them). Only allowed on a loopback address; the server
//!   says so in its start-up log.
//!
//! Plain `GET`/`HEAD` requests signed in their headers may be verified before s3s sees them
//! ([`sigv4`], for [`crate::fast`]); that check only accepts, s3s decides everything else.
//!
//! **Secrets are never logged:** [`Secret`] and s3s's `SecretKey` print as redacted, errors
//! name the access key id and the file, never the value.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use objectstore_types::{Permission, Permissions, Usecase};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Error, S3ErrorCode, S3Result};
use serde::{Deserialize, Serialize};

use crate::mapping::is_bucket_name;

/// Largest accepted clock difference of a signed request.
pub const MAX_SKEW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A secret string: deserializes from a plain string, prints as `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// One S3 credential (`s3.credentials.<access_key_id>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CredentialConfig {
    /// The secret access key. Exactly one of this and `secret_access_key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    /// A file holding the secret access key (surrounding whitespace is ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key_file: Option<PathBuf>,
    /// The buckets (usecases) the key may use. Default: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usecases: Option<Vec<String>>,
    /// What the key may do. Default: `object.read`, `object.write`, `object.delete`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
}

/// A credential that cannot be used; the message names the key, never the secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The access key id is unusable.
    #[error("s3.credentials.{0}: access key ids are 1 to 128 characters of A-Z a-z 0-9 _ - .")]
    AccessKeyId(String),
    /// Neither or both secret sources.
    #[error("s3.credentials.{0}: set exactly one of secret_access_key and secret_access_key_file")]
    SecretSource(String),
    /// The secret file cannot be read.
    #[error("s3.credentials.{id}: cannot read secret_access_key_file {path}: {source}")]
    SecretFile {
        /// The access key id.
        id: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secret is empty.
    #[error("s3.credentials.{0}: the secret access key is empty")]
    EmptySecret(String),
    /// A usecase is not a bucket name.
    #[error("s3.credentials.{0}.usecases: {1:?} is not a bucket name (3 to 64 of A-Z a-z 0-9 _ -)")]
    Usecase(String, String),
}

/// A loaded credential.
#[derive(Debug)]
pub struct Grant {
    secret: SecretKey,
    keys: sigv4::KeyCache,
    usecases: Option<BTreeSet<String>>,
    permissions: Permissions,
}

/// Who may do what (module docs).
#[derive(Debug, Clone)]
pub enum Authority {
    /// Zero-config: no credentials, every request served.
    Open,
    /// Requests must be signed with one of these.
    Credentials(std::sync::Arc<HashMap<String, Grant>>),
}

impl CredentialConfig {
    /// Checks the credential's shape without reading files (for configuration validation):
    /// the access key id, exactly one secret source, a non-empty inline secret, bucket-name
    /// usecases.
    pub fn check(&self, id: &str) -> Result<(), CredentialError> {
        if !valid_access_key_id(id) {
            return Err(CredentialError::AccessKeyId(id.to_owned()));
        }
        match (&self.secret_access_key, &self.secret_access_key_file) {
            (Some(s), None) if s.0.is_empty() => {
                return Err(CredentialError::EmptySecret(id.to_owned()));
            }
            (Some(_), None) | (None, Some(_)) => {}
            _ => return Err(CredentialError::SecretSource(id.to_owned())),
        }
        if let Some(bad) = self.usecases.iter().flatten().find(|u| !is_bucket_name(u)) {
            return Err(CredentialError::Usecase(id.to_owned(), bad.clone()));
        }
        Ok(())
    }
}

fn valid_access_key_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Authority {
    /// Loads the configured credentials (secret files are read here); no credentials is
    /// [`Authority::Open`].
    pub fn load(config: &BTreeMap<String, CredentialConfig>) -> Result<Self, CredentialError> {
        if config.is_empty() {
            return Ok(Self::Open);
        }
        let mut grants = HashMap::new();
        for (id, c) in config {
            c.check(id)?;
            let secret = match (&c.secret_access_key, &c.secret_access_key_file) {
                (Some(s), None) => s.0.clone(),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map_err(|source| CredentialError::SecretFile {
                        id: id.clone(),
                        path: path.clone(),
                        source,
                    })?
                    .trim()
                    .to_owned(),
                _ => return Err(CredentialError::SecretSource(id.clone())),
            };
            if secret.is_empty() {
                return Err(CredentialError::EmptySecret(id.clone()));
            }
            let usecases = c
                .usecases
                .as_ref()
                .map(|list| list.iter().cloned().collect());
            let permissions = match &c.permissions {
                None => Permissions::ALL,
                Some(list) => list.iter().copied().collect(),
            };
            grants.insert(
                id.clone(),
                Grant {
                    secret: SecretKey::from(secret),
                    keys: sigv4::KeyCache::default(),
                    usecases,
                    permissions,
                },
            );
        }
        Ok(Self::Credentials(std::sync::Arc::new(grants)))
    }

    /// Whether signatures are verified.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open)
    }

    /// Number of configured credentials.
    pub fn credential_count(&self) -> usize {
        match self {
            Self::Open => 0,
            Self::Credentials(g) => g.len(),
        }
    }

    fn grant(&self, access_key: &str) -> Option<&Grant> {
        match self {
            Self::Open => None,
            Self::Credentials(g) => g.get(access_key),
        }
    }

    /// Whether the caller may use `usecase` at all (for filtering bucket lists).
    pub fn may_see(&self, caller: Option<&s3s::auth::Credentials>, usecase: &str) -> bool {
        match self {
            Self::Open => true,
            Self::Credentials(_) => caller
                .and_then(|c| self.grant(&c.access_key))
                .is_some_and(|g| g.usecases.as_ref().is_none_or(|u| u.contains(usecase))),
        }
    }

    /// `Ok` when the caller holds `permission` on `usecase`, else 403 `AccessDenied`.
    pub fn authorize(
        &self,
        caller: Option<&s3s::auth::Credentials>,
        usecase: &Usecase,
        permission: Permission,
    ) -> S3Result<()> {
        if self.is_open() {
            return Ok(());
        }
        let Some(grant) = caller.and_then(|c| self.grant(&c.access_key)) else {
            return Err(anonymous());
        };
        let in_scope = grant
            .usecases
            .as_ref()
            .is_none_or(|u| u.contains(usecase.as_str()));
        if in_scope && grant.permissions.contains(permission) {
            Ok(())
        } else {
            Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                format!("this access key may not {permission} in bucket {usecase}"),
            ))
        }
    }
}

fn anonymous() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        "anonymous requests are not allowed: sign the request with a configured access key",
    )
}

/// The secret keys, for s3s's signature checks.
#[derive(Debug, Clone)]
pub struct SecretStore(pub Authority);

#[async_trait::async_trait]
impl S3Auth for SecretStore {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.0
            .grant(access_key)
            .map(|g| g.secret.clone())
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records.",
                )
            })
    }
}

/// The first check of every routed request: records the operation's name for metrics and
/// refuses anonymous requests when credentials are configured.
#[derive(Debug, Clone)]
pub struct AccessCheck(pub Authority);

#[async_trait::async_trait]
impl S3Access for AccessCheck {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let name = cx.s3_op().name().to_owned();
        if let Some(slot) = cx.extensions_mut().get::<crate::hooks::OperationSlot>() {
            slot.set(&name);
        }
        if !self.0.is_open() && cx.credentials().is_none() {
            return Err(anonymous());
        }
        Ok(())
    }
}

/// SigV2 `Authorization: AWS <key>:<sig>` headers: the `Date` (or `x-amz-date`) must be
/// within [`MAX_SKEW`] of `now` (s3s checks the signature, not the time).
pub fn check_sigv2_date(headers: &http::HeaderMap, now: SystemTime) -> S3Result<()> {
    let is_v2 = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS "));
    if !is_v2 {
        return Ok(());
    }
    let date = headers
        .get("x-amz-date")
        .or_else(|| headers.get(http::header::DATE))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| s3s::dto::Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, v).ok())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "a SigV2 request needs a valid Date header",
            )
        })?;
    let sent = time::OffsetDateTime::from(date).unix_timestamp();
    let now = time::OffsetDateTime::from(now).unix_timestamp();
    if (now - sent).unsigned_abs() > MAX_SKEW.as_secs() {
        return Err(S3Error::with_message(
            S3ErrorCode::RequestTimeTooSkewed,
            "The difference between the request time and the server's time is too large.",
        ));
    }
    Ok(())
}

pub mod sigv4;

#[cfg(test)]
mod tests;
