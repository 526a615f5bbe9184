//! Object metadata and its HTTP header codec (docs/http-api.md §6).
//!
//! Reading ([`Metadata::from_headers`]) parses what a client may set: `content-type`,
//! `content-encoding` (`zstd` or `gzip`), `content-language`, `cache-control`, `expires`,
//! `x-sn-expiration`, `x-sn-origin`, `x-sn-filename` and `x-snme-*`. Server-owned headers
//! (`x-sn-time-*`, `x-sn-size`, `etag`) are ignored on input, and so is `content-disposition`
//! (derived from the filename on this API; batch parts use it to name themselves). Free-form
//! values (origin, filename, custom) arrive percent-escaped and are stored as the logical
//! UTF-8 string; the standard headers are stored verbatim.
//!
//! Writing ([`Metadata::to_headers`]) emits lowercase names only, never a `content-encoding`
//! other than the stored one, whole-second timestamps, free-form values re-escaped with
//! the writer rule (C0 controls, DEL, `%` and non-ASCII bytes become `%XX`), the standard
//! headers verbatim, and the `etag` in double quotes.
//!
//! **Fields another API sets.** `content_encoding` (a value that is not just a compression
//! we model) and `content_disposition` (not just the filename form) are set by the S3 API
//! ([`Metadata::set_content_encoding`]); this codec writes them out but never reads them.
//! `etag` is stamped by the storage engine only: the unquoted lowercase hex MD5 of the
//! stored bytes, or `<hex>-N` for an N-part multipart upload; objects stored before ETags
//! existed have none and are served without one.
//!
//! **Invariant:** `from_headers(to_headers(m))` gives back `m` for every field a client can
//! set (proven by property tests below and in `standard_headers_tests`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_TYPE, ETAG,
    EXPIRES,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::expiration::ExpirationPolicy;
use crate::time;

/// Header carrying the expiration policy.
pub const HEADER_EXPIRATION: &str = "x-sn-expiration";
/// Header carrying the creation time (server-owned).
pub const HEADER_TIME_CREATED: &str = "x-sn-time-created";
/// Header carrying the expiry time (server-owned).
pub const HEADER_TIME_EXPIRES: &str = "x-sn-time-expires";
/// Header carrying the origin.
pub const HEADER_ORIGIN: &str = "x-sn-origin";
/// Header carrying the filename.
pub const HEADER_FILENAME: &str = "x-sn-filename";
/// Header carrying the stored size (server-owned, response only).
pub const HEADER_SIZE: &str = "x-sn-size";
/// Prefix of custom metadata headers.
pub const CUSTOM_PREFIX: &str = "x-snme-";
/// Content type used when the client sends none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Bytes escaped in free-form metadata values: C0 controls, DEL, `%` (non-ASCII is always
/// escaped).
const FREE_FORM_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

/// The compression a payload was stored with. The server never (de)compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A zstd stream (possibly several frames).
    Zstd,
    /// A gzip stream (possibly several members).
    Gzip,
}

impl Compression {
    /// The `content-encoding` token.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
        }
    }
}

