//! AWS Signature Version 4 for the S3 workloads: every request is signed in its headers the
//! way SDKs sign them, with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the body is not
//! hashed, as S3 clients do over TLS; the generator never materializes a body).
//!
//! Signed headers: `host`, `x-amz-content-sha256`, `x-amz-date`. The signing key (four
//! HMACs) is derived once per UTC day and reused; a request then costs one SHA-256 of its
//! canonical form and one HMAC.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{HeaderValue, Request};
use sha2::{Digest, Sha256};

use crate::body::ReqBody;

type HmacSha256 = Hmac<Sha256>;

/// The payload hash S3 clients send when they do not hash the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What requests are signed with.
#[derive(Debug)]
pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    /// `(yyyymmdd, signing key)` of the last day used.
    key: Mutex<Option<(String, [u8; 32])>>,
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex of a 32-byte digest, without allocating.
fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    hex::encode_to_slice(bytes, &mut out).unwrap_or_else(|_| unreachable!("64 digits"));
    out
}

fn ascii(hex: &[u8; 64]) -> &str {
    std::str::from_utf8(hex).unwrap_or_else(|_| unreachable!("hex digits are ASCII"))
}

thread_local! {
    /// The last second formatted on this thread and its `amz_dates`.
    static DATES: std::cell::RefCell<(u64, String, String)> =
        const { std::cell::RefCell::new((u64::MAX, String::new(), String::new())) };
}

/// `(yyyymmdd, yyyymmddThhmmssZ)` of `t` in UTC (formatted once per second and thread).
pub fn amz_dates(t: SystemTime) -> (String, String) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATES.with_borrow_mut(|(second, date, stamp)| {
        if *second != secs {
            (*date, *stamp) = format_dates(secs);
            *second = secs;
        }
        (date.clone(), stamp.clone())
    })
}

fn format_dates(secs: u64) -> (String, String) {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let time = format!(
        "{date}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    (date, time)
}

/// `s` percent-encoded as SigV4 wants it: every byte but `A-Z a-z 0-9 - _ . ~` (and `/`
/// when `keep_slash`).
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string of a raw (already encoded, simple) query.
fn canonical_query(query: Option<&str>) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&decode(k), false), uri_encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

impl Signer {
    /// A signer for these credentials and region.
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Self {
        Self {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            key: Mutex::new(None),
        }
    }

    fn signing_key(&self, date: &str) -> [u8; 32] {
        let mut cached = self
            .key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((day, key)) = cached.as_ref()
            && day == date
        {
            return *key;
        }
        let k_date = hmac(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, b"s3");
        let key = hmac(&k_service, b"aws4_request");
        *cached = Some((date.to_owned(), key));
        key
    }

    /// Signs `req` (its `host` header must be set) at `now`.
    pub fn sign(&self, req: &mut Request<ReqBody>, now: SystemTime) {
        let (date, stamp) = amz_dates(now);
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let raw_path = req.uri().path();
        let path = if raw_path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/'))
        {
            // Nothing to decode or encode (the generator's own keys).
            std::borrow::Cow::Borrowed(raw_path)
        } else {
            uri_encode(
                &percent_encoding::percent_decode_str(raw_path).decode_utf8_lossy(),
                true,
            )
            .into()
        };
        let canonical = format!(
            "{method}\n{path}\n{query}\nhost:{host}\nx-amz-content-sha256:{UNSIGNED_PAYLOAD}\n\
             x-amz-date:{stamp}\n\nhost;x-amz-content-sha256;x-amz-date\n{UNSIGNED_PAYLOAD}",
            method = req.method(),
            query = canonical_query(req.uri().query()),
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let digest = hex32(&Sha256::digest(canonical.as_bytes()).into());
        let mut mac =
            HmacSha256::new_from_slice(&self.signing_key(&date)).unwrap_or_else(|_| unreachable!());
        for part in [
            "AWS4-HMAC-SHA256\n",
            &stamp,
            "\n",
            &scope,
            "\n",
            ascii(&digest),
        ] {
            mac.update(part.as_bytes());
        }
        let signature = hex32(&mac.finalize().into_bytes().into());
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
            self.access_key,
            ascii(&signature),
        );
        let headers = req.headers_mut();
        for (name, value) in [
            ("x-amz-date", stamp),
            ("x-amz-content-sha256", UNSIGNED_PAYLOAD.to_owned()),
            ("authorization", authorization),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        assert_eq!(
            amz_dates(t),
            ("20150830".to_owned(), "20150830T123600Z".to_owned())
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29T00:00:00Z
        assert_eq!(amz_dates(leap).0, "20000229");
    }

    /// The signing-key example of AWS's SigV4 documentation.
    #[test]
    fn signing_key_matches_the_documented_example() {
        let signer = Signer::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "us-east-1",
        );
        let k_date = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        let k_region = hmac(&k_date, b"us-east-1");
        let expected = hmac(&hmac(&k_region, b"iam"), b"aws4_request");
        assert_eq!(
            hex::encode(expected),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        // Our service is s3: a different key from the same chain.
        assert_ne!(signer.signing_key("20120215"), hmac(&k_region, b"iam"));
    }

    #[test]
    fn queries_are_sorted_and_encoded() {
        assert_eq!(canonical_query(Some("uploads")), "uploads=");
        assert_eq!(
            canonical_query(Some("uploadId=a-b_c&partNumber=2")),
            "partNumber=2&uploadId=a-b_c"
        );
        assert_eq!(uri_encode("a b/c+d", true), "a%20b/c%2Bd");
    }
}
