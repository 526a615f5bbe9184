//! Pre-signed URLs (docs/http-api.md §11.6): the query parameters, the canonical string and the
//! signature.
//!
//! A pre-signed URL is an object URL with the query
//! `os_kid=<kid>&os_timestamp=<RFC 3339, UTC>&os_duration=<seconds>&os_sig=<signature>`,
//! where the signature is the Ed25519 signature of the canonical string, unpadded base64url.
//!
//! Canonical string, three lines joined by `\n`:
//! 1. the method, uppercased, `HEAD` written as `GET` (so one URL serves both);
//! 2. the request path exactly as on the wire (still percent-encoded);
//! 3. the raw query split on `&`, empty pieces dropped, each key (before the first `=`)
//!    lowercased, [`SIGNATURE`] dropped, values verbatim, sorted as plain strings, joined
//!    by `&`.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};

/// Query parameter: the key id.
pub const KID: &str = "os_kid";
/// Query parameter: when the URL was signed (RFC 3339, UTC).
pub const TIMESTAMP: &str = "os_timestamp";
/// Query parameter: validity in whole seconds from the timestamp.
pub const DURATION: &str = "os_duration";
/// Query parameter: the signature; its presence selects the pre-signed path on the server.
pub const SIGNATURE: &str = "os_sig";

/// Longest validity of a pre-signed URL.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The canonical string that is signed (module docs).
pub fn canonical_string(method: &str, raw_path: &str, raw_query: Option<&str>) -> String {
    let method = method.to_ascii_uppercase();
    let method = if method == "HEAD" {
        "GET".to_owned()
    } else {
        method
    };
    let mut pieces: Vec<String> = raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => format!("{}={v}", k.to_ascii_lowercase()),
            None => p.to_ascii_lowercase(),
        })
        .filter(|p| p.split_once('=').map_or(p.as_str(), |(k, _)| k) != SIGNATURE)
        .collect();
    pieces.sort();
    format!("{method}\n{raw_path}\n{}", pieces.join("&"))
}

/// Signs a URL: returns the query string (`os_kid=…&os_timestamp=…&os_duration=…&os_sig=…`)
/// to append to `raw_path` for `method` (GET or HEAD). Unchecked: [`crate::tools::presign_url`]
/// validates method, validity and URL first.
pub fn sign(
    method: &str,
    raw_path: &str,
    kid: &str,
    key: &SigningKey,
    timestamp: SystemTime,
    duration: Duration,
) -> String {
    let query = format!(
        "{KID}={}&{TIMESTAMP}={}&{DURATION}={}",
        percent_encoding::utf8_percent_encode(kid, percent_encoding::NON_ALPHANUMERIC),
        humantime::format_rfc3339_seconds(timestamp),
        duration.as_secs()
    );
    let signature = key.sign(canonical_string(method, raw_path, Some(&query)).as_bytes());
    format!(
        "{query}&{SIGNATURE}={}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/v1/objects/testing/org=17;project=42/foo/bar";

    #[test]
    fn canonical_string_matches_the_spec_example() {
        let got = canonical_string(
            "head",
            PATH,
            Some("os_timestamp=1985-04-12T23:20:50.52Z&OS_KID=relay&&os_sig=zzz&os_duration=3600"),
        );
        assert_eq!(
            got,
            format!(
                "GET\n{PATH}\nos_duration=3600&os_kid=relay&os_timestamp=1985-04-12T23:20:50.52Z"
            )
        );
    }
}