impl FromStr for Compression {
    type Err = InvalidMetadata;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zstd" => Ok(Self::Zstd),
            "gzip" => Ok(Self::Gzip),
            other => Err(InvalidMetadata::new(
                "content-encoding",
                format!("{other:?} is not supported; use `zstd` or `gzip`"),
            )),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A metadata header the client sent that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid header {header}: {reason}")]
pub struct InvalidMetadata {
    /// The offending header name.
    pub header: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidMetadata {
    fn new(header: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            header: header.into(),
            reason: reason.into(),
        }
    }
}

/// Everything stored about an object besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// IANA media type, parameters allowed.
    pub content_type: String,
    /// Compression of the stored bytes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    /// How the object expires.
    #[serde(default)]
    pub expiration_policy: ExpirationPolicy,
    /// When the object was written (server-stamped, whole seconds).
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub time_created: Option<SystemTime>,
    /// When the object expires (ttl/tti only).
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub time_expires: Option<SystemTime>,
    /// Free text, typically the uploader's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Free text filename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Custom key-values (names lowercase).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
    /// Stored size in bytes (compressed size when compressed), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The entity tag, stamped by the storage engine (never by a client): the unquoted
    /// lowercase hex MD5 of the stored bytes, or `<hex>-N` for an N-part multipart upload
    /// (the MD5 of the concatenated binary part MD5s). `None` for objects stored before
    /// ETags existed: they are served without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `Content-Encoding` verbatim, when it is not just a compression we model (those are
    /// in `compression`). Set through the S3 API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `Content-Disposition` verbatim, when it is not just the filename form (that one is
    /// derived from `filename`). Set through the S3 API; written out instead of the derived
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// `Content-Language` verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `Cache-Control` verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// The HTTP `Expires` header verbatim (what caches are told; not the object's own
    /// expiry, which is `expiration_policy` and `time_expires`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The CRC-32C (Castagnoli) of the stored bytes, stamped by the storage engine with the
    /// ETag for single writes (not for multipart uploads); it checks reads of the
    /// long-term copy cheaply. Server-owned and not a header of this API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<u32>,
}

impl Default for Metadata {
    fn default() -> Self {
        Self {
            content_type: DEFAULT_CONTENT_TYPE.into(),
            compression: None,
            expiration_policy: ExpirationPolicy::Manual,
            time_created: None,
            time_expires: None,
            origin: None,
            filename: None,
            custom: BTreeMap::new(),
            size: None,
            etag: None,
            content_encoding: None,
            content_disposition: None,
            content_language: None,
            cache_control: None,
            expires: None,
            crc32c: None,
        }
    }
}

mod opt_secs {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&crate::time::unix_secs(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(crate::time::from_unix_secs))
    }
}

fn header_str<'a>(name: &str, value: &'a HeaderValue) -> Result<&'a str, InvalidMetadata> {
    value.to_str().map_err(|_| {
        InvalidMetadata::new(
            name,
            "value must be visible ASCII; percent-escape other bytes",
        )
    })
}

/// Decodes a percent-escaped free-form value to its logical UTF-8 string.
pub fn decode_free_form(name: &str, raw: &str) -> Result<String, InvalidMetadata> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| InvalidMetadata::new(name, "percent-escapes do not decode to valid UTF-8"))
}

/// Escapes a logical string for a header value (writer rule of docs/http-api.md §6.3).
pub fn encode_free_form(value: &str) -> String {
    utf8_percent_encode(value, FREE_FORM_ESCAPES).to_string()
}

impl Metadata {
    /// Parses the client-settable metadata of a write request. Server-owned headers are
    /// ignored; `time_created`/`time_expires` are left `None` for [`Metadata::stamp`].
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, InvalidMetadata> {
        let mut metadata = Self::default();
        for (name, value) in headers {
            let name = name.as_str();
            match name {
                "content-type" => {
                    let ct = header_str(name, value)?;
                    ct.parse::<mime::Mime>().map_err(|e| {
                        InvalidMetadata::new(name, format!("{ct:?} is not a media type: {e}"))
                    })?;
                    metadata.content_type = ct.to_owned();
                }
                "content-encoding" => {
                    metadata.compression = Some(header_str(name, value)?.parse()?);
                }
                "content-language" => {
                    metadata.content_language = Some(header_str(name, value)?.to_owned());
                }
                "cache-control" => {
                    metadata.cache_control = Some(header_str(name, value)?.to_owned());
                }
                "expires" => {
                    metadata.expires = Some(header_str(name, value)?.to_owned());
                }
                HEADER_EXPIRATION => {
                    metadata.expiration_policy = header_str(name, value)?.parse().map_err(
                        |e: crate::expiration::InvalidExpiration| {
                            InvalidMetadata::new(name, e.to_string())
                        },
                    )?;
                }
                HEADER_ORIGIN => {
                    metadata.origin = Some(decode_free_form(name, header_str(name, value)?)?);
                }
                HEADER_FILENAME => {
                    metadata.filename = Some(decode_free_form(name, header_str(name, value)?)?);
                }
                _ => {
                    if let Some(custom) = name.strip_prefix(CUSTOM_PREFIX) {
                        if custom.is_empty() {
                            return Err(InvalidMetadata::new(
                                name,
                                "custom metadata needs a name after `x-snme-`",
                            ));
                        }
                        let v = decode_free_form(name, header_str(name, value)?)?;
                        metadata.custom.insert(custom.to_owned(), v);
                    }
                }
            }
        }
        Ok(metadata)
    }

