//! `PutObject`, `GetObject`, `HeadObject`.
//!
//! * **PUT**: options without a counterpart are refused (`NotImplemented`); `If-None-Match:
//!   *` and `If-Match` make it a conditional write, atomic in the engine
//!   ([`crate::conditions::write_precondition`]: 412 `PreconditionFailed`, 409
//!   `ConditionalRequestConflict`); metadata is mapped ([`crate::metadata`]) and checked
//!   against the usecase's expiration rules; the body streams to the engine through the
//!   checksum verifier ([`crate::checksum`]): a mismatch stores nothing. The response
//!   carries the object's ETag (read back) and the checksum computed over the body.
//! * **GET** / **HEAD**: ranges `a-b`, `a-`, `-n` (416 `InvalidRange` with
//!   `Content-Range: bytes */<size>` when unsatisfiable), then the conditions
//!   ([`crate::conditions`]), evaluated before the range as RFC 9110 orders them. GET bodies
//!   stream from the engine, metered. `partNumber` needs stored part boundaries: refused.

use objectstore_service::backend::GetResponse;
use objectstore_service::stream::PayloadStream;
use objectstore_types::range::ByteRange;
use objectstore_types::{ContentRange, Metadata, ObjectId, Permission};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::{ChecksumFields, check_version};
use crate::body::blob;
use crate::conditions::{Conditions, write_precondition};
use crate::errors::{invalid_argument, not_implemented, service_error};
use crate::handler::Handler;
use crate::metadata::{ObjectHeaders, last_modified};

/// `PUT /<bucket>/<key>`.
pub async fn put_object(
    handler: &Handler,
    mut req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let input = &req.input;
    let id = handler
        .object(&req, &input.bucket, &input.key, Permission::Write)
        .await?;
    let precondition = write_precondition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    refuse_write_options!(input)?;
    let metadata = write_fields!(input).into_metadata(&req.headers)?;
    handler
        .hooks
        .check_policy(&id.context, &metadata.expiration_policy)
        .map_err(invalid_argument)?;
    let blob = req.input.body.take();
    let (body, computed) = super::write_body(handler, &req, blob, &id.context)?;
    let stored = handler
        .service
        .put_if(id, metadata, body, precondition)
        .await
        .map_err(service_error)?;
    let checksums = ChecksumFields::from(&computed.get());
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(crate::metadata::etag(&stored)),
        checksum_crc32: checksums.crc32,
        checksum_crc32c: checksums.crc32c,
        checksum_crc64nvme: checksums.crc64nvme,
        checksum_sha1: checksums.sha1,
        checksum_sha256: checksums.sha256,
        ..PutObjectOutput::default()
    }))
}

/// The engine's range for an S3 `Range`.
pub fn byte_range(range: &Range) -> ByteRange {
    match *range {
        Range::Int {
            first,
            last: Some(last),
        } => ByteRange::Bounded(first, last),
        Range::Int { first, last: None } => ByteRange::From(first),
        Range::Suffix { length } => ByteRange::Suffix(length),
    }
}

/// 416 with the size, as S3 answers an unsatisfiable range.
fn range_not_satisfiable(size: u64) -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::InvalidRange,
        "The requested range is not satisfiable",
    );
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("bytes */{size}")) {
        headers.insert(http::header::CONTENT_RANGE, v);
    }
    e.set_headers(headers);
    e
}

fn no_such_key() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
}

fn refuse_read_options(
    part_number: Option<i32>,
    version_id: Option<&String>,
    sse: bool,
) -> S3Result<()> {
    check_version(version_id)?;
    if part_number.is_some() {
        return Err(not_implemented(
            "GET/HEAD by partNumber needs stored part boundaries (not kept by the engine)",
        ));
    }
    if sse {
        return Err(not_implemented("server-side encryption is not supported"));
    }
    Ok(())
}

/// What a GET or HEAD serves, before it becomes an S3 output: the stored object's
/// headers, the served range (when a `Range` was given), the length of what is served and,
/// for a GET, the body (metered).
pub struct Served {
    /// The object's response headers.
    pub headers: ObjectHeaders,
    /// The served range, when the request had a `Range`.
    pub content_range: Option<ContentRange>,
    /// Bytes served: the range's length, else the object's size.
    pub length: u64,
    /// The body of a GET; `None` for a HEAD.
    pub body: Option<PayloadStream>,
}

