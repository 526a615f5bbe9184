//! `DeleteObject` and `DeleteObjects`.
//!
//! `DeleteObject` with `If-Match: <etag>` deletes only that object, atomically (412
//! `PreconditionFailed` otherwise, also when it is gone).
//!
//! `DeleteObjects` (`POST /<bucket>?delete`, what `object_store` 0.13+ uses for bulk
//! deletes): at most [`MAX_KEYS`] keys (more: `MalformedXML`, as S3 answers). Each key is
//! mapped and admitted on its own (keys may differ in scopes, and killswitches match
//! scopes); a key that fails either is reported in `<Error>` and the others go on. The valid
//! keys run through the engine's batch executor ([`StorageService::batch`]), one batch per
//! distinct usecase and scopes, within the service's bulk share of permits. Deleting a
//! missing key succeeds, as in S3. `Quiet` mode reports errors only.
//!
//! [`StorageService::batch`]: objectstore_service::service::StorageService::batch

use std::collections::BTreeMap;

use futures::StreamExt as _;
use objectstore_service::batch::BatchOp;
use objectstore_types::{ObjectContext, ObjectKey, Permission};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::check_version;
use crate::conditions::write_precondition;
use crate::errors::{name_error, service_error};
use crate::handler::{Handler, downstream_service};
use crate::mapping::object_id;

/// Most keys in one `DeleteObjects`.
pub const MAX_KEYS: usize = 1000;

/// `DELETE /<bucket>/<key>`: 204, also when nothing was there.
pub async fn delete_object(
    handler: &Handler,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let input = &req.input;
    check_version(input.version_id.as_ref())?;
    let id = handler
        .object(&req, &input.bucket, &input.key, Permission::Delete)
        .await?;
    if input.if_match_last_modified_time.is_some() || input.if_match_size.is_some() {
        return Err(crate::errors::not_implemented(
            "x-amz-if-match-last-modified-time and x-amz-if-match-size are not supported",
        ));
    }
    let precondition = write_precondition(input.if_match.as_ref(), None)?;
    handler
        .service
        .delete_if(id, precondition)
        .await
        .map_err(service_error)?;
    Ok(S3Response::new(DeleteObjectOutput::default()))
}

fn key_error(key: &str, error: &S3Error) -> Error {
    Error {
        code: Some(error.code().as_str().to_owned()),
        key: Some(key.to_owned()),
        message: error.message().map(str::to_owned),
        version_id: None,
    }
}

/// `POST /<bucket>?delete` (module docs).
pub async fn delete_objects(
    handler: &Handler,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let usecase = handler
        .bucket(&req, &req.input.bucket, Permission::Delete)
        .await?;
    let objects = &req.input.delete.objects;
    if objects.len() > MAX_KEYS {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            format!("at most {MAX_KEYS} keys per DeleteObjects request"),
        ));
    }
    let quiet = req.input.delete.quiet.unwrap_or(false);
    let downstream = downstream_service(&req);
    let mut errors = Vec::new();
    let mut groups: BTreeMap<ObjectContext, Vec<(usize, ObjectKey)>> = BTreeMap::new();
    for (index, object) in objects.iter().enumerate() {
        let conditional =
            object.e_tag.is_some() || object.last_modified_time.is_some() || object.size.is_some();
        let accepted = check_version(object.version_id.as_ref())
            .and_then(|()| {
                if conditional {
                    Err(crate::errors::not_implemented(
                        "conditions on the keys of DeleteObjects are not supported; \
                         use DeleteObject with If-Match",
                    ))
                } else {
                    Ok(())
                }
            })
            .and_then(|()| object_id(&usecase, &object.key).map_err(name_error))
            .and_then(|id| {
                handler.hooks.admit_batch_op(&id.context, downstream)?;
                Ok(id)
            });
        match accepted {
            Ok(id) => groups.entry(id.context).or_default().push((index, id.key)),
            Err(e) => errors.push(key_error(&object.key, &e)),
        }
    }
    let mut results = futures::stream::select_all(groups.into_iter().map(|(context, keys)| {
        let ops = futures::stream::iter(
            keys.into_iter()
                .map(|(index, key)| (index, BatchOp::Delete { key })),
        );
        handler.service.batch(context, ops)
    }));
    let mut deleted = Vec::new();
    while let Some((index, result)) = results.next().await {
        let key = &objects[index].key;
        match result {
            Ok(_) => {
                if !quiet {
                    deleted.push(DeletedObject {
                        key: Some(key.clone()),
                        ..DeletedObject::default()
                    });
                }
            }
            Err(e) => errors.push(key_error(key, &service_error(e))),
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: (!deleted.is_empty()).then_some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..DeleteObjectsOutput::default()
    }))
}
