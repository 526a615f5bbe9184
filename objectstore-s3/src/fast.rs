//! The lean path of the two hottest operations: plain `GetObject` and `HeadObject`.
//!
//! s3s turns every request into a typed input (every header and query parameter an
//! operation may take is looked up), checks its signature (deriving the signing key anew
//! each time) and writes a typed output back as headers; on a 1 KiB GET that is most of
//! the S3 front's work (`docs/benchmarks/s3-front.md`). A *plain* read, the kind S3 clients
//! send for nearly every download, needs none of it. A request is plain when:
//!
//! 1. its method is `GET` or `HEAD`, over HTTP/1.1, path style (no
//!    `s3.virtual_host_domain`), without a query string or a body;
//! 2. its path is `/<bucket>/<key>`: a bucket name, and a key that percent-decodes to UTF-8,
//!    is at most 1024 bytes and has no empty segment (s3s would refuse or normalize those);
//! 3. no header changes the answer: no `Range`, no `If-*`, no `x-amz-*` besides
//!    `x-amz-date`, `x-amz-content-sha256` and `x-amz-user-agent` (so no checksum mode,
//!    SSE-C key, request payer, expected bucket owner or session token);
//! 4. zero-config (no credentials: served whatever it is signed with, as through s3s), or
//!    signed in its headers and accepted by [`Authority::verify_plain_v4`].
//!
//! A plain read runs the same engine code as through s3s ([`crate::ops::objects::read`],
//! without a range or conditions), and writes the headers s3s writes for the same
//! `GetObjectOutput` / `HeadObjectOutput` fields straight from the object's
//! [`crate::metadata::ObjectHeaders`]; a GET's body is the engine's stream itself
//! ([`crate::body::Outgoing::Engine`]). Every other request, including one whose signature
//! this path cannot accept, goes through s3s unchanged, so errors are named the same way. The
//! tests in `tests/fast_path.rs` compare the two paths' responses.

use std::borrow::Cow;
use std::time::SystemTime;

use base64::Engine as _;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use s3s::S3Result;
use s3s::auth::Credentials;

use crate::auth::Authority;
use crate::body::Outgoing;
use crate::conditions::Conditions;
use crate::handler::{Caller, DOWNSTREAM_SERVICE_HEADER, Handler};
use crate::mapping::is_bucket_name;
use crate::ops::objects::{Served, read};

/// Longest S3 key (bytes).
const MAX_KEY: usize = 1024;

/// A plain read (module docs), ready to run; borrows the request's head.
#[derive(Debug)]
pub struct PlainRead<'a> {
    head: bool,
    bucket: &'a str,
    key: Cow<'a, str>,
    credentials: Option<Credentials>,
    downstream_service: Option<&'a str>,
}

/// Whether a header leaves a read plain (step 3).
fn neutral_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    if name == "range" || name.starts_with("if-") {
        return false;
    }
    !name.starts_with("x-amz-")
        || matches!(
            name,
            "x-amz-date" | "x-amz-content-sha256" | "x-amz-user-agent"
        )
}