/// The engine side of `GetObject` (`with_body`) and `HeadObject`, shared by s3s's path and
/// the plain-read path ([`crate::fast`]): the read, then the conditions, then the range, as
/// RFC 9110 orders them.
pub async fn read(
    handler: &Handler,
    id: ObjectId,
    range: Option<ByteRange>,
    conditions: &Conditions<'_>,
    with_body: bool,
) -> S3Result<Served> {
    if !with_body {
        let metadata: Metadata = handler
            .service
            .head(id)
            .await
            .map_err(service_error)?
            .ok_or_else(no_such_key)?;
        let headers = ObjectHeaders::of(&metadata);
        conditions.check_read(&headers.e_tag, last_modified(&metadata))?;
        let content_range = match range {
            None => None,
            Some(r) => Some(
                r.resolve(headers.size)
                    .ok_or_else(|| range_not_satisfiable(headers.size))?,
            ),
        };
        let length = content_range.map_or(headers.size, |r| r.len());
        return Ok(Served {
            headers,
            content_range,
            length,
            body: None,
        });
    }
    let context = id.context.clone();
    let response = handler
        .service
        .get(id, range)
        .await
        .map_err(service_error)?;
    let (metadata, content_range, body) = match response {
        GetResponse::NotFound => return Err(no_such_key()),
        GetResponse::RangeNotSatisfiable(metadata) => {
            let headers = ObjectHeaders::of(&metadata);
            conditions.check_read(&headers.e_tag, last_modified(&metadata))?;
            return Err(range_not_satisfiable(headers.size));
        }
        GetResponse::Found {
            metadata,
            range,
            body,
        } => (metadata, range, body),
    };
    let headers = ObjectHeaders::of(&metadata);
    conditions.check_read(&headers.e_tag, last_modified(&metadata))?;
    let length = content_range.map_or(headers.size, |r| r.len());
    Ok(Served {
        headers,
        content_range,
        length,
        body: Some(handler.hooks.meter(&context, body)),
    })
}

/// The steps `GetObject` and `HeadObject` share on their inputs' fields: the options
/// refused, the object's id, then [`read`].
macro_rules! serve_read {
    ($handler:expr, $req:expr, $with_body:expr) => {{
        let input = &$req.input;
        refuse_read_options(
            input.part_number,
            input.version_id.as_ref(),
            input.sse_customer_algorithm.is_some(),
        )?;
        let id = $handler
            .object(&$req, &input.bucket, &input.key, Permission::Read)
            .await?;
        let range = input.range.as_ref().map(byte_range);
        read($handler, id, range, &conditions!(read input), $with_body).await?
    }};
}

/// The S3 response of a read: the fields `GetObjectOutput` and `HeadObjectOutput` share
/// (plus `$field: $value`), the extra headers beside them.
macro_rules! read_response {
    ($output:ident, $served:expr $(, $field:ident: $value:expr)*) => {{
        let Served {
            headers,
            content_range,
            length,
            ..
        } = $served;
        let output = $output {
            accept_ranges: Some("bytes".into()),
            content_length: i64::try_from(length).ok(),
            content_range: content_range.map(|r| r.to_string()),
            content_type: Some(headers.content_type),
            content_encoding: headers.content_encoding,
            content_disposition: headers.content_disposition,
            content_language: headers.content_language,
            cache_control: headers.cache_control,
            e_tag: Some(headers.e_tag),
            last_modified: headers.last_modified,
            metadata: headers.metadata,
            $($field: $value,)*
            ..$output::default()
        };
        let mut response = S3Response::new(output);
        response.headers = headers.extra;
        response
    }};
}

/// `GET /<bucket>/<key>`.
pub async fn get_object(
    handler: &Handler,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let mut served = serve_read!(handler, req, true);
    let body = served.body.take().map(|body| blob(body, served.length));
    Ok(read_response!(GetObjectOutput, served, body: body))
}

/// `HEAD /<bucket>/<key>` (a `Range` is honoured as S3 does: 206 with `Content-Range`).
pub async fn head_object(
    handler: &Handler,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let served = serve_read!(handler, req, false);
    let partial = served.content_range.is_some();
    let mut response = read_response!(HeadObjectOutput, served);
    if partial {
        response.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(response)
}
