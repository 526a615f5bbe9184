//! The ordered listing of the Bigtable store ([`crate::backend::HighVolumeBackend::list`]):
//! a **listing index** in reserved rows of the same table.
//!
//! Object rows are keyed by the storage path, whose order is not the listing order (scopes
//! are `name.value/` segments before an `objects/` segment there, `name=value/` segments in
//! the listing key), and Bigtable has no secondary indexes. So every object with a listing
//! key has an index row
//!
//! ```text
//! \0lst/{usecase}\0{listing key}     fm:l = storage path of the object row
//! ```
//!
//! (usecases contain no control character, so `\0` ends the usecase: `listing` never
//! matches `listing2`; the whole key stays far below Bigtable's 4 KiB). Index rows sort in
//! `(usecase, listing key bytes)` order, which is what a listing needs.
//!
//! **Writes.** Every write that may create an object row (`put`, `compare_and_write` of an
//! object or a tombstone) first writes the index row (idempotent: always the same key and
//! value for a path; its cell timestamp is the wall clock of the last write), then the data
//! row. So a row that exists always has its entry, including after a crash between the two
//! writes (the entry is then *stale*: it names a missing row).
//!
//! **Reads.** A page reads the index range between the query's bounds in key order (pages
//! of [`SCAN_PAGE`](super::SCAN_PAGE) entries), reads the rows the entries name in one
//! batched `ReadRows`, and keeps live rows (skipping missing, partly collected and expired
//! ones) until it has `limit + 1` (the extra one only says "truncated"). Cost: index range
//! reads plus one batched row read per index page; never a scan of other usecases or of
//! keys outside the bounds.
//!
//! **Stale entries** (the object was deleted, or the writer died before its row write) are
//! removed lazily: a listing that meets an entry whose row is missing deletes it once the
//! entry's last write is more than [`STALE_GRACE`](super::STALE_GRACE) (1 h) old (a younger
//! one may belong to a write in flight). Deletes do not remove entries themselves: a
//! delete racing a re-creation of the same object could otherwise remove the entry of the
//! new row. Cost: a listing over many objects deleted in the last hour reads their entries
//! too. A writer stalled for over an hour between its entry write and its row write could
//! lose its entry to a listing; the row then stays unlisted until it is written again.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use objectstore_types::ObjectId;
use objectstore_types::listing::{listing_key, prefix_end};

use super::client::{FM, delete_row, keys, latest_of, range, set};
use super::rows::{self, Stored};
use super::{BigtableBackend, SCAN_PAGE, STALE_GRACE};
use crate::backend::{ListPage, ListQuery, ListedRow};
use crate::error::{Error, Result};

/// Prefix of the listing index rows: `\0lst/{usecase}\0{listing key}`.
pub const LIST_PREFIX: &[u8] = b"\0lst/";
/// The index cell: the object row's storage path.
const PATH: &str = "l";

/// The first index key of `usecase` (everything of the usecase sorts after it).
fn usecase_start(usecase: &str) -> Vec<u8> {
    let mut key = LIST_PREFIX.to_vec();
    key.extend_from_slice(usecase.as_bytes());
    key.push(0);
    key
}

/// The index row of `id`, if it has a listing key.
pub fn index_key(id: &ObjectId) -> Option<Vec<u8>> {
    let listed = listing_key(id)?;
    let mut key = usecase_start(id.usecase().as_str());
    key.extend_from_slice(listed.as_bytes());
    Some(key)
}

/// The index range of `query`: start key, whether it is exclusive, end key (exclusive).
fn bounds(query: &ListQuery) -> (Vec<u8>, bool, Vec<u8>) {
    let base = usecase_start(query.usecase.as_str());
    let (lower, exclusive) = query.lower_bound();
    let mut start = base.clone();
    start.extend_from_slice(lower);
    let mut end = base;
    match prefix_end(&query.prefix) {
        Some(upper) => end.extend_from_slice(&upper),
        None => {
            // Just past every key of the usecase: the separator byte plus one.
            end.pop();
            end.push(1);
        }
    }
    (start, exclusive, end)
}

