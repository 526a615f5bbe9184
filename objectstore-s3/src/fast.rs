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
//! A plain read runs the same operation code as through s3s
//! ([`crate::ops::objects::get_object`] / [`crate::ops::objects::head_object`], with an input
//! of only the bucket and key), and its output becomes the headers s3s writes for those
//! fields. Every other request, including one whose signature this path cannot accept, goes
//! through s3s unchanged, so errors are named the same way. The tests in
//! `tests/fast_path.rs` compare the two paths' responses.

use std::time::SystemTime;

use base64::Engine as _;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use s3s::dto::{GetObjectInput, HeadObjectInput, Timestamp};
use s3s::{S3Request, S3Result};

use crate::auth::Authority;
use crate::handler::Handler;
use crate::mapping::is_bucket_name;
use crate::ops::objects::{get_object, head_object};

/// Longest S3 key (bytes).
const MAX_KEY: usize = 1024;

/// A plain read (module docs), ready to run.
#[derive(Debug)]
pub struct PlainRead {
    head: bool,
    bucket: String,
    key: String,
    credentials: Option<s3s::auth::Credentials>,
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
    parts.headers.contains_key(http::header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

impl PlainRead {
    /// The request as a plain read, or `None` when s3s has to handle it (module docs).
    pub fn of(
        parts: &Parts,
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
        Some(Self {
            head,
            bucket: bucket.to_owned(),
            key: key.into_owned(),
            credentials,
        })
    }

    /// The operation's name, for metrics.
    pub fn operation(&self) -> &'static str {
        if self.head { "HeadObject" } else { "GetObject" }
    }

    /// Runs the operation; the response as s3s would have written it.
    pub async fn serve(self, handler: &Handler, parts: Parts) -> S3Result<Response<s3s::Body>> {
        let Self {
            head,
            bucket,
            key,
            credentials,
        } = self;
        let request = S3Request {
            input: (),
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            extensions: http::Extensions::new(),
            credentials,
            region: None,
            service: None,
            trailing_headers: None,
        };
        if head {
            let input = |()| HeadObjectInput {
                bucket,
                key,
                ..HeadObjectInput::default()
            };
            let output = head_object(handler, request.map_input(input)).await?;
            let mut response = Response::new(s3s::Body::empty());
            write_head(&mut response, fields!(output.output))?;
            Ok(finish(response, output.status, output.headers))
        } else {
            let input = |()| GetObjectInput {
                bucket,
                key,
                ..GetObjectInput::default()
            };
            let mut output = get_object(handler, request.map_input(input)).await?;
            let body = output.output.body.take().map(s3s::Body::from);
            let mut response = Response::new(body.unwrap_or_default());
            write_head(&mut response, fields!(output.output))?;
            Ok(finish(response, output.status, output.headers))
        }
    }
}

/// The response headers of a read's output (the same fields for `GetObject` and
/// `HeadObject`).
#[derive(Clone, Copy)]
struct Fields<'a> {
    accept_ranges: Option<&'a str>,
    cache_control: Option<&'a str>,
    content_disposition: Option<&'a str>,
    content_encoding: Option<&'a str>,
    content_language: Option<&'a str>,
    content_length: Option<i64>,
    content_range: Option<&'a str>,
    content_type: Option<&'a str>,
    e_tag: Option<&'a s3s::dto::ETag>,
    last_modified: Option<&'a Timestamp>,
    metadata: Option<&'a std::collections::HashMap<String, String>>,
}

macro_rules! fields {
    ($output:expr) => {
        Fields {
            accept_ranges: $output.accept_ranges.as_deref(),
            cache_control: $output.cache_control.as_deref(),
            content_disposition: $output.content_disposition.as_deref(),
            content_encoding: $output.content_encoding.as_deref(),
            content_language: $output.content_language.as_deref(),
            content_length: $output.content_length,
            content_range: $output.content_range.as_deref(),
            content_type: $output.content_type.as_deref(),
            e_tag: $output.e_tag.as_ref(),
            last_modified: $output.last_modified.as_ref(),
            metadata: $output.metadata.as_ref(),
        }
    };
}
use fields;

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> s3s::S3Error {
    s3s::S3Error::internal_error(e)
}

fn write_head(response: &mut Response<s3s::Body>, f: Fields<'_>) -> S3Result<()> {
    if f.content_range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let headers = response.headers_mut();
    let mut text = |name: HeaderName, value: Option<&str>| -> S3Result<()> {
        if let Some(value) = value {
            headers.insert(name, HeaderValue::from_str(value).map_err(internal)?);
        }
        Ok(())
    };
    use http::header;
    text(header::ACCEPT_RANGES, f.accept_ranges)?;
    text(header::CACHE_CONTROL, f.cache_control)?;
    text(header::CONTENT_DISPOSITION, f.content_disposition)?;
    text(header::CONTENT_ENCODING, f.content_encoding)?;
    text(header::CONTENT_LANGUAGE, f.content_language)?;
    text(header::CONTENT_RANGE, f.content_range)?;
    text(header::CONTENT_TYPE, f.content_type)?;
    if let Some(length) = f.content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Some(tag) = f.e_tag {
        headers.insert(header::ETAG, tag.to_http_header().map_err(internal)?);
    }
    if let Some(t) = f.last_modified {
        // The IMF-fixdate s3s writes, of a whole-second time (`Metadata::time_created`).
        let time = SystemTime::from(time::OffsetDateTime::from(t.clone()));
        let value = HeaderValue::from_str(&httpdate::fmt_http_date(time)).map_err(internal)?;
        headers.insert(header::LAST_MODIFIED, value);
    }
    for (name, value) in f.metadata.into_iter().flatten() {
        let name =
            HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()).map_err(internal)?;
        let value = HeaderValue::from_str(&encoded_word(value)).map_err(internal)?;
        headers.insert(name, value);
    }
    Ok(())
}

/// The operation's own status and extra headers, as s3s applies them.
fn finish(
    mut response: Response<s3s::Body>,
    status: Option<StatusCode>,
    extra: HeaderMap,
) -> Response<s3s::Body> {
    response.headers_mut().extend(extra);
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    response
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
            .map(|r| (r.head, r.bucket, r.key))
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