    /// Stamps the server-owned times of a fresh write: `time_created = now` and, for ttl/tti,
    /// `time_expires = now + duration`.
    pub fn stamp(&mut self, now: SystemTime) {
        let now = time::ceil_to_second(now);
        self.time_created = Some(now);
        self.time_expires = self.expiration_policy.duration().map(|d| now + d);
    }

    /// Whether the object is expired at `now` (its deadline is strictly earlier).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.time_expires.is_some_and(|t| t < now)
    }

    /// Records a `Content-Encoding` value as another API receives it (any value): exactly
    /// `zstd` or `gzip` become `compression`, anything else is kept verbatim in
    /// `content_encoding`.
    pub fn set_content_encoding(&mut self, value: &str) {
        match value.parse::<Compression>() {
            Ok(compression) => {
                self.compression = Some(compression);
                self.content_encoding = None;
            }
            Err(_) => {
                self.compression = None;
                self.content_encoding = Some(value.to_owned());
            }
        }
    }

    /// The `Content-Encoding` a response carries: the compression, else the verbatim value.
    pub fn content_encoding_header(&self) -> Option<&str> {
        self.compression
            .as_ref()
            .map(Compression::as_str)
            .or(self.content_encoding.as_deref())
    }

    /// The `ETag` a response carries: the stored etag in double quotes.
    pub fn quoted_etag(&self) -> Option<String> {
        self.etag.as_ref().map(|e| format!("\"{e}\""))
    }

    /// Emits the response headers of a GET/HEAD (lowercase names).
    pub fn to_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(8 + self.custom.len());
        self.write_headers(&mut h);
        h
    }

    /// Writes the headers of [`Metadata::to_headers`] into `h` (replacing values of the same
    /// names), e.g. straight into a response's map without an intermediate one.
    pub fn write_headers(&self, h: &mut HeaderMap) {
        let ct = HeaderValue::from_str(&self.content_type)
            .unwrap_or_else(|_| HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
        h.insert(CONTENT_TYPE, ct);
        if let Some(c) = self.compression {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static(c.as_str()));
        } else if let Some(value) = verbatim(self.content_encoding.as_deref()) {
            h.insert(CONTENT_ENCODING, value);
        }
        for (name, value) in [
            (CONTENT_LANGUAGE, &self.content_language),
            (CACHE_CONTROL, &self.cache_control),
            (EXPIRES, &self.expires),
        ] {
            if let Some(value) = verbatim(value.as_deref()) {
                h.insert(name, value);
            }
        }
        if let Some(value) = self
            .quoted_etag()
            .and_then(|e| HeaderValue::try_from(e).ok())
        {
            h.insert(ETAG, value);
        }
        if !self.expiration_policy.is_manual() {
            insert_str(h, HEADER_EXPIRATION, &self.expiration_policy.to_string());
        }
        if let Some(t) = self.time_created {
            insert_named(h, TIME_CREATED, time::format_into(t, &mut [0; 20]));
        }
        if let Some(t) = self.time_expires {
            insert_named(h, TIME_EXPIRES, time::format_into(t, &mut [0; 20]));
        }
        if let Some(o) = &self.origin {
            insert_str(h, HEADER_ORIGIN, &encode_free_form(o));
        }
        if let Some(f) = &self.filename {
            insert_str(h, HEADER_FILENAME, &encode_free_form(f));
        }
        let disposition = verbatim(self.content_disposition.as_deref())
            .or_else(|| self.filename.as_deref().and_then(content_disposition));
        if let Some(cd) = disposition {
            h.insert(CONTENT_DISPOSITION, cd);
        }
        for (k, v) in &self.custom {
            if let Ok(name) = HeaderName::from_bytes(format!("{CUSTOM_PREFIX}{k}").as_bytes())
                && let Ok(value) = HeaderValue::from_str(&encode_free_form(v))
            {
                h.insert(name, value);
            }
        }
        if let Some(size) = self.size {
            insert_named(h, SIZE, decimal(size, &mut [0; 20]));
        }
    }
}

