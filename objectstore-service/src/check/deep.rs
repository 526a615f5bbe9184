//! `check --deep`: every tombstone's recorded size, and MD5 where its ETag is one, against
//! the long-term blob it names.
//!
//! The size comes from the blob listing (no extra request); the MD5 needs the blob read
//! whole and hashed (bounded memory: streamed). A blob that does not match is a
//! [`CorruptObject`] once the row was re-read and still names it (a write that landed during
//! the scan is not reported). Corrupt objects are **never repaired**: the blob is referenced
//! and may be partly intact, the tombstone is the only record of what the object should be,
//! and nothing proves either dead; the operator restores or deletes the object.

use std::collections::HashMap;

use futures::StreamExt;
use objectstore_types::ObjectId;
use serde::Serialize;

use crate::backend::{GetResponse, HighVolumeBackend, LongTermBackend, TieredMetadata};
use crate::digest::{Hasher, Md5};
use crate::error::Result;

/// A tombstone whose long-term blob does not hold what it records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorruptObject {
    /// The object.
    pub id: String,
    /// The blob (long-term revision).
    pub target: String,
    /// What does not match.
    pub problem: String,
}

/// What a tombstone records about its blob.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub id: ObjectId,
    pub target: ObjectId,
    pub size: Option<u64>,
    pub md5: Option<Md5>,
}

/// Checks every recorded blob that is listed (`sizes`: storage path → listed size; blobs
/// not listed are dangling tombstones, reported elsewhere).
pub(super) async fn corrupt_objects(
    hv: &dyn HighVolumeBackend,
    lt: &dyn LongTermBackend,
    recorded: &[Recorded],
    sizes: &HashMap<String, u64>,
) -> Result<Vec<CorruptObject>> {
    let mut found = Vec::new();
    for r in recorded {
        let Some(&listed) = sizes.get(&r.target.as_storage_path()) else {
            continue;
        };
        let problem = match r.size {
            Some(size) if size != listed => Some(format!(
                "size: the tombstone records {size} bytes, the store has {listed}"
            )),
            _ => match r.md5 {
                Some(md5) => md5_problem(lt, &r.target, md5).await,
                None => None,
            },
        };
        let Some(problem) = problem else {
            continue;
        };
        let still = matches!(
            hv.head(&r.id).await?,
            TieredMetadata::Tombstone(t) if t.target == r.target
        );
        if still {
            found.push(CorruptObject {
                id: r.id.as_storage_path(),
                target: r.target.as_storage_path(),
                problem,
            });
        }
    }
    Ok(found)
}

/// Reads `target` whole and compares its MD5; the problem, if any.
async fn md5_problem(lt: &dyn LongTermBackend, target: &ObjectId, md5: Md5) -> Option<String> {
    let mut body = match lt.get(target, None).await {
        Ok(GetResponse::Found { body, .. }) => body,
        // Gone since the listing: a concurrent delete, not corruption.
        Ok(_) => return None,
        Err(e) => return Some(format!("unreadable: {e}")),
    };
    let mut hasher = Hasher::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => hasher.update(&chunk),
            Err(e) => return Some(format!("unreadable: {e}")),
        }
    }
    let got = hasher.finish();
    (got.md5 != md5).then(|| {
        format!(
            "md5: the ETag records {md5}, the store's {} bytes have {}",
            got.size, got.md5
        )
    })
}
