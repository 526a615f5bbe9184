//! SigV4 header signatures of plain reads, checked without s3s (for [`crate::fast`]).
//!
//! Only the common form is checked here: a request without a body or query string, signed
//! in its `Authorization` header over HTTP/1.1, the way SDKs sign a `GET` or `HEAD`. The
//! module only ever **accepts**: anything it does not recognise, and every mismatch, is
//! `None`, and the request goes to s3s, which checks every form and names the error
//! (`SignatureDoesNotMatch`, `RequestTimeTooSkewed`, `InvalidAccessKeyId`, ...). So a
//! request accepted here is one s3s accepts too, and nothing is refused differently.
//!
//! The check, in order (any failure: `None`):
//!
//! 1. `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/s3/aws4_request,
//!    SignedHeaders=<h;...>, Signature=<64 hex>`, with `host` among the signed headers.
//! 2. `x-amz-date` (`yyyymmddThhmmssZ`) is on the credential's date and within
//!    [`MAX_SKEW`] of now.
//! 3. `x-amz-content-sha256` is `UNSIGNED-PAYLOAD` or the SHA-256 of the empty body.
//! 4. The access key is configured. Its signing key for that date and region (four HMACs) is
//!    derived once and kept: a request then costs one SHA-256 of its canonical form and one
//!    HMAC.
//! 5. The canonical request (method, the path percent-encoded as SigV4 wants it, an empty
//!    query, each signed header's values trimmed, inner runs of spaces collapsed, several
//!    values joined with `,`; then the payload hash), the string to sign, and the HMAC,
//!    compared with the signature in constant time.

use std::sync::Mutex;
use std::time::SystemTime;

use hmac::{Hmac, Mac};
use http::HeaderName;
use http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::auth::Credentials;
use sha2::{Digest, Sha256};

use super::{Authority, MAX_SKEW};