/// `n` in decimal, written into `buf` (`HeaderValue::from(u64)` allocates twice).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[start..]).unwrap_or_default()
}

/// The names of the headers on every response, parsed once (`HeaderName::from_static` at
/// run time checks the name against the standard ones on every call).
const TIME_CREATED: HeaderName = HeaderName::from_static(HEADER_TIME_CREATED);
const TIME_EXPIRES: HeaderName = HeaderName::from_static(HEADER_TIME_EXPIRES);
const SIZE: HeaderName = HeaderName::from_static(HEADER_SIZE);

/// Inserts a header whose value the server formatted (one allocation: the value's bytes).
fn insert_named(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// A stored verbatim value as a header value (left out when it cannot be one).
fn verbatim(value: Option<&str>) -> Option<HeaderValue> {
    value.and_then(|v| HeaderValue::from_str(v).ok())
}

fn insert_str(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// Bytes escaped in the RFC 8187 `filename*` parameter: everything but attr-char.
const ATTR_ESCAPES: &AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="…"` for a stored filename (docs/http-api.md §6.8): `/` and `\` become
/// `-`, an all-dots name has every dot replaced, `"` is escaped, non-ASCII and controls become
/// `_` in the fallback, and a non-ASCII name adds `filename*=UTF-8''…`.
pub fn content_disposition(filename: &str) -> Option<HeaderValue> {
    let mut fallback: String = filename
        .chars()
        .map(|c| match c {
            '/' | '\\' => '-',
            c if !c.is_ascii() || c.is_ascii_control() => '_',
            c => c,
        })
        .collect();
    if !fallback.is_empty() && fallback.chars().all(|c| c == '.') {
        fallback = "-".repeat(fallback.len());
    }
    let fallback = fallback.replace('"', "\\\"");
    let mut value = format!("attachment; filename=\"{fallback}\"");
    if !filename.is_ascii() {
        value.push_str("; filename*=UTF-8''");
        value.push_str(&percent_encoding::utf8_percent_encode(filename, ATTR_ESCAPES).to_string());
    }
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod standard_headers_tests;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn parses_all_client_headers() {
        let m = Metadata::from_headers(&headers(&[
            ("content-type", "text/plain; charset=utf-8"),
            ("content-encoding", "zstd"),
            ("x-sn-expiration", "tti:1 days"),
            ("x-sn-origin", "10.0.0.1"),
            ("x-sn-filename", "r%C3%A9port-%F0%9F%93%84.pdf"),
            ("x-snme-note", "100%25 done"),
            ("x-sn-time-created", "garbage is ignored"),
            ("x-sn-size", "12"),
            ("authorization", "Bearer ignored"),
        ]))
        .unwrap();
        assert_eq!(m.content_type, "text/plain; charset=utf-8");
        assert_eq!(m.compression, Some(Compression::Zstd));
        assert_eq!(
            m.expiration_policy,
            ExpirationPolicy::TimeToIdle(Duration::from_secs(86_400))
        );
        assert_eq!(m.filename.as_deref(), Some("réport-📄.pdf"));
        assert_eq!(m.custom["note"], "100% done");
        assert_eq!(m.time_created, None);
        assert_eq!(m.size, None);
    }

    #[test]
    fn rejects_bad_headers_naming_them() {
        for (k, v) in [
            ("content-type", "not a type"),
            ("content-encoding", "identity"),
            ("content-encoding", ""),
            ("x-sn-expiration", "ttl:"),
            ("x-sn-filename", "%FF%FE"),
            ("x-snme-", "x"),
        ] {
            let err = Metadata::from_headers(&headers(&[(k, v)])).unwrap_err();
            assert_eq!(err.header, k, "{k}: {v}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            "x-sn-origin",
            HeaderValue::from_bytes("Ünknown".as_bytes()).unwrap(),
        );
        assert!(Metadata::from_headers(&h).is_err());
    }

    #[test]
    fn emits_lowercase_and_escaped() {
        let mut m = Metadata {
            compression: Some(Compression::Gzip),
            expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(30)),
            origin: Some("Ünknown-源".into()),
            filename: Some("a\"b/c.txt".into()),
            size: Some(22),
            ..Metadata::default()
        };
        m.custom.insert("release".into(), "vérsion-1.0-🚀".into());
        m.stamp(time::from_unix_secs(1_700_000_000));
        let h = m.to_headers();
        assert!(
            h.keys()
                .all(|k| k.as_str() == k.as_str().to_ascii_lowercase())
        );
        assert_eq!(h["x-sn-expiration"], "ttl:30s");
        assert_eq!(h["x-sn-time-created"], "2023-11-14T22:13:20Z");
        assert_eq!(h["x-sn-time-expires"], "2023-11-14T22:13:50Z");
        assert_eq!(h["x-sn-origin"], "%C3%9Cnknown-%E6%BA%90");
        assert_eq!(h["content-encoding"], "gzip");
        assert_eq!(h["x-sn-size"], "22");
        assert_eq!(
            h["content-disposition"],
            "attachment; filename=\"a\\\"b-c.txt\""
        );
    }

    #[test]
    fn content_disposition_rules() {
        let cd = |f: &str| content_disposition(f).unwrap().to_str().unwrap().to_owned();
        assert_eq!(cd(".."), "attachment; filename=\"--\"");
        assert_eq!(cd("a\\b"), "attachment; filename=\"a-b\"");
        assert_eq!(
            cd("réport 📄.pdf"),
            "attachment; filename=\"r_port _.pdf\"; filename*=UTF-8''r%C3%A9port%20%F0%9F%93%84.pdf"
        );
    }

    #[test]
    fn manual_policy_is_not_emitted() {
        let h = Metadata::default().to_headers();
        assert!(!h.contains_key("x-sn-expiration"));
        assert_eq!(h["content-type"], DEFAULT_CONTENT_TYPE);
    }

    #[test]
    fn sizes_are_written_in_decimal() {
        for n in [0, 7, 10, 1024, 1 << 40, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string());
        }
    }

    fn free_text() -> impl Strategy<Value = String> {
        "\\PC{0,24}|[\\x00-\\x7f]{0,24}"
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(3), ..ProptestConfig::default() })]

        #[test]
        fn header_codec_round_trips(
            origin in proptest::option::of(free_text()),
            filename in proptest::option::of(free_text()),
            custom in proptest::collection::btree_map("[a-z0-9-]{1,10}", free_text(), 0..4),
            ttl in proptest::option::of(0u64..10_000_000),
            zstd in any::<bool>(),
        ) {
            let m = Metadata {
                origin,
                filename,
                custom,
                compression: zstd.then_some(Compression::Zstd),
                expiration_policy: ttl.map_or(ExpirationPolicy::Manual, |s| ExpirationPolicy::TimeToLive(Duration::from_secs(s))),
                ..Metadata::default()
            };
            let back = Metadata::from_headers(&m.to_headers()).unwrap();
            prop_assert_eq!(back, m);
        }

        #[test]
        fn storage_json_round_trips(secs in 0u64..4_000_000_000, size in proptest::option::of(any::<u64>())) {
            let mut m = Metadata { size, expiration_policy: ExpirationPolicy::TimeToIdle(Duration::from_secs(60)), ..Metadata::default() };
            m.stamp(time::from_unix_secs(secs));
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<Metadata>(&json).unwrap(), m);
        }
    }
}
