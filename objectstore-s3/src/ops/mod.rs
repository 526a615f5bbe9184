//! The operations, by resource. Shared here: request body preparation (checksums, metering),
//! the refusal of S3 options the engine has no counterpart for, and the ETag of a write.
//!
//! The write inputs of s3s (`PutObjectInput`, `CreateMultipartUploadInput`,
//! `CopyObjectInput`) are distinct types with the same field names, as are the condition
//! fields of reads and of copy sources; the macros below read those fields once for all.

/// The [`crate::metadata::WriteFields`] of a write input.
macro_rules! write_fields {
    ($input:expr) => {
        crate::metadata::WriteFields {
            content_type: $input.content_type.as_deref(),
            content_encoding: $input.content_encoding.as_deref(),
            content_disposition: $input.content_disposition.as_deref(),
            content_language: $input.content_language.as_deref(),
            cache_control: $input.cache_control.as_deref(),
            expires: $input.expires.is_some(),
            metadata: $input.metadata.as_ref(),
        }
    };
}

/// Refuses the options of a write input that the engine cannot honour (see
/// [`refuse_options`]).
macro_rules! refuse_write_options {
    ($input:expr) => {
        $crate::ops::refuse_options(&[
            (
                $crate::ops::non_private_acl($input.acl.as_ref()),
                "an object ACL other than private",
            ),
            (
                $crate::ops::non_standard_class($input.storage_class.as_ref()),
                "a storage class other than STANDARD",
            ),
            (
                $input.server_side_encryption.is_some()
                    || $input.sse_customer_algorithm.is_some()
                    || $input.ssekms_key_id.is_some(),
                "server-side encryption",
            ),
            ($input.tagging.is_some(), "object tagging"),
            (
                $input.object_lock_mode.is_some()
                    || $input.object_lock_legal_hold_status.is_some()
                    || $input.object_lock_retain_until_date.is_some(),
                "object lock",
            ),
            (
                $input.website_redirect_location.is_some(),
                "website redirects",
            ),
            (
                $input.grant_full_control.is_some()
                    || $input.grant_read.is_some()
                    || $input.grant_read_acp.is_some()
                    || $input.grant_write_acp.is_some(),
                "ACL grants",
            ),
        ])
    };
}

/// The [`crate::conditions::Conditions`] of a read (`if_*` fields) or of a copy source
/// (`copy_source_if_*` fields).
macro_rules! conditions {
    (read $input:expr) => {
        crate::conditions::Conditions {
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
        }
    };
    (copy_source $input:expr) => {
        crate::conditions::Conditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
        }
    };
}

pub mod buckets;
pub mod copy;
pub mod delete;
pub mod listing;
pub mod multipart;
pub mod objects;
pub mod uploads;

use objectstore_service::stream::PayloadStream;
use objectstore_types::ObjectContext;
use s3s::dto::StreamingBlob;
use s3s::{S3Request, S3Result};

use crate::body::payload;
use crate::checksum::{Algorithm, Computed, ComputedHandle, Expected, Trailers, verify};
use crate::chunked::OwnTrailers;
use crate::errors::not_implemented;
use crate::handler::Handler;

/// Refuses a request that sets an option the engine has no counterpart for (ACLs other
/// than `private`, storage classes other than `STANDARD`, encryption, tagging, object lock,
/// redirects): `NotImplemented`, never silently ignored.
pub fn refuse_options(options: &[(bool, &str)]) -> S3Result<()> {
    match options.iter().find(|(present, _)| *present) {
        Some((_, what)) => Err(not_implemented(format!("{what} is not supported"))),
        None => Ok(()),
    }
}

/// Whether a canned ACL is something other than the default `private`.
pub fn non_private_acl(acl: Option<&s3s::dto::ObjectCannedACL>) -> bool {
    acl.is_some_and(|a| a.as_str() != s3s::dto::ObjectCannedACL::PRIVATE)
}

/// Whether a storage class is something other than `STANDARD`.
pub fn non_standard_class(class: Option<&s3s::dto::StorageClass>) -> bool {
    class.is_some_and(|c| c.as_str() != s3s::dto::StorageClass::STANDARD)
}

/// Objects are not versioned: only the version id `null` (the one every object of an
/// unversioned bucket has) is accepted.
pub fn check_version(version_id: Option<&String>) -> S3Result<()> {
    match version_id {
        Some(v) if v != "null" => Err(not_implemented("object versions are not supported")),
        _ => Ok(()),
    }
}

/// The request body of a write, verified against the checksums the client sent and metered
/// for `context`'s bandwidth limits.
pub fn write_body<T>(
    handler: &Handler,
    req: &S3Request<T>,
    blob: Option<StreamingBlob>,
    context: &ObjectContext,
) -> S3Result<(PayloadStream, ComputedHandle)> {
    let trailers = match &req.trailing_headers {
        Some(t) => Some(Trailers::S3s(t.clone())),
        None => req
            .extensions
            .get::<OwnTrailers>()
            .cloned()
            .map(Trailers::Own),
    };
    let expected = Expected::from_headers(&req.headers, trailers, handler.verify_payload_sha256)?;
    let body = match blob {
        Some(blob) => payload(blob),
        None => objectstore_service::stream::empty(),
    };
    let (body, computed) = verify(body, expected);
    Ok((handler.hooks.meter(context, body), computed))
}

/// The response fields of the checksums computed over a body.
#[derive(Debug, Default)]
pub struct ChecksumFields {
    /// `x-amz-checksum-crc32`.
    pub crc32: Option<String>,
    /// `x-amz-checksum-crc32c`.
    pub crc32c: Option<String>,
    /// `x-amz-checksum-crc64nvme`.
    pub crc64nvme: Option<String>,
    /// `x-amz-checksum-sha1`.
    pub sha1: Option<String>,
    /// `x-amz-checksum-sha256`.
    pub sha256: Option<String>,
}

impl From<&Computed> for ChecksumFields {
    fn from(c: &Computed) -> Self {
        Self {
            crc32: c.get(Algorithm::Crc32),
            crc32c: c.get(Algorithm::Crc32c),
            crc64nvme: c.get(Algorithm::Crc64Nvme),
            sha1: c.get(Algorithm::Sha1),
            sha256: c.get(Algorithm::Sha256),
        }
    }
}
