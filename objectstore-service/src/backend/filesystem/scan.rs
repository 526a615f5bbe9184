//! `list_blobs` of the filesystem store (contract 7 of [`crate::backend`]): object files in
//! file-name order (the hex hash of the storage path; shard directories are prefixes of the
//! names, so this is the walk order), the cursor being the last file name examined.
//! Sidecars, temp files and multipart staging directories are not objects and never listed.
//! `last_modified` is the file's mtime (the time of the write that created it); `size` is
//! the payload length from the header.

use std::io;

use objectstore_types::ObjectId;

use super::layout::{self, SIDECAR_SUFFIX};
use super::store::{Store, io_error};
use crate::backend::{BlobInfo, ScanPage};
use crate::error::{Error, Result};

impl Store {
    /// One page of `list_blobs`. A file that disappears between the directory read and its
    /// load (a concurrent delete) is skipped; a corrupt one is an error naming it.
    pub(super) fn list_blobs(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ScanPage<BlobInfo>> {
        let limit = limit.max(1);
        let mut items = Vec::new();
        let mut cursor = after.map(str::to_owned);
        loop {
            let names = self
                .entries_after(cursor.as_deref(), limit)
                .map_err(io_error("list objects"))?;
            let exhausted = names.len() < limit;
            for name in names {
                cursor = Some(name.clone());
                if name.ends_with(SIDECAR_SUFFIX) || !layout::is_object_name(&name) {
                    continue;
                }
                if let Some(blob) = self.blob_info(&name)? {
                    items.push(blob);
                    if items.len() >= limit {
                        return Ok(ScanPage {
                            items,
                            next: cursor,
                        });
                    }
                }
            }
            if exhausted {
                return Ok(ScanPage { items, next: None });
            }
        }
    }

    fn blob_info(&self, name: &str) -> Result<Option<BlobInfo>> {
        let corrupt = |e: io::Error| {
            Error::Internal(format!(
                "corrupt object file {name} in the filesystem store: {e}"
            ))
        };
        let Some(loaded) = self.load_name(name).map_err(corrupt)? else {
            return Ok(None);
        };
        let modified = match loaded.file.metadata().and_then(|m| m.modified()) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read an object file's mtime")(e)),
        };
        let id = ObjectId::from_storage_path(&loaded.header.path).ok_or_else(|| {
            Error::Internal(format!(
                "object file {name} holds an invalid storage path {:?}",
                loaded.header.path
            ))
        })?;
        Ok(Some(BlobInfo {
            id,
            size: loaded.header.payload_len,
            last_modified: modified,
        }))
    }
}
