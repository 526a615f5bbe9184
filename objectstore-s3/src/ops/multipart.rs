//! Multipart uploads on the engine's multipart machinery (parts in the long-term store,
//! bounded memory, a retry-safe complete): `CreateMultipartUpload`, `UploadPart`,
//! `CompleteMultipartUpload`, `AbortMultipartUpload`, `ListParts`, `ListMultipartUploads`.
//! (`UploadPartCopy` is in [`super::copy`].)
//!
//! * Part numbers are 1 to 10 000 (else `InvalidArgument`); upload ids are the engine's
//!   opaque `[A-Za-z0-9_-]` ids (else `NoSuchUpload`), checked before they reach the engine,
//!   which also checks that an id belongs to the object.
//! * Parts carry checksums like a PUT ([`crate::checksum`]): a mismatching part is not
//!   stored. `Content-Length` is required (`MissingContentLength`).
//! * **Complete** parses the part list (s3s: `MalformedXML`, bounded size), refuses an empty
//!   one (`MalformedXML`) and a missing ETag (`InvalidPart`); with `If-None-Match: *` or
//!   `If-Match` it checks the precondition first (412 `PreconditionFailed`, the upload stays
//!   open) and the engine commits only if it still holds; then it answers `200` at once and
//!   runs the engine's complete while whitespace keeps the connection alive (as S3 does);
//!   the final document is the result or an `<Error>` with the engine's rejection code
//!   (`InvalidPart`, `InvalidPartOrder`) or the mapped error. The engine finishes the
//!   assembly even if the client goes away.
//! * Unknown or expired uploads are `NoSuchUpload`; abort of an unknown upload succeeds.

use objectstore_service::backend::{CompleteRejection, CompletedPart};
use objectstore_types::Permission;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use objectstore_service::Error as ServiceError;

use super::ChecksumFields;
use crate::conditions::write_precondition;
use crate::errors::{invalid_argument, service_error};
use crate::handler::Handler;
use crate::metadata::etag;

/// Highest part number.
pub const MAX_PART_NUMBER: i32 = 10_000;
/// Default and highest `max-parts` of `ListParts`.
pub const MAX_LIST_PARTS: i32 = 1000;

/// A part number, checked.
pub fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER.unsigned_abs()).contains(n))
        .ok_or_else(|| {
            invalid_argument(format!(
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive (got {n})"
            ))
        })
}

/// A whole-object checksum on a multipart upload: the engine keeps no per-part checksums to
/// combine.
fn complete_checksum() -> S3Error {
    crate::errors::not_implemented(
        "a checksum of the whole multipart object needs per-part checksums stored by the \
         engine; part checksums are verified on UploadPart",
    )
}

fn no_such_upload() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchUpload,
        "The specified multipart upload does not exist.",
    )
}

/// An upload id, checked (module docs).
pub fn upload_id(id: &str) -> S3Result<String> {
    let valid = !id.is_empty()
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| id.to_owned()).ok_or_else(no_such_upload)
}

/// `POST /<bucket>/<key>?uploads`.
pub async fn create(
    handler: &Handler,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = &req.input;
    let id = handler
        .object(&req, &input.bucket, &input.key, Permission::Write)
        .await?;
    refuse_write_options!(input)?;
    if input
        .checksum_type
        .as_ref()
        .is_some_and(|t| t.as_str() == ChecksumType::FULL_OBJECT)
    {
        return Err(complete_checksum());
    }
    let metadata = write_fields!(input).into_metadata(&req.headers)?;
    handler
        .hooks
        .check_policy(&id.context, &metadata.expiration_policy)
        .map_err(invalid_argument)?;
    let upload = handler
        .service
        .initiate_multipart(id, metadata)
        .await
        .map_err(service_error)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(req.input.bucket.clone()),
        key: Some(req.input.key.clone()),
        upload_id: Some(upload),
        checksum_algorithm: req.input.checksum_algorithm.clone(),
        ..CreateMultipartUploadOutput::default()
    }))
}

/// `PUT /<bucket>/<key>?partNumber=&uploadId=`.
pub async fn upload_part(
    handler: &Handler,
    mut req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let input = &req.input;
    let number = part_number(input.part_number)?;
    let upload = upload_id(&input.upload_id)?;
    let id = handler
        .object(&req, &input.bucket, &input.key, Permission::Write)
        .await?;
    if input.sse_customer_algorithm.is_some() {
        return Err(crate::errors::not_implemented(
            "server-side encryption is not supported",
        ));
    }
    // A signed aws-chunked part sent with `Transfer-Encoding: chunked` has no
    // `Content-Length`; its length is `x-amz-decoded-content-length` (which s3s enforced).
    let decoded = req
        .headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let length = input
        .content_length
        .and_then(|l| u64::try_from(l).ok())
        .or(decoded)
        .ok_or_else(|| S3Error::new(S3ErrorCode::MissingContentLength))?;
    let blob = req.input.body.take();
    let (body, computed) = super::write_body(handler, &req, blob, &id.context)?;
    let part_etag = handler
        .service
        .upload_part(id, upload, number, length, body)
        .await
        .map_err(service_error)?;
    let checksums = ChecksumFields::from(&computed.get());
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(ETag::Strong(part_etag.trim_matches('"').to_owned())),
        checksum_crc32: checksums.crc32,
        checksum_crc32c: checksums.crc32c,
        checksum_crc64nvme: checksums.crc64nvme,
        checksum_sha1: checksums.sha1,
        checksum_sha256: checksums.sha256,
        ..UploadPartOutput::default()
    }))
}

