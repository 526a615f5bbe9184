//! Authentication configuration (`auth.*`, spec 9.1). Enforcement itself lives in the
//! admission layer; this module only describes the keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use objectstore_types::Permission;
use serde::{Deserialize, Serialize};

/// `auth.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Whether requests without valid credentials are refused. Default: unset, meaning
    /// "enforce exactly when keys are configured"; `true` without keys is refused at
    /// start-up. Env `OS__AUTH__ENFORCE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce: Option<bool>,
    /// Public keys by key id (`kid`). Default none. Env `OS__AUTH__KEYS` (inline table).
    pub keys: BTreeMap<String, AuthKeyConfig>,
}

impl AuthConfig {
    /// Whether credentials are checked at all (spec 9.1: enforce, or any key configured).
    pub fn is_active(&self) -> bool {
        self.enforce.unwrap_or(false) || !self.keys.is_empty()
    }
}

/// One key id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthKeyConfig {
    /// PEM files of the Ed25519 public key versions (rotation: any version may verify).
    pub key_files: Vec<PathBuf>,
    /// The most a token signed with this key may do. Default none.
    pub max_permissions: Vec<Permission>,
}
