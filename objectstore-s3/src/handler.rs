//! The state of the S3 operations ([`Handler`]) and the checks every operation runs first.
//! The operations live in `ops`; [`crate::dispatch`] connects them to s3s's `S3` trait.
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
use s3s::auth::Credentials;
use s3s::{S3Request, S3Result};

use crate::auth::Authority;
use crate::errors::name_error;
use crate::hooks::Hooks;
use crate::mapping::{bucket_usecase, object_id};
use crate::registry::Registry;

/// The header naming the calling service, for killswitches.
pub const DOWNSTREAM_SERVICE_HEADER: &str = "x-downstream-service";

/// The S3 operations (module docs). Cheap to clone: s3s holds one, the plain-read path
/// ([`crate::fast`]) another.
#[derive(Clone)]
pub struct Handler {
    /// The storage engine.
    pub service: StorageService,
    /// Admission control and metrics of the hosting server.
    pub hooks: Arc<dyn Hooks>,
    /// Credentials and permissions.
    pub authority: Authority,
    /// Which buckets exist.
    pub registry: Arc<Registry>,
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
        let caller = Caller {
            credentials: req.credentials.as_ref(),
            downstream_service: downstream_service(req),
        };
        self.object_for(caller, bucket, key, permission).await
    }

    /// [`Handler::object`] for a caller known without an [`S3Request`] (the plain-read
    /// path, [`crate::fast`]).
    pub async fn object_for(
        &self,
        caller: Caller<'_>,
        bucket: &str,
        key: &str,
        permission: Permission,
    ) -> S3Result<ObjectId> {
        let usecase = bucket_usecase(bucket).map_err(name_error)?;
        self.authority
            .authorize(caller.credentials, &usecase, permission)?;
        self.registry.require(bucket).await?;
        let id = object_id(&usecase, key).map_err(name_error)?;
        self.hooks.admit(&id.context, caller.downstream_service)?;
        Ok(id)
    }
}

/// Who asks: the verified credentials (none when anonymous or zero-config) and the
/// `x-downstream-service` header.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The credentials the request was verified with.
    pub credentials: Option<&'a Credentials>,
    /// The raw `x-downstream-service` header.
    pub downstream_service: Option<&'a str>,
}