type HmacSha256 = Hmac<Sha256>;

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// The payload hash of a request whose body is not signed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The SHA-256 of an empty body.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Bytes a SigV4 canonical path keeps as they are: `A-Z a-z 0-9 - _ . ~` and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The signing key of one access key for the last date and region it signed with, as a
/// keyed HMAC (its padded-key blocks already hashed: cloning it saves two SHA-256 blocks).
#[derive(Default)]
pub struct KeyCache(Mutex<Option<(String, String, HmacSha256)>>);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache([redacted])")
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl KeyCache {
    /// An HMAC keyed with the signing key of `date` and `region`.
    fn signer(&self, secret: &str, date: &str, region: &str) -> HmacSha256 {
        let mut cached = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((d, r, mac)) = cached.as_ref()
            && d == date
            && r == region
        {
            return mac.clone();
        }
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, b"s3");
        let key = hmac(&k_service, b"aws4_request");
        let mac = HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
        *cached = Some((date.to_owned(), region.to_owned(), mac.clone()));
        mac
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header (step 1).
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    signed_headers: &'a str,
    signature: [u8; 32],
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let (name, value) = field.trim().split_once('=')?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    let mut scope = credential?.split('/');
    let (access_key, date, region) = (scope.next()?, scope.next()?, scope.next()?);
    if scope.next()? != "s3" || scope.next()? != "aws4_request" || scope.next().is_some() {
        return None;
    }
    let signed_headers = signed_headers?;
    if !signed_headers.split(';').any(|h| h == "host") {
        return None;
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(signature?, &mut bytes).ok()?;
    Some(Authorization {
        access_key,
        date,
        region,
        signed_headers,
        signature: bytes,
    })
}

/// Seconds since the epoch of a `yyyymmddThhmmssZ` time.
fn parse_amz_date(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = value.get(range)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let day = u8::try_from(num(6..8)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(num(9..11)?).ok()?,
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(13..15)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// A header's values as SigV4 canonicalizes them (step 5), or `None` when it is missing or
/// not visible ASCII.
fn canonical_value(parts: &Parts, name: &str, out: &mut String) -> Option<()> {
    let values = match name {
        "host" => parts.headers.get_all(http::header::HOST),
        "x-amz-date" => parts.headers.get_all(X_AMZ_DATE),
        "x-amz-content-sha256" => parts.headers.get_all(X_AMZ_CONTENT_SHA256),
        other => parts.headers.get_all(other),
    };
    let mut values = values.iter().peekable();
    values.peek()?;
    let mut first = true;
    for value in values {
        if !first {
            out.push(',');
        }
        first = false;
        let mut space = false;
        for word in value.to_str().ok()?.trim().split(' ') {
            if word.is_empty() {
                continue;
            }
            if space {
                out.push(' ');
            }
            out.push_str(word);
            space = true;
        }
    }
    Some(())
}

impl Authority {
    /// The credentials that signed `parts` (module docs), or `None` when s3s has to decide.
    pub fn verify_plain_v4(&self, parts: &Parts, now: SystemTime) -> Option<Credentials> {
        if parts.version != http::Version::HTTP_11 || parts.uri.query().is_some() {
            return None;
        }
        let header = |name: &HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let auth = parse_authorization(header(&http::header::AUTHORIZATION)?)?;
        // Step 2.
        let stamp = header(&X_AMZ_DATE)?;
        if stamp.get(..8) != Some(auth.date) {
            return None;
        }
        let sent = parse_amz_date(stamp)?;
        let now = time::OffsetDateTime::from(now).unix_timestamp();
        if (now - sent).unsigned_abs() > MAX_SKEW.as_secs() {
            return None;
        }
        // Step 3.
        let payload = header(&X_AMZ_CONTENT_SHA256)?;
        if payload != UNSIGNED_PAYLOAD && payload != EMPTY_SHA256 {
            return None;
        }
        // Step 4.
        let grant = self.grant(auth.access_key)?;
        let mut mac = grant
            .keys
            .signer(grant.secret.expose(), auth.date, auth.region);
        // Step 5.
        let raw = parts.uri.path();
        let mut canonical = String::with_capacity(256);
        canonical.push_str(parts.method.as_str());
        canonical.push('\n');
        if raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/'))
        {
            // Nothing to decode or encode: the canonical path is the path.
            canonical.push_str(raw);
        } else {
            let path = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .ok()?;
            canonical.extend(utf8_percent_encode(&path, PATH));
        }
        canonical.push_str("\n\n");
        for name in auth.signed_headers.split(';') {
            canonical.push_str(name);
            canonical.push(':');
            canonical_value(parts, name, &mut canonical)?;
            canonical.push('\n');
        }
        canonical.push('\n');
        canonical.push_str(auth.signed_headers);
        canonical.push('\n');
        canonical.push_str(payload);
        let mut digest = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(canonical.as_bytes()), &mut digest)
            .unwrap_or_else(|_| unreachable!("64 hex digits of 32 bytes"));
        for part in [
            "AWS4-HMAC-SHA256\n",
            stamp,
            "\n",
            auth.date,
            "/",
            auth.region,
            "/s3/aws4_request\n",
        ] {
            mac.update(part.as_bytes());
        }
        mac.update(&digest);
        mac.verify_slice(&auth.signature).ok()?;
        Some(Credentials {
            access_key: auth.access_key.to_owned(),
            secret_key: grant.secret.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn authorization_headers_are_parsed_strictly() {
        let sig = "f".repeat(64);
        let good = format!(
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        let parsed = parse_authorization(&good).expect("a well-formed header");
        assert_eq!(
            (parsed.access_key, parsed.date, parsed.region),
            ("AK", "20130524", "us-east-1")
        );
        assert_eq!(parsed.signed_headers, "host;x-amz-date");
        for bad in [
            good.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
            good.replace("/s3/", "/sts/"),
            good.replace("host;", ""),
            good.replace(&sig, "abc"),
            format!("{good}, Signature={sig}"),
            format!("{good}, Extra=1"),
            good.replace("aws4_request", "aws4_request/x"),
        ] {
            assert_eq!(parse_authorization(&bad), None, "{bad}");
        }
    }

    #[test]
    fn amz_dates_are_utc_seconds() {
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
        let bad =
            "20130524T000000 2013-05-24T00:00 20130230T000000Z 20130524T250000Z 2013052+T000000Z";
        let parsed: Vec<_> = bad.split(' ').filter_map(parse_amz_date).collect();
        assert!(parsed.is_empty(), "{parsed:?}");
    }

    fn authority() -> Authority {
        let config = [(
            "AKIAIOSFODNN7EXAMPLE".to_owned(),
            super::super::CredentialConfig {
                secret_access_key: Some(super::super::Secret::new(
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                )),
                ..Default::default()
            },
        )]
        .into_iter()
        .collect();
        Authority::load(&config).expect("a valid credential")
    }

    /// AWS's documented example of a signed `GET /test.txt` with a `Range` header
    /// (example bucket, access key and secret of the SigV4 documentation for S3).
    fn documented_get() -> (Parts, SystemTime) {
        let req = http::Request::get("/test.txt")
            .header("host", "examplebucket.s3.amazonaws.com")
            .header("range", "bytes=0-9")
            .header("x-amz-content-sha256", EMPTY_SHA256)
            .header("x-amz-date", "20130524T000000Z")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            )
            .body(())
            .expect("a request");
        (
            req.into_parts().0,
            UNIX_EPOCH + Duration::from_secs(1_369_353_600),
        )
    }

    #[test]
    fn the_documented_example_verifies_and_any_change_does_not() {
        let authority = authority();
        let (parts, now) = documented_get();
        assert_eq!(
            authority.verify_plain_v4(&parts, now).map(|c| c.access_key),
            Some("AKIAIOSFODNN7EXAMPLE".to_owned())
        );
        // Cached signing key: the second check agrees.
        assert!(authority.verify_plain_v4(&parts, now).is_some());

        let changed = |f: &dyn Fn(&mut Parts)| {
            let (mut parts, now) = documented_get();
            f(&mut parts);
            authority.verify_plain_v4(&parts, now).map(|c| c.access_key)
        };
        let header = |name: &'static str, value: &'static str| {
            move |p: &mut Parts| {
                p.headers
                    .insert(name, http::HeaderValue::from_static(value));
            }
        };
        assert_eq!(changed(&header("range", "bytes=0-10")), None);
        assert_eq!(changed(&header("host", "other.s3.amazonaws.com")), None);
        assert_eq!(changed(&|p| p.method = http::Method::HEAD), None);
        assert_eq!(changed(&|p| p.uri = "/test.txx".parse().unwrap()), None);
        assert_eq!(changed(&|p| p.uri = "/test.txt?acl".parse().unwrap()), None);
        assert_eq!(changed(&|p| p.version = http::Version::HTTP_2), None);
        assert_eq!(
            changed(&|p| {
                p.headers.remove("range");
            }),
            None
        );
        // A payload hash other than the empty body's or UNSIGNED-PAYLOAD.
        assert_eq!(
            changed(&header(
                "x-amz-content-sha256",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
            )),
            None
        );
        // Unknown access key.
        assert_eq!(
            changed(&|p| {
                let v = p.headers["authorization"]
                    .to_str()
                    .unwrap()
                    .replace("AKIAIOSFODNN7EXAMPLE", "AKIAOTHER");
                p.headers.insert("authorization", v.parse().unwrap());
            }),
            None
        );
        // Too far from the server's clock (16 minutes); 14 minutes is fine.
        let (parts, now) = documented_get();
        assert!(
            authority
                .verify_plain_v4(&parts, now + Duration::from_secs(16 * 60))
                .is_none()
        );
        assert!(
            authority
                .verify_plain_v4(&parts, now + Duration::from_secs(14 * 60))
                .is_some()
        );
        // No credentials configured: nothing is verified here.
        assert!(Authority::Open.verify_plain_v4(&parts, now).is_none());
    }

    /// A path with bytes to encode: the canonical form is written out by hand here, signed
    /// with the HMAC chain of the SigV4 documentation, and must be accepted whichever way
    /// the client escaped the path.
    #[test]
    fn escaped_paths_are_canonicalized_once_in_upper_case() {
        let authority = authority();
        let stamp = "20130524T000000Z";
        let canonical = "GET\n/bucket/a%20b/%C3%BC%2B~\n\nhost:h\n\
            x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20130524T000000Z\n\n\
            host;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD";
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n20130524/us-east-1/s3/aws4_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let secret = "AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let mut key = hmac(secret.as_bytes(), b"20130524");
        for part in [&b"us-east-1"[..], b"s3", b"aws4_request"] {
            key = hmac(&key, part);
        }
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        let now = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        for path in ["/bucket/a%20b/%C3%BC%2B~", "/bucket/a%20b/%c3%bc+%7E"] {
            let req = http::Request::get(path)
                .header("host", "h")
                .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
                .header("x-amz-date", stamp)
                .header(
                    "authorization",
                    format!(
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/\
                         aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
                         Signature={signature}"
                    ),
                )
                .body(())
                .expect("a request");
            let parts = req.into_parts().0;
            assert!(authority.verify_plain_v4(&parts, now).is_some(), "{path}");
        }
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let req = http::Request::get("/")
            .header("x-a", "  one   two  ")
            .header("x-b", "1")
            .header("x-b", " 2 ")
            .body(())
            .expect("a request");
        let parts = req.into_parts().0;
        let mut out = String::new();
        canonical_value(&parts, "x-a", &mut out).expect("present");
        out.push('|');
        canonical_value(&parts, "x-b", &mut out).expect("present");
        assert_eq!(out, "one two|1,2");
        assert_eq!(canonical_value(&parts, "x-c", &mut String::new()), None);
    }
}
