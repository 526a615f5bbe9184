//! The scans of [`MemoryBackend`] (contract 7 of [`crate::backend`]): rows and blobs in
//! storage-path order (the cursor is the last storage path), the change log in `change_id`
//! order, leases in instance order. Each page is read under one lock.

use std::ops::Bound;

use super::{MemoryBackend, Stored};
use crate::backend::{BlobInfo, ChangeRecord, Lease, RowInfo, ScanPage};

impl MemoryBackend {
    /// `HighVolumeBackend::scan_rows`.
    pub(super) fn scan_rows_page(&self, after: Option<&str>, limit: usize) -> ScanPage<RowInfo> {
        let limit = limit.max(1);
        let state = self.lock();
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
        let items: Vec<(String, RowInfo)> = state
            .rows
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(path, row)| {
                let info = match &row.value {
                    Stored::Tombstone(t) => RowInfo {
                        id: row.id.clone(),
                        metadata: t.metadata.clone(),
                        target: Some(t.target.clone()),
                    },
                    Stored::Object(m, _) => RowInfo {
                        id: row.id.clone(),
                        metadata: m.clone(),
                        target: None,
                    },
                };
                (path.clone(), info)
            })
            .collect();
        let page = ScanPage::cut(items, limit, |(path, _)| path.clone());
        ScanPage {
            items: page.items.into_iter().map(|(_, info)| info).collect(),
            next: page.next,
        }
    }

    /// `LongTermBackend::list_blobs`: the inline objects (a tombstone is no blob).
    pub(super) fn list_blobs_page(&self, after: Option<&str>, limit: usize) -> ScanPage<BlobInfo> {
        let limit = limit.max(1);
        let state = self.lock();
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
        // The cursor is the last storage path *looked at*, so that a page of tombstones
        // still moves on.
        let mut items = Vec::new();
        let mut last = None;
        for (path, row) in state.rows.range((lower, Bound::Unbounded)) {
            if items.len() >= limit {
                break;
            }
            last = Some(path.clone());
            if let Stored::Object(metadata, bytes) = &row.value {
                items.push(BlobInfo {
                    id: row.id.clone(),
                    size: metadata.size.unwrap_or(bytes.len() as u64),
                    last_modified: row.modified,
                });
            }
        }
        let next = if items.len() >= limit { last } else { None };
        ScanPage { items, next }
    }

    /// `HighVolumeBackend::log_scan`.
    pub(super) fn log_scan_page(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Vec<ChangeRecord> {
        let state = self.lock();
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(*a));
        state
            .log
            .range((lower, Bound::Unbounded))
            .take(limit.max(1))
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// `HighVolumeBackend::lease_list`.
    pub(super) fn lease_list_all(&self) -> Vec<Lease> {
        let mut leases: Vec<Lease> = self
            .lock()
            .leases
            .iter()
            .map(|(instance, until)| Lease {
                instance: instance.clone(),
                until: *until,
            })
            .collect();
        leases.sort_by(|a, b| a.instance.cmp(&b.instance));
        leases
    }
}
