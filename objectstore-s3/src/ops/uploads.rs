//! `ListMultipartUploads`: the open uploads of a bucket, from the engine
//! ([`StorageService::list_uploads`](objectstore_service::service::StorageService::list_uploads):
//! its change log holds one deferred record per open upload; see the engine's module
//! `tiered::uploads` for the cost, which is bounded by the uploads initiated within the
//! multipart deadline and grace, not by the number of objects).
//!
//! Uploads come ordered by key (S3 order), then by upload id. `prefix`, `key-marker` and
//! `upload-id-marker` (with a key marker: only that key's uploads after the id; without an
//! id marker every upload of the key marker is skipped), `max-uploads` (1 to 1000, default
//! 1000), `delimiter` (common prefixes count toward `max-uploads`) and `encoding-type=url`
//! behave as in S3.

use objectstore_service::backend::catalog::{OpenUpload, UploadQuery};
use objectstore_types::Permission;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::listing::{MAX_KEYS, owner};
use crate::errors::{invalid_argument, service_error};
use crate::handler::Handler;

/// Uploads read from the engine per request when a delimiter rolls some up (the engine
/// reads its whole log for any page, see the module docs).
const WITH_DELIMITER: usize = 100_000;

/// `GET /<bucket>?uploads`.
pub async fn list_multipart_uploads(
    handler: &Handler,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = &req.input;
    let usecase = handler
        .bucket(&req, &input.bucket, Permission::Write)
        .await?;
    let encode = match input.encoding_type.as_ref().map(EncodingType::as_str) {
        None => false,
        Some(EncodingType::URL) => true,
        Some(other) => {
            return Err(invalid_argument(format!(
                "Invalid Encoding Method specified in Request: {other:?}"
            )));
        }
    };
    let requested = input.max_uploads.unwrap_or(MAX_KEYS);
    if requested < 0 {
        return Err(invalid_argument("max-uploads must not be negative"));
    }
    let max = usize::try_from(requested.min(MAX_KEYS)).unwrap_or(0);
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
    let after = input
        .key_marker
        .as_deref()
        .filter(|k| !k.is_empty())
        .map(|key| {
            let id = input.upload_id_marker.clone().filter(|u| !u.is_empty());
            match id {
                Some(id) => (key.as_bytes().to_vec(), Some(id)),
                None => (super::listing::marker_bound(key, &prefix, delimiter), None),
            }
        });
    let query = UploadQuery {
        usecase,
        prefix: prefix.as_bytes().to_vec(),
        after,
        limit: if delimiter.is_some() {
            WITH_DELIMITER
        } else {
            max.max(1)
        },
    };
    let found = handler
        .service
        .list_uploads(query)
        .await
        .map_err(service_error)?;

    let mut uploads: Vec<OpenUpload> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut truncated = found.truncated;
    let mut rest = found.uploads.into_iter().peekable();
    while let Some(upload) = rest.next() {
        if uploads.len() + prefixes.len() == max {
            truncated = true;
            break;
        }
        let tail = &upload.key[prefix.len()..];
        match delimiter.and_then(|d| tail.find(d).map(|at| at + d.len())) {
            Some(at) => {
                let common = upload.key[..prefix.len() + at].to_owned();
                while rest.peek().is_some_and(|u| u.key.starts_with(&common)) {
                    rest.next();
                }
                prefixes.push(common);
            }
            None => uploads.push(upload),
        }
    }
    if max == 0 {
        truncated = false;
    }
    let encoded = |s: &str| super::listing::encoded_name(s, encode);
    let next_key_marker = truncated
        .then(|| {
            uploads
                .last()
                .map(|u| u.key.clone())
                .max(prefixes.last().cloned())
        })
        .flatten();
    let next_upload_id_marker = truncated
        .then(|| {
            uploads
                .last()
                .filter(|u| Some(&u.key) == next_key_marker.as_ref())
                .map(|u| u.upload_id.clone())
        })
        .flatten();
    let uploads = uploads
        .into_iter()
        .map(|u| MultipartUpload {
            initiated: Some(Timestamp::from(u.initiated)),
            initiator: Some(Initiator {
                display_name: Some("objectstore".into()),
                id: Some("objectstore".into()),
            }),
            key: Some(encoded(&u.key)),
            owner: Some(owner()),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            upload_id: Some(u.upload_id),
            ..MultipartUpload::default()
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket.clone()),
        prefix: Some(encoded(&prefix)),
        delimiter: delimiter.map(encoded),
        key_marker: input.key_marker.as_deref().map(encoded),
        upload_id_marker: input.upload_id_marker.clone(),
        next_key_marker: next_key_marker.as_deref().map(encoded),
        next_upload_id_marker,
        max_uploads: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        is_truncated: Some(truncated),
        uploads: Some(uploads),
        common_prefixes: Some(
            prefixes
                .into_iter()
                .map(|p| CommonPrefix {
                    prefix: Some(encoded(&p)),
                })
                .collect(),
        ),
        encoding_type: input.encoding_type.clone(),
        ..ListMultipartUploadsOutput::default()
    }))
}