fn has_body(parts: &Parts) -> bool {
    parts.headers.contains_key(header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

impl<'a> PlainRead<'a> {
    /// The request as a plain read, or `None` when s3s has to handle it (module docs).
    pub fn of(
        parts: &'a Parts,
        authority: &Authority,
        path_style_only: bool,
        now: SystemTime,
    ) -> Option<Self> {
        let head = match parts.method {
            Method::GET => false,
            Method::HEAD => true,
            _ => return None,
        };
        if !path_style_only
            || parts.version != http::Version::HTTP_11
            || parts.uri.query().is_some()
            || has_body(parts)
            || !parts.headers.keys().all(neutral_header)
        {
            return None;
        }
        let (bucket, key) = parts.uri.path().strip_prefix('/')?.split_once('/')?;
        let key = percent_encoding::percent_decode_str(key)
            .decode_utf8()
            .ok()?;
        if !is_bucket_name(bucket)
            || key.is_empty()
            || key.len() > MAX_KEY
            || key.split('/').any(str::is_empty)
        {
            return None;
        }
        let credentials = if authority.is_open() {
            None
        } else {
            Some(authority.verify_plain_v4(parts, now)?)
        };
        let downstream_service = parts
            .headers
            .get(DOWNSTREAM_SERVICE_HEADER)
            .and_then(|v| v.to_str().ok());
        Some(Self {
            head,
            bucket,
            key,
            credentials,
            downstream_service,
        })
    }

    /// The operation's name, for metrics.
    pub fn operation(&self) -> &'static str {
        if self.head { "HeadObject" } else { "GetObject" }
    }

    /// Runs the operation ([`crate::ops::objects::read`], as s3s's path does); the
    /// response as s3s would have written it.
    pub async fn serve(&self, handler: &Handler) -> S3Result<Response<Outgoing>> {
        let caller = Caller {
            credentials: self.credentials.as_ref(),
            downstream_service: self.downstream_service,
        };
        let id = handler
            .object_for(
                caller,
                self.bucket,
                &self.key,
                objectstore_types::Permission::Read,
            )
            .await?;
        let served = read(handler, id, None, &Conditions::default(), !self.head).await?;
        respond(served)
    }
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> s3s::S3Error {
    s3s::S3Error::internal_error(e)
}

/// The response s3s writes for a `GetObjectOutput` / `HeadObjectOutput` with these fields:
/// the same headers, one by one, then the operation's extra headers.
fn respond(served: Served) -> S3Result<Response<Outgoing>> {
    let Served {
        headers: object,
        content_range,
        length,
        body,
    } = served;
    let mut headers = HeaderMap::with_capacity(16);
    let mut text = |name: HeaderName, value: Option<String>| -> S3Result<()> {
        if let Some(value) = value {
            headers.insert(name, HeaderValue::try_from(value).map_err(internal)?);
        }
        Ok(())
    };
    text(header::CACHE_CONTROL, object.cache_control)?;
    text(header::CONTENT_DISPOSITION, object.content_disposition)?;
    text(header::CONTENT_ENCODING, object.content_encoding)?;
    text(header::CONTENT_LANGUAGE, object.content_language)?;
    text(header::CONTENT_RANGE, content_range.map(|r| r.to_string()))?;
    text(header::CONTENT_TYPE, Some(object.content_type))?;
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::ETAG,
        object.e_tag.to_http_header().map_err(internal)?,
    );
    if let Some(t) = object.last_modified {
        // The IMF-fixdate s3s writes, of a whole-second time (`Metadata::time_created`).
        let time = SystemTime::from(time::OffsetDateTime::from(t));
        let value = HeaderValue::from_str(&httpdate::fmt_http_date(time)).map_err(internal)?;
        headers.insert(header::LAST_MODIFIED, value);
    }
    for (name, value) in object.metadata.into_iter().flatten() {
        let name =
            HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()).map_err(internal)?;
        let value = HeaderValue::from_str(&encoded_word(&value)).map_err(internal)?;
        headers.insert(name, value);
    }
    headers.extend(object.extra);
    let body = match body {
        // A GET: hyper writes `Content-Length` from the body's exact size.
        Some(stream) => Outgoing::Engine {
            stream,
            remaining: length,
        },
        None => {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            Outgoing::S3s(s3s::Body::empty())
        }
    };
    let mut response = Response::new(body);
    *response.headers_mut() = headers;
    if content_range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

/// A metadata value as s3s writes it: verbatim when it is printable ASCII, else as RFC 2047
/// `=?UTF-8?B?...?=` words (one when it fits in 75 characters, else words of at most 45
/// bytes, split between characters, joined by spaces).
fn encoded_word(value: &str) -> std::borrow::Cow<'_, str> {
    const WORD: usize = 75;
    const WRAP: usize = "=?UTF-8?B??=".len();
    const CHUNK: usize = (WORD - WRAP) / 4 * 3;
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return value.into();
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    if (value.len() * 4).div_ceil(3) + WRAP <= WORD {
        return format!("=?UTF-8?B?{}?=", b64.encode(value)).into();
    }
    let mut words = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut end = CHUNK.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (word, tail) = rest.split_at(end);
        words.push(format!("=?UTF-8?B?{}?=", b64.encode(word)));
        rest = tail;
    }
    words.join(" ").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).expect("a request").into_parts().0
    }

    fn plain(p: &Parts) -> Option<(bool, String, String)> {
        PlainRead::of(p, &Authority::Open, true, SystemTime::now())
            .map(|r| (r.head, r.bucket.to_owned(), r.key.into_owned()))
    }

    #[test]
    fn plain_reads_are_recognised() {
        let get = parts(Method::GET, "/bucket/org=1/a%20b.txt", &[("host", "x")]);
        assert_eq!(
            plain(&get),
            Some((false, "bucket".into(), "org=1/a b.txt".into()))
        );
        let head = parts(
            Method::HEAD,
            "/bucket/k",
            &[("x-amz-date", "20260101T000000Z"), ("user-agent", "boto3")],
        );
        assert_eq!(plain(&head), Some((true, "bucket".into(), "k".into())));
    }

    #[test]
    fn everything_else_goes_to_s3s() {
        let put = parts(Method::PUT, "/bucket/k", &[]);
        assert_eq!(plain(&put), None);
        let long = format!("/bucket/{}", "k".repeat(1025));
        for uri in [
            "/bucket/k?acl",
            "/bucket/k?x-id=GetObject",
            "/bucket",
            "/bucket/",
            "/b/k",
            "/bucket/a//b",
            "/bucket/%ff",
            &long,
        ] {
            assert_eq!(plain(&parts(Method::GET, uri, &[])), None, "{uri}");
        }
        for header in [
            ("range", "bytes=0-1"),
            ("if-none-match", "*"),
            ("x-amz-checksum-mode", "ENABLED"),
            ("x-amz-security-token", "t"),
            ("content-length", "3"),
            ("transfer-encoding", "chunked"),
        ] {
            let p = parts(Method::GET, "/bucket/k", &[header]);
            assert_eq!(plain(&p), None, "{header:?}");
        }
        let get = parts(Method::GET, "/bucket/k", &[]);
        assert!(PlainRead::of(&get, &Authority::Open, false, SystemTime::now()).is_none());
    }

    #[test]
    fn metadata_values_are_encoded_as_s3s_encodes_them() {
        assert_eq!(encoded_word("plain value"), "plain value");
        assert_eq!(encoded_word("é"), "=?UTF-8?B?w6k=?=");
        // 47 bytes fit in one word, 48 do not.
        let one = "é".repeat(23) + "a";
        assert_eq!(encoded_word(&one).split(' ').count(), 1);
        let many = "é".repeat(40);
        let words: Vec<_> = encoded_word(&many).split(' ').map(str::to_owned).collect();
        assert_eq!(words.len(), 2);
        let decoded: String = words
            .iter()
            .map(|w| {
                let inner = w
                    .strip_prefix("=?UTF-8?B?")
                    .unwrap()
                    .strip_suffix("?=")
                    .unwrap();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(inner)
                    .unwrap();
                assert!(bytes.len() <= 45);
                String::from_utf8(bytes).expect("split between characters")
            })
            .collect();
        assert_eq!(decoded, many);
        assert_eq!(encoded_word("tab\there"), "=?UTF-8?B?dGFiCWhlcmU=?=");
    }
}
