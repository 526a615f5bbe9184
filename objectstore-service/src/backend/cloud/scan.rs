//! `list_blobs` of [`CloudBackend`] (contract 7 of [`crate::backend`]): one paged LIST of
//! the store from the cursor on (`list_with_offset`: names strictly after it, in the
//! lexicographic order every supported store lists in), the cursor being the name of the
//! last object listed. Names below [`codec::RESERVED`] (expiry records, multipart bookkeeping) and
//! names that are no storage path (foreign blobs in a shared bucket) are not objects and are
//! skipped. `size` and `last_modified` are the store's.

use std::time::SystemTime;

use futures::StreamExt;
use object_store::path::Path;
use objectstore_types::ObjectId;

use super::{CloudBackend, codec};
use crate::backend::{BlobInfo, ScanPage};
use crate::error::Result;

impl CloudBackend {
    pub(super) async fn list_blobs_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ScanPage<BlobInfo>> {
        let limit = limit.max(1);
        let mut listing = match after {
            Some(after) => self.store.list_with_offset(None, &Path::from(after)),
            None => self.store.list(None),
        };
        let reserved = format!("{}/", codec::RESERVED);
        let mut items = Vec::new();
        while let Some(entry) = listing.next().await {
            let meta = entry.map_err(|e| self.fail("list objects", e))?;
            let name = meta.location.as_ref().to_owned();
            if name.starts_with(&reserved) {
                continue;
            }
            let Some(id) = ObjectId::from_storage_path(&name) else {
                tracing::debug!(name, "cloud: skipping a blob that is not an object");
                continue;
            };
            items.push(BlobInfo {
                id,
                size: meta.size,
                last_modified: SystemTime::from(meta.last_modified),
            });
            if items.len() >= limit {
                return Ok(ScanPage {
                    items,
                    next: Some(name),
                });
            }
        }
        Ok(ScanPage { items, next: None })
    }
}
