//! Authentication configuration (`auth.*`, docs/http-api.md §11.1). Verification lives in
//! [`crate::auth`]; this module only describes the keys and when auth is enforced.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::KeyConfig;

/// `auth.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Whether requests without valid credentials are refused. Default: unset, meaning
    /// "enforce exactly when keys are configured" (the zero-config server runs without auth);
    /// `false` with keys verifies and authorizes, logs every failure (authorization
    /// failures of valid tokens included) but lets requests through; `true` without keys is
    /// refused at start-up. Env `OS__AUTH__ENFORCE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce: Option<bool>,
    /// Ed25519 public keys by key id (`kid`): `key_files` (PEM, one per version) and
    /// `max_permissions`. Default none. Env `OS__AUTH__KEYS` (inline table, e.g.
    /// `{test_kid={key_files=["/k.pem"],max_permissions=["object.read"]}}`).
    #[serde(skip_serializing)]
    pub keys: BTreeMap<String, KeyConfig>,
    /// Serve a non-loopback `http_addr` without enforced auth. Default false: such a
    /// configuration is refused at start-up, so that an open store is always a deliberate
    /// choice. Env `OS__AUTH__ALLOW_UNAUTHENTICATED`.
    pub allow_unauthenticated: bool,
}

impl AuthConfig {
    /// Whether credentials are checked at all (docs/http-api.md §11.1: enforce, or any key
    /// configured).
    pub fn is_active(&self) -> bool {
        self.enforce.unwrap_or(false) || !self.keys.is_empty()
    }

    /// Whether failed authentication refuses the request.
    pub fn is_enforced(&self) -> bool {
        self.enforce.unwrap_or(!self.keys.is_empty())
    }
}