/// Micros since the epoch of `t`.
fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl BigtableBackend {
    /// Writes the listing index row of `id` (module docs), if it has a listing key.
    pub(super) async fn list_index(&self, id: &ObjectId) -> Result<()> {
        let Some(key) = index_key(id) else {
            return Ok(());
        };
        let cell = set(
            FM,
            PATH,
            rows::wall_micros(),
            id.as_storage_path().into_bytes(),
        );
        self.table.mutate(&key, vec![cell]).await
    }

    /// `list` (module docs).
    pub(super) async fn list_rows(&self, query: &ListQuery) -> Result<ListPage> {
        let now = self.clock.now();
        let want = query.limit.max(1) + 1;
        let (mut start, mut open, end) = bounds(query);
        let mut out: Vec<ListedRow> = Vec::new();
        loop {
            if start >= end {
                break;
            }
            let page = self
                .table
                .read_rows(
                    range(start.clone(), open, end.clone()),
                    latest_of(PATH),
                    SCAN_PAGE as i64,
                )
                .await?;
            let entries: Vec<(&Vec<u8>, Vec<u8>, i64)> = page
                .iter()
                .filter_map(|(key, cells)| {
                    let cell = cells.iter().find(|c| c.qualifier == PATH.as_bytes())?;
                    Some((key, cell.value.clone(), cell.timestamp_micros))
                })
                .collect();
            let mut paths: Vec<Vec<u8>> = entries.iter().map(|(_, p, _)| p.clone()).collect();
            paths.sort();
            paths.dedup();
            let found: HashMap<Vec<u8>, _> = if paths.is_empty() {
                HashMap::new()
            } else {
                self.table
                    .read_rows(keys(paths), latest_of("m|t|v"), 0)
                    .await?
                    .into_iter()
                    .collect()
            };
            let base_len = usecase_start(query.usecase.as_str()).len();
            for (key, path, written) in entries {
                let row = match found.get(&path) {
                    Some(cells) => rows::decode(&path, cells, false)?,
                    None => None,
                };
                let Some(row) = row else {
                    self.drop_stale(key, written).await;
                    continue;
                };
                let metadata = match row {
                    Stored::Tombstone { tombstone, .. } => tombstone.metadata,
                    Stored::Object { metadata, .. } => metadata,
                };
                if rows::expired(&metadata, now) {
                    continue;
                }
                let listed = String::from_utf8(key[base_len..].to_vec()).map_err(|_| {
                    Error::Internal("bigtable: a listing index key is not UTF-8".into())
                })?;
                out.push(ListedRow {
                    key: listed,
                    id: rows::parse_id(&path)?,
                    metadata,
                });
                if out.len() >= want {
                    return Ok(ListPage::cut(out, query.limit));
                }
            }
            match page.last() {
                Some((last, _)) if page.len() >= SCAN_PAGE => {
                    start = last.clone();
                    open = true;
                }
                _ => break,
            }
        }
        Ok(ListPage::cut(out, query.limit))
    }

    /// Deletes the index entry `key` whose row is missing, once its last write is older than
    /// [`STALE_GRACE`] (best effort: a later listing tries again).
    async fn drop_stale(&self, key: &[u8], written_micros: i64) {
        // Entry timestamps are the writers' wall clocks, so compare with the wall clock.
        let grace = i64::try_from(STALE_GRACE.as_micros()).unwrap_or(i64::MAX);
        let wall = micros(SystemTime::now());
        if written_micros.saturating_add(grace) >= wall {
            return;
        }
        if let Err(error) = self.table.mutate(key, vec![delete_row()]).await {
            tracing::warn!(%error, "bigtable: cannot delete a stale listing index entry");
        }
    }
}
