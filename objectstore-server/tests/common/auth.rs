//! Keys and credentials for tests with auth: a key pair from `keygen` in a temporary
//! directory, its `auth.keys` entry, and tokens signed with it.

use std::path::PathBuf;
use std::time::Duration;

use objectstore_auth::tools::{keygen, read_private_key, token};
use objectstore_server::auth::KeyConfig;
use objectstore_types::Permission;

/// A key pair written by `keygen` (the files live as long as the value).
pub struct Keys {
    _dir: tempfile::TempDir,
    /// The PKCS#8 PEM private key.
    pub private: PathBuf,
    /// The SPKI PEM public key.
    pub public: PathBuf,
}

/// A fresh key pair.
pub fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(&dir.path().join("test")).unwrap();
    Keys {
        _dir: dir,
        private,
        public,
    }
}

impl Keys {
    /// The `auth.keys.<kid>` entry of the public key with `max_permissions`.
    pub fn config(&self, max_permissions: &[Permission]) -> KeyConfig {
        KeyConfig {
            key_files: vec![self.public.clone()],
            max_permissions: max_permissions.to_vec(),
        }
    }

    /// A token for `usecase` and `scopes` (matrix syntax), signed as `kid`, valid `lifetime`.
    pub fn token(
        &self,
        kid: &str,
        usecase: &str,
        scopes: &str,
        permissions: &[Permission],
        lifetime: Duration,
    ) -> String {
        let key = read_private_key(&self.private).unwrap();
        token(kid, &key, usecase, scopes, permissions, lifetime).unwrap()
    }
}
