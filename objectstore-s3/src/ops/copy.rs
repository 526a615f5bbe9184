//! `CopyObject` and `UploadPartCopy`: a streaming read of the source, written to the
//! destination, with bounded memory (the body streams from the engine back into it).
//!
//! 1. The source (`x-amz-copy-source`) needs `object.read` on its bucket, the destination
//!    `object.write`; both are validated and admitted like any object.
//! 2. One GET of the source (a range for `UploadPartCopy`): its metadata and bytes are of the
//!    same revision. Missing → `NoSuchKey`; the `x-amz-copy-source-if-*` conditions are
//!    evaluated on that metadata (412 `PreconditionFailed`).
//! 3. `CopyObject`: with the `COPY` directive (default) the destination gets the source's
//!    content type, encoding, disposition, language, cache control, expires, custom
//!    metadata, origin, filename and expiration policy (the deadline restarts: the copy is a
//!    new object); `REPLACE` takes them from the
//!    request. Copying an object onto itself with `COPY` is refused (`InvalidRequest`, as in
//!    S3: it would change nothing). Then the engine's PUT of the stream, conditional when
//!    the request has `If-None-Match: *` or `If-Match` (for the destination).
//! 4. `UploadPartCopy`: `x-amz-copy-source-range: bytes=a-b` (or the whole source) streams
//!    into the part; an unsatisfiable range is 416 `InvalidRange`.

use objectstore_service::backend::GetResponse;
use objectstore_service::stream::PayloadStream;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId, Permission};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use objectstore_service::backend::Precondition;

use crate::conditions::{Conditions, write_precondition};
use crate::errors::{invalid_argument, not_implemented, service_error};
use crate::handler::Handler;
use crate::metadata::{ObjectHeaders, etag, last_modified};
use crate::ops::multipart::{part_number, upload_id};

/// The source's bucket and key, or `NotImplemented` for access points and versions.
fn source(copy_source: &CopySource) -> S3Result<(&str, &str)> {
    match copy_source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => {
            super::check_version(version_id.as_deref().map(str::to_owned).as_ref())?;
            Ok((bucket, key))
        }
        _ => Err(not_implemented(
            "access points and outposts are not supported",
        )),
    }
}

/// Step 1 of the module docs: the source (readable) and the destination (writable), both
/// validated and admitted.
async fn source_and_destination<T>(
    handler: &Handler,
    req: &S3Request<T>,
    copy_source: &CopySource,
    bucket: &str,
    key: &str,
) -> S3Result<(ObjectId, ObjectId)> {
    let (src_bucket, src_key) = source(copy_source)?;
    let src = handler
        .object(req, src_bucket, src_key, Permission::Read)
        .await?;
    let dst = handler.object(req, bucket, key, Permission::Write).await?;
    Ok((src, dst))
}

/// Step 2 of the module docs: the source's metadata and bytes.
async fn read_source(
    handler: &Handler,
    id: ObjectId,
    range: Option<ByteRange>,
    conditions: Conditions<'_>,
) -> S3Result<(Metadata, u64, PayloadStream)> {
    let response = handler
        .service
        .get(id, range)
        .await
        .map_err(service_error)?;
    match response {
        GetResponse::NotFound => Err(S3Error::with_message(
            S3ErrorCode::NoSuchKey,
            "The specified copy source does not exist.",
        )),
        GetResponse::RangeNotSatisfiable(metadata) => {
            conditions.check_copy_source(&etag(&metadata), last_modified(&metadata))?;
            Err(S3Error::with_message(
                S3ErrorCode::InvalidRange,
                "The x-amz-copy-source-range is not satisfiable",
            ))
        }
        GetResponse::Found {
            metadata,
            range,
            body,
        } => {
            conditions.check_copy_source(&etag(&metadata), last_modified(&metadata))?;
            let length = range.map_or(metadata.size.unwrap_or(0), |r| r.len());
            Ok((metadata, length, body))
        }
    }
}

/// The destination precondition of a copy: `If-Match` / `If-None-Match` headers (s3s
/// 0.14 has no fields for them on `CopyObject`; S3 accepts them as on `PutObject`).
fn copy_precondition(headers: &http::HeaderMap) -> S3Result<Option<Precondition>> {
    let parse = |name: &str| -> S3Result<Option<ETagCondition>> {
        headers
            .get(name)
            .map(|v| {
                ETagCondition::parse_http_header(v.as_bytes())
                    .map_err(|e| invalid_argument(format!("{name}: {e}")))
            })
            .transpose()
    };
    write_precondition(
        parse("if-match")?.as_ref(),
        parse("if-none-match")?.as_ref(),
    )
}

