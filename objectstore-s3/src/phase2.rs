//! What waits for the engine (phase 2), answered with S3's `NotImplemented` until then.
//!
//! Each function here is the one place its operation or feature is refused, with the reason
//! in the message. None of them is faked: a request that needs one of these is never
//! answered as if it had succeeded.
//!
//! | feature | needs from the engine |
//! |---|---|
//! | `ListObjectsV2`, `ListObjects` | an ordered listing on the high-volume row contract (usecase, prefix, start-after, limit; S3 key byte order) |
//! | `DeleteBucket` (only when empty) | the same listing (is the usecase empty?) |
//! | `ListMultipartUploads` | a listing of open multipart uploads per usecase |
//! | conditional writes (`If-None-Match: *`, `If-Match` on `PutObject` and `CompleteMultipartUpload`, `If-Match` on `DeleteObject`) | a put / complete / delete that commits only if the current ETag (or absence) matches, atomically, through the high-volume compare-and-swap |
//! | MD5 ETags (`"<md5>"`, `"<md5 of part md5s>-N"`) | the MD5 computed while streaming, stored with the object and returned by the write |
//! | full-object checksums on `CompleteMultipartUpload` | per-part checksums stored with the parts |
//! | `Content-Language`, `Cache-Control`, `Expires`, any `Content-Encoding` and `Content-Disposition` | fields of the stored `Metadata` |
//!
//! Exact signatures are in the phase-1 report (`docs/s3.md` lists the operations).

use s3s::S3Error;

use crate::errors::not_implemented;

/// `ListObjectsV2` / `ListObjects`.
pub fn listing() -> S3Error {
    not_implemented(
        "listing objects needs the ordered listing of the storage engine (S3 front phase 2)",
    )
}

/// `DeleteBucket`.
pub fn delete_bucket() -> S3Error {
    not_implemented(
        "deleting a bucket needs to know that it is empty, i.e. the engine's listing (S3 front phase 2)",
    )
}

/// `ListMultipartUploads`.
pub fn list_uploads() -> S3Error {
    not_implemented(
        "listing multipart uploads needs an upload listing in the storage engine (S3 front phase 2)",
    )
}

/// `If-Match` / `If-None-Match` on a write.
pub fn conditional_write() -> S3Error {
    not_implemented(
        "conditional writes (If-Match, If-None-Match) need an atomic compare-and-swap on the \
         object's ETag in the storage engine (S3 front phase 2); refused rather than checked \
         and then written non-atomically",
    )
}

/// A full-object checksum on `CompleteMultipartUpload`.
pub fn complete_checksum() -> S3Error {
    not_implemented(
        "a checksum of the whole multipart object needs per-part checksums stored by the \
         engine (S3 front phase 2); part checksums are verified on UploadPart",
    )
}
