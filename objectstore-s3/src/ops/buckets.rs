//! `ListBuckets`, `CreateBucket`, `HeadBucket`, `DeleteBucket` (only when empty),
//! `GetBucketLocation`. Buckets are usecases; which exist is kept by [`crate::registry`].

use objectstore_service::backend::ListQuery;
use objectstore_types::{ObjectContext, Permission, Scopes};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::errors::{name_error, service_error};
use crate::handler::{Handler, downstream_service};
use crate::mapping::bucket_usecase;

use super::listing::owner;

/// `GET /`: the buckets the caller may use, by name.
pub async fn list_buckets(
    handler: &Handler,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let prefix = req.input.prefix.as_deref().unwrap_or("");
    let buckets = handler
        .registry
        .list()
        .await?
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .filter(|(name, _)| handler.authority.may_see(req.credentials.as_ref(), name))
        .map(|(name, created)| Bucket {
            bucket_region: Some(handler.region.clone()),
            creation_date: Some(Timestamp::from(created)),
            name: Some(name),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(owner()),
        prefix: req.input.prefix,
        ..ListBucketsOutput::default()
    }))
}

/// `PUT /<bucket>`: idempotent; the name must be a usecase name of 3 to 64 of
/// `A-Z a-z 0-9 _ -`.
pub async fn create_bucket(
    handler: &Handler,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let input = &req.input;
    let usecase = bucket_usecase(&input.bucket).map_err(name_error)?;
    handler
        .authority
        .authorize(req.credentials.as_ref(), &usecase, Permission::Write)?;
    super::refuse_options(&[
        (
            input.object_lock_enabled_for_bucket == Some(true),
            "object lock",
        ),
        (
            input
                .acl
                .as_ref()
                .is_some_and(|a| a.as_str() != BucketCannedACL::PRIVATE),
            "a bucket ACL other than private",
        ),
    ])?;
    let context = ObjectContext {
        usecase,
        scopes: Scopes::empty(),
    };
    handler.hooks.admit(&context, downstream_service(&req))?;
    handler.registry.create(&input.bucket).await?;
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{}", input.bucket)),
    }))
}

/// `HEAD /<bucket>`: 200 when it exists, else 404.
pub async fn head_bucket(
    handler: &Handler,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    handler
        .bucket(&req, &req.input.bucket, Permission::Read)
        .await?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(handler.region.clone()),
        ..HeadBucketOutput::default()
    }))
}

/// `GET /<bucket>?location`: the configured region (empty for `us-east-1`, as S3 does).
pub async fn get_bucket_location(
    handler: &Handler,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    handler
        .bucket(&req, &req.input.bucket, Permission::Read)
        .await?;
    let location_constraint = (handler.region != "us-east-1")
        .then(|| BucketLocationConstraint::from(handler.region.clone()));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint,
    }))
}

/// `DELETE /<bucket>`: 204 once the bucket holds no object (`BucketNotEmpty` otherwise;
/// open multipart uploads do not count, as in S3). Buckets of the `usecases` config section
/// cannot be deleted (`InvalidBucketState`).
pub async fn delete_bucket(
    handler: &Handler,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let bucket = &req.input.bucket;
    let usecase = handler.bucket(&req, bucket, Permission::Delete).await?;
    if handler.registry.is_configured(bucket) {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidBucketState,
            format!("bucket {bucket:?} is a configured usecase and cannot be deleted"),
        ));
    }
    let objects = handler
        .service
        .list(ListQuery::new(usecase, "", 1))
        .await
        .map_err(service_error)?;
    if !objects.rows.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::BucketNotEmpty,
            "The bucket you tried to delete is not empty",
        ));
    }
    handler.registry.delete(bucket).await?;
    Ok(S3Response::new(DeleteBucketOutput::default()))
}
