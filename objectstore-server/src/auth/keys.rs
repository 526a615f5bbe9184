//! The key directory: public keys by `kid`, several versions each for rotation, and the most
//! a key may grant (`max_permissions`).
//!
//! **Invariant:** keys are parsed once, at start-up; a key file that cannot be read or is not
//! an Ed25519 SPKI PEM public key fails the start with a message naming the kid and file.
//! Key material is never logged (the `Debug` output shows kids and fingerprints only).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;
use objectstore_types::{Permission, Permissions};
use serde::Deserialize;

/// Configuration of one key (`auth.keys.<kid>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct KeyConfig {
    /// PEM files with the public key versions, tried in order.
    #[serde(default)]
    pub key_files: Vec<PathBuf>,
    /// The most a token signed with this key may grant (default: nothing).
    #[serde(default)]
    pub max_permissions: Vec<Permission>,
}

/// A key the directory could not load.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    /// A file could not be read.
    #[error("auth.keys.{kid}: cannot read key file {path}: {source}")]
    Read {
        /// Key id.
        kid: String,
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not an Ed25519 public key.
    #[error(
        "auth.keys.{kid}: {path} is not an Ed25519 public key in SPKI PEM form (BEGIN PUBLIC KEY)"
    )]
    Parse {
        /// Key id.
        kid: String,
        /// File.
        path: PathBuf,
    },
    /// A key has no versions.
    #[error("auth.keys.{0}: key_files is empty")]
    NoVersions(String),
}

/// One configured key: its versions and its permission ceiling.
#[derive(Clone)]
pub(crate) struct Key {
    /// Public key versions, tried in order.
    pub versions: Vec<VerifyingKey>,
    /// Upper bound of what tokens signed with it may do.
    pub max_permissions: Permissions,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("versions", &self.versions.len())
            .field("max_permissions", &self.max_permissions)
            .finish()
    }
}

/// All configured keys by kid.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyDirectory {
    keys: BTreeMap<String, Key>,
}

impl KeyDirectory {
    /// Loads every key file of the configuration.
    pub(crate) fn load(config: &BTreeMap<String, KeyConfig>) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        for (kid, key) in config {
            if key.key_files.is_empty() {
                return Err(KeyError::NoVersions(kid.clone()));
            }
            let mut versions = Vec::with_capacity(key.key_files.len());
            for path in &key.key_files {
                let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    kid: kid.clone(),
                    path: path.clone(),
                    source,
                })?;
                let parsed =
                    VerifyingKey::from_public_key_pem(&pem).map_err(|_| KeyError::Parse {
                        kid: kid.clone(),
                        path: path.clone(),
                    })?;
                versions.push(parsed);
            }
            let max_permissions = key.max_permissions.iter().copied().collect();
            keys.insert(
                kid.clone(),
                Key {
                    versions,
                    max_permissions,
                },
            );
        }
        Ok(Self { keys })
    }

    #[cfg(test)]
    /// Builds a directory from already parsed keys (tests, tools).
    pub(crate) fn from_keys(keys: impl IntoIterator<Item = (String, Key)>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    /// The key with this id.
    pub(crate) fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.get(kid)
    }

    /// Whether no key is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
