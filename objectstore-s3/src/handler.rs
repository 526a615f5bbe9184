//! The S3 operations on the storage service: [`Handler`] implements s3s's [`S3`] trait.
//! Operations it does not override answer s3s's default `NotImplemented`; those that wait
//! for the engine answer through [`crate::phase2`].
//!
//! Every operation on a bucket or object follows the same steps, in this order, before it
//! touches storage (helpers [`Handler::bucket`] and [`Handler::object`]):
//!
//! 1. The bucket name → usecase ([`crate::mapping`]; `InvalidBucketName`).
//! 2. The caller's permission on it ([`crate::auth`]; `AccessDenied`).
//! 3. The bucket exists ([`crate::registry`]; `NoSuchBucket`).
//! 4. The key → scopes and objectstore key (`InvalidArgument`, `KeyTooLongError`): nothing
//!    unvalidated reaches the engine.
//! 5. Admission on the usecase and scopes: killswitch (`AccessDenied`), rate limits
//!    (`SlowDown`).
//!
//! Then the operation (modules under `ops`). Engine errors become S3 errors only in
//! [`crate::errors`].

use std::sync::Arc;

use objectstore_service::service::StorageService;
use objectstore_types::{ObjectContext, ObjectId, Permission, Scopes, Usecase};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::auth::Authority;
use crate::errors::name_error;
use crate::hooks::Hooks;
use crate::mapping::{bucket_usecase, object_id};
use crate::ops;
use crate::registry::Registry;

/// The header naming the calling service, for killswitches.
pub const DOWNSTREAM_SERVICE_HEADER: &str = "x-downstream-service";

/// The S3 operations (module docs).
pub struct Handler {
    /// The storage engine.
    pub service: StorageService,
    /// Admission control and metrics of the hosting server.
    pub hooks: Arc<dyn Hooks>,
    /// Credentials and permissions.
    pub authority: Authority,
    /// Which buckets exist.
    pub registry: Registry,
    /// The region reported to clients.
    pub region: String,
    /// Whether hex `x-amz-content-sha256` headers are verified here (s3s does when it
    /// checks signatures).
    pub verify_payload_sha256: bool,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The raw `x-downstream-service` header of a request.
pub fn downstream_service<T>(req: &S3Request<T>) -> Option<&str> {
    req.headers
        .get(DOWNSTREAM_SERVICE_HEADER)
        .and_then(|v| v.to_str().ok())
}

impl Handler {
    /// Steps 1 to 3 and 5 of the module docs for a bucket-level operation.
    pub async fn bucket<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        permission: Permission,
    ) -> S3Result<Usecase> {
        let usecase = bucket_usecase(bucket).map_err(name_error)?;
        self.authority
            .authorize(req.credentials.as_ref(), &usecase, permission)?;
        self.registry.require(bucket).await?;
        let context = ObjectContext {
            usecase: usecase.clone(),
            scopes: Scopes::empty(),
        };
        self.hooks.admit(&context, downstream_service(req))?;
        Ok(usecase)
    }

    /// Steps 1 to 5 of the module docs for an object.
    pub async fn object<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        permission: Permission,
    ) -> S3Result<ObjectId> {
        let usecase = bucket_usecase(bucket).map_err(name_error)?;
        self.authority
            .authorize(req.credentials.as_ref(), &usecase, permission)?;
        self.registry.require(bucket).await?;
        let id = object_id(&usecase, key).map_err(name_error)?;
        self.hooks.admit(&id.context, downstream_service(req))?;
        Ok(id)
    }
}

#[async_trait::async_trait]
impl S3 for Handler {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        ops::buckets::list_buckets(self, req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        ops::buckets::create_bucket(self, req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        ops::buckets::head_bucket(self, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        ops::buckets::get_bucket_location(self, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.bucket(&req, &req.input.bucket, Permission::Delete)
            .await?;
        Err(crate::phase2::delete_bucket())
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.bucket(&req, &req.input.bucket, Permission::Read)
            .await?;
        Err(crate::phase2::listing())
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.bucket(&req, &req.input.bucket, Permission::Read)
            .await?;
        Err(crate::phase2::listing())
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.bucket(&req, &req.input.bucket, Permission::Write)
            .await?;
        Err(crate::phase2::list_uploads())
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        ops::objects::put_object(self, req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        ops::objects::get_object(self, req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        ops::objects::head_object(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        ops::delete::delete_object(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        ops::delete::delete_objects(self, req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        ops::copy::copy_object(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        ops::multipart::create(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        ops::multipart::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        ops::copy::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        ops::multipart::complete(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        ops::multipart::abort(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        ops::multipart::list_parts(self, req).await
    }
}