/// The S3 error of an engine rejection of a complete.
fn rejection_error(rejection: CompleteRejection) -> S3Error {
    let code = match rejection.code.as_str() {
        "InvalidPartOrder" => S3ErrorCode::InvalidPartOrder,
        "EntityTooSmall" => S3ErrorCode::EntityTooSmall,
        "NoSuchUpload" => S3ErrorCode::NoSuchUpload,
        _ => S3ErrorCode::InvalidPart,
    };
    S3Error::with_message(code, rejection.message)
}

/// `POST /<bucket>/<key>?uploadId=` (module docs).
pub async fn complete(
    handler: &Handler,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = &req.input;
    let upload = upload_id(&input.upload_id)?;
    let id = handler
        .object(&req, &input.bucket, &input.key, Permission::Write)
        .await?;
    let precondition = write_precondition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    if let Some(precondition) = &precondition {
        // Refused with a real 412 before the keep-alive response starts; the engine judges
        // the precondition again at its commit (a refusal then is an `<Error>` document).
        let current = handler
            .service
            .head(id.clone())
            .await
            .map_err(service_error)?;
        if !precondition.holds(current.as_ref(), handler.service.now()) {
            return Err(service_error(ServiceError::PreconditionFailed(format!(
                "{}: the object does not meet the complete's precondition",
                input.key
            ))));
        }
    }
    let whole_object_checksum = input.checksum_crc32.is_some()
        || input.checksum_crc32c.is_some()
        || input.checksum_crc64nvme.is_some()
        || input.checksum_sha1.is_some()
        || input.checksum_sha256.is_some();
    if whole_object_checksum {
        return Err(complete_checksum());
    }
    let listed = input
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_ref())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed: it lists no part",
            )
        })?;
    let mut parts = Vec::with_capacity(listed.len());
    for part in listed {
        let number = part_number(part.part_number.unwrap_or(0))?;
        let tag = part.e_tag.as_ref().ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidPart,
                format!("part {number} has no ETag"),
            )
        })?;
        parts.push(CompletedPart {
            part_number: number,
            etag: format!("\"{}\"", tag.value()),
        });
    }
    let service = handler.service.clone();
    let bucket = input.bucket.clone();
    let key = input.key.clone();
    let assembled = id.clone();
    let future = async move {
        let completed = service
            .complete_multipart_if(id, upload, parts, precondition)
            .await;
        match completed {
            Ok(None) => {}
            Ok(Some(rejection)) => return Err(rejection_error(rejection)),
            Err(e) => return Err(service_error(e)),
        }
        let written = service.head(assembled).await.map_err(service_error)?;
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            e_tag: written.as_ref().map(etag),
            ..CompleteMultipartUploadOutput::default()
        })
    };
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        future: Some(Box::pin(future)),
        ..CompleteMultipartUploadOutput::default()
    }))
}

/// `DELETE /<bucket>/<key>?uploadId=`: 204, also for an unknown upload.
pub async fn abort(
    handler: &Handler,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = &req.input;
    let upload = upload_id(&input.upload_id)?;
    let id = handler
        .object(&req, &input.bucket, &input.key, Permission::Write)
        .await?;
    handler
        .service
        .abort_multipart(id, upload)
        .await
        .map_err(service_error)?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

/// `GET /<bucket>/<key>?uploadId=`.
pub async fn list_parts(
    handler: &Handler,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = &req.input;
    let upload = upload_id(&input.upload_id)?;
    let id = handler
        .object(&req, &input.bucket, &input.key, Permission::Write)
        .await?;
    let max_parts = input
        .max_parts
        .unwrap_or(MAX_LIST_PARTS)
        .clamp(0, MAX_LIST_PARTS);
    let marker = match input.part_number_marker {
        None | Some(0) => None,
        Some(n) => Some(part_number(n)?),
    };
    let page = handler
        .service
        .list_parts(id, upload.clone(), Some(max_parts.unsigned_abs()), marker)
        .await
        .map_err(service_error)?;
    let parts = page
        .parts
        .into_iter()
        .map(|p| Part {
            e_tag: Some(ETag::Strong(p.etag.trim_matches('"').to_owned())),
            last_modified: Some(Timestamp::from(p.last_modified)),
            part_number: i32::try_from(p.part_number).ok(),
            size: i64::try_from(p.size).ok(),
            ..Part::default()
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(req.input.bucket.clone()),
        key: Some(req.input.key.clone()),
        upload_id: Some(upload),
        max_parts: Some(max_parts),
        part_number_marker: req.input.part_number_marker,
        is_truncated: Some(page.next_marker.is_some()),
        next_part_number_marker: page.next_marker.and_then(|m| i32::try_from(m).ok()),
        parts: Some(parts),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        ..ListPartsOutput::default()
    }))
}
