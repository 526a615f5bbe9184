//! The claims of a token (docs/http-api.md §11.3) and minting them, as the official clients do.
//!
//! A token is a JWT signed with EdDSA (Ed25519) whose header names the key (`kid`) and whose
//! claims are:
//!
//! * `exp`: expiry, seconds since the epoch (required);
//! * `res`: the resource, an object of strings: [`USECASE_CLAIM`] names the usecase, every
//!   other entry a scope (`*` = any value);
//! * `permissions`: the permission names granted (`object.read`, ...).
//!
//! Verification (which claims are optional, leeway, audience, issuer) is the server's.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use objectstore_types::Permission;
use serde::Serialize;

/// The signature algorithm of every token.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;

/// The entry of `res` that names the usecase.
pub const USECASE_CLAIM: &str = "os:usecase";

#[derive(Serialize)]
struct Claims<'a> {
    exp: u64,
    res: BTreeMap<&'a str, &'a str>,
    permissions: Vec<&'static str>,
}

/// Mints a token: EdDSA, `kid`, `exp`, `res`, `permissions`. The values are taken as they
/// are (tests mint hostile ones); [`crate::tools::token`] validates them first.
pub fn mint(
    kid: &str,
    key: &SigningKey,
    usecase: &str,
    scopes: &[(String, String)],
    permissions: &[Permission],
    expires: SystemTime,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut res: BTreeMap<&str, &str> = scopes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    res.insert(USECASE_CLAIM, usecase);
    let claims = Claims {
        exp: expires
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        res,
        permissions: permissions.iter().map(Permission::as_str).collect(),
    };
    let mut header = Header::new(ALGORITHM);
    header.kid = Some(kid.to_owned());
    let der = key
        .to_pkcs8_der()
        .map_err(|_| jsonwebtoken::errors::Error::from(ErrorKind::InvalidEddsaKey))?;
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes()))
}
