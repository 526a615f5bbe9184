//! JWT verification (docs/http-api.md §11.3); the claims and minting are `objectstore_auth::jwt`.
//!
//! Verification, in order, with the status each failure maps to:
//!
//! 1. Decode the header: malformed → 401. `alg` must be `EdDSA` → else 401 (this rejects
//!    `none` and HS256 signed with a public key). `kid` required → else 400; it must name a
//!    configured key → else 401.
//! 2. Verify the signature against each version of the key in turn; only a signature
//!    mismatch moves on to the next version. No version verifies → 401.
//! 3. Claims: `exp` required and not passed (60 s leeway) → else 401; `aud`, if present, is
//!    `objectstore`; `iss`, if present, is `sentry` or `relay`; `nbf` is not checked; `res`
//!    holds `os:usecase` and string scope values (`*` = any); `permissions` lists known names
//!    → any violation 401.
//! 4. Effective permissions = token permissions ∩ the key's `max_permissions`.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use objectstore_auth::jwt::{ALGORITHM, USECASE_CLAIM};
use objectstore_types::{Permission, Permissions};
use serde::Deserialize;
use serde_json::Value;

use super::AuthError;
use super::keys::KeyDirectory;

/// Leeway on `exp`.
pub(super) const EXP_LEEWAY_SECS: u64 = 60;

/// What a verified token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenGrant {
    /// The usecase (`res["os:usecase"]`).
    pub usecase: String,
    /// Scope name → value or `*`.
    pub scopes: BTreeMap<String, String>,
    /// Effective permissions.
    pub permissions: Permissions,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    iss: Option<Value>,
    #[serde(default)]
    res: Option<Value>,
    #[serde(default)]
    permissions: Option<Value>,
}

fn invalid(why: impl Into<String>) -> AuthError {
    AuthError::Unauthorized(why.into())
}

/// Verifies a JWT against the directory at `now`.
pub(super) fn verify(
    token: &str,
    keys: &KeyDirectory,
    now: SystemTime,
) -> Result<TokenGrant, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
    if header.alg != ALGORITHM {
        return Err(invalid("token algorithm must be EdDSA"));
    }
    let kid = header
        .kid
        .ok_or_else(|| AuthError::BadRequest("token header has no `kid`".into()))?;
    let key = keys.get(&kid).ok_or_else(|| invalid("unknown key id"))?;

    let mut validation = Validation::new(ALGORITHM);
    validation.leeway = EXP_LEEWAY_SECS;
    validation.validate_exp = false; // checked below against the injectable clock
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = ["exp".to_owned()].into();

    let mut verified = None;
    for version in &key.versions {
        let decoding = DecodingKey::from_ed_der(version.as_bytes());
        match jsonwebtoken::decode::<Value>(token, &decoding, &validation) {
            Ok(data) => {
                verified = Some(data.claims);
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
            Err(_) => return Err(invalid("invalid token")),
        }
    }
    let claims = verified.ok_or_else(|| invalid("token signature does not verify"))?;

    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("`exp` must be a number"))?;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if exp.saturating_add(EXP_LEEWAY_SECS) < now_secs {
        return Err(invalid("token expired"));
    }
    let raw: RawClaims = serde_json::from_value(claims).map_err(|_| invalid("malformed claims"))?;
    if let Some(aud) = &raw.aud
        && aud.as_str() != Some("objectstore")
    {
        return Err(invalid("token audience must be `objectstore`"));
    }
    if let Some(iss) = &raw.iss
        && !matches!(iss.as_str(), Some("sentry" | "relay"))
    {
        return Err(invalid("token issuer must be `sentry` or `relay`"));
    }

    let Some(Value::Object(res)) = raw.res else {
        return Err(invalid("`res` must be an object"));
    };
    let mut usecase = None;
    let mut scopes = BTreeMap::new();
    for (name, value) in res {
        let Value::String(value) = value else {
            return Err(invalid(format!("`res.{name}` must be a string")));
        };
        if name == USECASE_CLAIM {
            usecase = Some(value);
        } else {
            scopes.insert(name, value);
        }
    }
    let usecase = usecase.ok_or_else(|| invalid("`res` has no `os:usecase`"))?;

    let Some(Value::Array(names)) = raw.permissions else {
        return Err(invalid("`permissions` must be an array"));
    };
    let mut permissions = Vec::with_capacity(names.len());
    for name in names {
        let p = name
            .as_str()
            .and_then(|s| s.parse::<Permission>().ok())
            .ok_or_else(|| invalid("unknown permission in token"))?;
        permissions.push(p);
    }
    let permissions = permissions
        .into_iter()
        .collect::<Permissions>()
        .intersect(key.max_permissions);
    Ok(TokenGrant {
        usecase,
        scopes,
        permissions,
    })
}