/// The metadata a `COPY` directive carries over (step 3): everything a client set, none
/// of what the engine stamps (times, size, ETag).
fn copied(source: &Metadata) -> Metadata {
    Metadata {
        content_type: source.content_type.clone(),
        compression: source.compression,
        expiration_policy: source.expiration_policy,
        origin: source.origin.clone(),
        filename: source.filename.clone(),
        custom: source.custom.clone(),
        content_encoding: source.content_encoding.clone(),
        content_disposition: source.content_disposition.clone(),
        content_language: source.content_language.clone(),
        cache_control: source.cache_control.clone(),
        expires: source.expires.clone(),
        ..Metadata::default()
    }
}

/// `PUT /<bucket>/<key>` with `x-amz-copy-source`.
pub async fn copy_object(
    handler: &Handler,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let input = &req.input;
    let (src, dst) =
        source_and_destination(handler, &req, &input.copy_source, &input.bucket, &input.key)
            .await?;
    refuse_write_options!(input)?;
    if input.copy_source_sse_customer_algorithm.is_some() || input.tagging_directive.is_some() {
        return Err(not_implemented(
            "encrypted copy sources and tagging directives are not supported",
        ));
    }
    let replace = match input
        .metadata_directive
        .as_ref()
        .map(MetadataDirective::as_str)
    {
        None | Some(MetadataDirective::COPY) => false,
        Some(MetadataDirective::REPLACE) => true,
        Some(other) => {
            return Err(invalid_argument(format!(
                "unknown metadata directive {other:?}"
            )));
        }
    };
    if src == dst && !replace {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata.",
        ));
    }
    let new_metadata = if replace {
        let m = write_fields!(input).into_metadata(&req.headers)?;
        Some(m)
    } else {
        None
    };
    let precondition = copy_precondition(&req.headers)?;
    let conditions = conditions!(copy_source input);
    let (source_metadata, _, body) = read_source(handler, src, None, conditions).await?;
    let metadata = new_metadata.unwrap_or_else(|| copied(&source_metadata));
    handler
        .hooks
        .check_policy(&dst.context, &metadata.expiration_policy)
        .map_err(invalid_argument)?;
    let body = handler.hooks.meter(&dst.context, body);
    let stored = handler
        .service
        .put_if(dst, metadata, body, precondition)
        .await
        .map_err(service_error)?;
    let headers = ObjectHeaders::of(&stored);
    let result = CopyObjectResult {
        e_tag: Some(headers.e_tag),
        last_modified: headers.last_modified,
        ..CopyObjectResult::default()
    };
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(result),
        ..CopyObjectOutput::default()
    }))
}

/// `PUT /<bucket>/<key>?partNumber=&uploadId=` with `x-amz-copy-source`.
pub async fn upload_part_copy(
    handler: &Handler,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = &req.input;
    let number = part_number(input.part_number)?;
    let upload = upload_id(&input.upload_id)?;
    let (src, dst) =
        source_and_destination(handler, &req, &input.copy_source, &input.bucket, &input.key)
            .await?;
    if input.copy_source_sse_customer_algorithm.is_some() || input.sse_customer_algorithm.is_some()
    {
        return Err(not_implemented("server-side encryption is not supported"));
    }
    let range = match input.copy_source_range.as_deref() {
        None => None,
        Some(r) => match ByteRange::parse(r) {
            Ok(Some(ByteRange::Bounded(a, b))) => Some(ByteRange::Bounded(a, b)),
            _ => {
                return Err(invalid_argument(format!(
                    "x-amz-copy-source-range {r:?} must be bytes=first-last"
                )));
            }
        },
    };
    let conditions = conditions!(copy_source input);
    let (source_metadata, length, body) = read_source(handler, src, range, conditions).await?;
    let body = handler.hooks.meter(&dst.context, body);
    let etag = handler
        .service
        .upload_part(dst, upload, number, length, body)
        .await
        .map_err(service_error)?;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(ETag::Strong(etag.trim_matches('"').to_owned())),
            last_modified: source_metadata.time_created.map(Timestamp::from),
            ..CopyPartResult::default()
        }),
        ..UploadPartCopyOutput::default()
    }))
}
