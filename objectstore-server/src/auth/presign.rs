//! Verification of pre-signed URLs (docs/http-api.md §11.6); their format, the canonical string and
//! signing are `objectstore_auth::presign`.
//!
//! Verification, in order, with the status of each failure:
//! 1. method GET or HEAD → else 403;
//! 2. `os_kid`, `os_timestamp`, `os_duration`, `os_sig` present and parseable → else 400;
//! 3. `os_kid` known → else 401;
//! 4. `os_duration` ≤ 7 days → else 400;
//! 5. `os_timestamp − 60 s ≤ now ≤ os_timestamp + os_duration` → else 401;
//! 6. the signature (strict unpadded base64url: non-zero trailing bits rejected) verifies
//!    strictly against a version of the key → else 401;
//! 7. the key's `max_permissions` include `object.read` → else 403.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;
pub(super) use objectstore_auth::presign::canonical_string;
use objectstore_auth::presign::{DURATION, KID, MAX_DURATION, SIGNATURE, TIMESTAMP};
use objectstore_types::Permission;
use percent_encoding::percent_decode_str;

use super::AuthError;
use super::keys::KeyDirectory;

/// Tolerated clock skew before the signing time.
pub(super) const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Whether the raw query carries a parameter named exactly `os_sig` (case-sensitive), which
/// selects the pre-signed path.
pub(super) fn is_presigned(raw_query: Option<&str>) -> bool {
    raw_query.is_some_and(|q| {
        q.split('&')
            .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == SIGNATURE)
    })
}

fn param<'a>(raw_query: &'a str, name: &str) -> Option<&'a str> {
    raw_query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn decoded(raw_query: &str, name: &str) -> Result<String, AuthError> {
    let raw = param(raw_query, name)
        .ok_or_else(|| AuthError::BadRequest(format!("pre-signed URL lacks `{name}`")))?;
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| AuthError::BadRequest(format!("`{name}` is not valid UTF-8")))
}

/// Verifies a pre-signed request; `Ok(())` means it may read exactly this path.
pub(super) fn verify(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    keys: &KeyDirectory,
    now: SystemTime,
) -> Result<(), AuthError> {
    if !matches!(method, "GET" | "HEAD") {
        return Err(AuthError::Forbidden(
            "pre-signed URLs allow only GET and HEAD".into(),
        ));
    }
    let kid = decoded(raw_query, KID)?;
    let timestamp = decoded(raw_query, TIMESTAMP)?;
    let timestamp = humantime::parse_rfc3339(&timestamp)
        .map_err(|_| AuthError::BadRequest("`os_timestamp` must be RFC 3339 in UTC".into()))?;
    let duration = decoded(raw_query, DURATION)?
        .parse::<u64>()
        .map_err(|_| AuthError::BadRequest("`os_duration` must be whole seconds".into()))?;
    let signature = decoded(raw_query, SIGNATURE)?;
    // A signature that does not decode strictly (e.g. non-zero trailing bits after a
    // tampered last character) is an invalid signature: 401, like one that does not verify
    // (the official Python suite checks exactly this).
    let signature = URL_SAFE_NO_PAD
        .decode(signature.as_bytes())
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| {
            AuthError::Unauthorized("`os_sig` is not a base64url Ed25519 signature".into())
        })?;

    let key = keys
        .get(&kid)
        .ok_or_else(|| AuthError::Unauthorized("unknown key id".into()))?;
    let duration = Duration::from_secs(duration);
    if duration > MAX_DURATION {
        return Err(AuthError::BadRequest(
            "pre-signed URLs are valid for at most 7 days".into(),
        ));
    }
    let not_before = timestamp.checked_sub(CLOCK_SKEW).unwrap_or(timestamp);
    if now < not_before || now > timestamp + duration {
        return Err(AuthError::Unauthorized(
            "pre-signed URL is expired or not yet valid".into(),
        ));
    }
    let message = canonical_string(method, raw_path, Some(raw_query));
    if !key
        .versions
        .iter()
        .any(|v| v.verify_strict(message.as_bytes(), &signature).is_ok())
    {
        return Err(AuthError::Unauthorized(
            "pre-signed URL signature does not verify".into(),
        ));
    }
    if !key.max_permissions.contains(Permission::Read) {
        return Err(AuthError::Forbidden("the key does not allow reads".into()));
    }
    Ok(())
}
