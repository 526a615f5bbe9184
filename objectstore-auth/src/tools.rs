//! Key files and checked signing: what `objectstore keygen | token | presign` and the
//! client commands' per-request tokens are made of, so that no other tool is needed to run
//! a server with auth.
//!
//! Private keys are PKCS#8 PEM (`BEGIN PRIVATE KEY`), public keys SPKI PEM
//! (`BEGIN PUBLIC KEY`): the formats the server's key directory and both official clients
//! read. Private key files are created with mode 0600.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use objectstore_types::{Permission, Scopes, Usecase};

use crate::{jwt, presign};

/// A tooling failure, with a message for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The private key file is not an Ed25519 PKCS#8 PEM key.
    #[error("{0}: not an Ed25519 private key in PKCS#8 PEM form (BEGIN PRIVATE KEY)")]
    BadKey(PathBuf),
    /// An argument is invalid.
    #[error("{0}")]
    Invalid(String),
    /// What should be an object URL is not an absolute `http(s)` URL with a path.
    #[error("{0} is not an absolute http(s) URL with a path")]
    NotAUrl(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |source| ToolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a fresh key pair as `<prefix>.private.pem` (mode 0600) and `<prefix>.public.pem`;
/// refuses to overwrite existing files. Returns both paths.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf), ToolError> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let private = prefix.with_extension("private.pem");
    let public = prefix.with_extension("public.pem");
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| ToolError::Invalid(format!("encoding the private key: {e}")))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| ToolError::Invalid(format!("encoding the public key: {e}")))?;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&private)
        .and_then(|mut f| f.write_all(private_pem.as_bytes()))
        .map_err(io(&private))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&public)
        .and_then(|mut f| f.write_all(public_pem.as_bytes()))
        .map_err(io(&public))?;
    Ok((private, public))
}

/// Reads a PKCS#8 PEM private key.
pub fn read_private_key(path: &Path) -> Result<SigningKey, ToolError> {
    let pem = std::fs::read_to_string(path).map_err(io(path))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|_| ToolError::BadKey(path.to_owned()))
}

/// Mints a token for `usecase` and `scopes` (matrix syntax, `_` for none).
pub fn token(
    kid: &str,
    key: &SigningKey,
    usecase: &str,
    scopes: &str,
    permissions: &[Permission],
    lifetime: Duration,
) -> Result<String, ToolError> {
    let usecase = Usecase::new(usecase).map_err(|e| ToolError::Invalid(e.to_string()))?;
    let scopes = Scopes::parse(scopes).map_err(|e| ToolError::Invalid(e.to_string()))?;
    let pairs: Vec<(String, String)> = scopes
        .iter()
        .map(|s| (s.name().to_owned(), s.value().to_owned()))
        .collect();
    jwt::mint(
        kid,
        key,
        usecase.as_str(),
        &pairs,
        permissions,
        SystemTime::now() + lifetime,
    )
    .map_err(|e| ToolError::Invalid(format!("signing the token: {e}")))
}

/// Builds a pre-signed URL for `method` (GET or HEAD) of `url` (which must include the
/// path exactly as clients send it, percent-encoded, and no query).
pub fn presign_url(
    method: &str,
    url: &str,
    kid: &str,
    key: &SigningKey,
    validity: Duration,
) -> Result<String, ToolError> {
    let method = method.to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "HEAD") {
        return Err(ToolError::Invalid(
            "pre-signed URLs support only GET and HEAD".into(),
        ));
    }
    if validity > presign::MAX_DURATION {
        return Err(ToolError::Invalid(
            "pre-signed URLs are valid for at most 7 days".into(),
        ));
    }
    if url.contains('?') {
        return Err(ToolError::Invalid("the URL must not have a query".into()));
    }
    let path_start = url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
        .ok_or_else(|| ToolError::NotAUrl(url.to_owned()))?;
    let query = presign::sign(
        &method,
        &url[path_start..],
        kid,
        key,
        SystemTime::now(),
        validity,
    );
    Ok(format!("{url}?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_arguments_are_explained() {
        let key = SigningKey::from_bytes(&[1; 32]);
        assert!(presign_url("PUT", "http://h/v1/x", "k", &key, Duration::from_secs(1)).is_err());
        assert!(
            presign_url(
                "GET",
                "http://h/v1/x",
                "k",
                &key,
                Duration::from_secs(8 * 86_400)
            )
            .is_err()
        );
        assert!(presign_url("GET", "not a url", "k", &key, Duration::from_secs(1)).is_err());
        assert!(token("k", &key, "", "_", &[], Duration::from_secs(1)).is_err());
        assert!(token("k", &key, "u", "org", &[], Duration::from_secs(1)).is_err());
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("bogus.pem");
        std::fs::write(&bogus, "not a key").unwrap();
        assert!(matches!(
            read_private_key(&bogus),
            Err(ToolError::BadKey(_))
        ));
    }
}
