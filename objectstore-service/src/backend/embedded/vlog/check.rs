//! `objectstore check` on the value log: every pointer and the accounting, verified (and
//! with `repair`, fixed).
//!
//! # Procedure
//!
//! 1. Every row with a pointer, in `(segment, offset)` order: its segment must exist, the
//!    pointer must lie inside it, and the record there must carry this row's path and
//!    length, a valid header checksum and a payload matching its CRC-32C. Otherwise the
//!    object's payload is **lost** (or damaged): a GET fails.
//! 2. The accounting: `vlog_segments.live` of every segment must equal the sum of the
//!    lengths of the rows pointing into it (what compaction and the reclaimable-bytes
//!    metric rely on).
//! 3. The sizes (segments, bytes, live and reclaimable bytes), for the report.
//!
//! With `repair`: a lost value's row is deleted if it still points at the same place (the
//! object was lost before; it is reported as lost, like a dangling tombstone); the
//! accounting is set to the sums; then one compaction pass without the I/O bound reclaims
//! the segments whose garbage share reached the configured ratio (tails left by crashes
//! included). Unreferenced segment files were already deleted when the store was opened
//! (listed as `removed_at_open`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};

use super::super::EmbeddedBackend;
use super::super::schema::open_reader;
use super::{CompactionReport, Pointer, rows};

/// Rows read per page in step 1.
const PAGE: usize = 1000;

/// An object whose value-log payload cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostValue {
    /// The object (its storage path).
    pub id: String,
    /// The segment the row points into.
    pub segment: u64,
    /// The payload offset.
    pub offset: u64,
    /// The payload length.
    pub len: u64,
    /// What is wrong.
    pub reason: String,
    /// Whether the row was removed.
    pub repaired: bool,
}

/// A segment whose accounting disagrees with its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountingError {
    /// The segment.
    pub segment: u64,
    /// `vlog_segments.live`.
    pub recorded: u64,
    /// The sum over the rows.
    pub actual: u64,
    /// Whether it was set to the sum.
    pub repaired: bool,
}

/// The value log's part of the check report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValueLogCheck {
    /// Rows whose payload is in the value log.
    pub values: u64,
    /// Their payload bytes.
    pub value_bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes in them.
    pub segment_bytes: u64,
    /// Bytes compaction can give back (before any repair).
    pub reclaimable_bytes: u64,
    /// Segment files nothing referenced, deleted when the store was opened for the check.
    pub removed_at_open: Vec<u64>,
    /// Objects whose payload is lost or damaged.
    pub lost_values: Vec<LostValue>,
    /// Segments whose accounting was wrong.
    pub accounting_errors: Vec<AccountingError>,
    /// What the repair's compaction did.
    pub compaction: Option<CompactionReport>,
    /// Repairs that failed.
    pub errors: Vec<String>,
}

impl ValueLogCheck {
    /// Problems found (lost values, accounting errors).
    pub fn problems(&self) -> u64 {
        (self.lost_values.len() + self.accounting_errors.len()) as u64
    }

    /// Problems not repaired.
    pub fn unrepaired(&self) -> u64 {
        let lost = self.lost_values.iter().filter(|v| !v.repaired).count();
        let accounting = self
            .accounting_errors
            .iter()
            .filter(|a| !a.repaired)
            .count();
        (lost + accounting) as u64
    }
}

impl EmbeddedBackend {
    /// Verifies (and with `repair` fixes) the value log: see the module docs of the check.
    /// Errors of the scans end the check; errors of repairs are listed in the report.
    pub async fn check_value_log(&self, repair: bool) -> Result<ValueLogCheck> {
        let vlog = Arc::clone(&self.inner.vlog);
        let db_path = self.inner.dir.join(super::super::DB_FILE);
        let mut report = tokio::task::spawn_blocking(move || -> Result<ValueLogCheck> {
            let conn = open_reader(&db_path)?;
            let mut report = ValueLogCheck::default();
            // 1.
            let mut after: Option<Pointer> = None;
            loop {
                let page = rows::pointer_page(&conn, after, PAGE)?;
                for (path, pointer) in &page {
                    report.values += 1;
                    report.value_bytes += pointer.len;
                    let fault = match vlog.table().get(&pointer.segment).cloned() {
                        None => Some("its segment is missing".to_owned()),
                        Some(segment) => segment
                            .read_verified(path, pointer.offset, pointer.len)
                            .map_err(|e| Error::backend(super::NAME, "read a value-log record", e))?
                            .err()
                            .map(|f| f.to_string()),
                    };
                    if let Some(reason) = fault {
                        report.lost_values.push(LostValue {
                            id: path.clone(),
                            segment: pointer.segment,
                            offset: pointer.offset,
                            len: pointer.len,
                            reason,
                            repaired: false,
                        });
                    }
                }
                match page.last() {
                    Some((_, last)) if page.len() >= PAGE => after = Some(*last),
                    _ => break,
                }
            }
            // 2.
            let recorded = rows::segment_rows(&conn)?;
            let actual = rows::summed_live(&conn)?;
            let ids: std::collections::BTreeSet<u64> =
                recorded.keys().chain(actual.keys()).copied().collect();
            for id in ids {
                let (r, a) = (
                    recorded.get(&id).copied().unwrap_or(0),
                    actual.get(&id).copied().unwrap_or(0),
                );
                let missing_row = a > 0 && !recorded.contains_key(&id);
                if r != a || missing_row {
                    report.accounting_errors.push(AccountingError {
                        segment: id,
                        recorded: r,
                        actual: a,
                        repaired: false,
                    });
                }
            }
            // 3.
            let stats = vlog.stats(&conn)?;
            report.segments = stats.segments;
            report.segment_bytes = stats.bytes;
            report.reclaimable_bytes = stats.reclaimable_bytes;
            Ok(report)
        })
        .await
        .map_err(|e| Error::Internal(format!("the value-log check failed: {e}")))??;
        report.removed_at_open = self.inner.opened.removed_segments.clone();
        if repair {
            self.repair_value_log(&mut report).await;
        }
        Ok(report)
    }

    async fn repair_value_log(&self, report: &mut ValueLogCheck) {
        for lost in &mut report.lost_values {
            let path = lost.id.clone();
            let pointer = Pointer {
                segment: lost.segment,
                offset: lost.offset,
                len: lost.len,
            };
            match self
                .write("remove an object whose payload is lost", move |c| {
                    rows::forget_lost(c, &path, pointer)
                })
                .await
            {
                Ok(_) => lost.repaired = true,
                Err(e) => report.errors.push(format!("remove {}: {e}", lost.id)),
            }
        }
        if !report.accounting_errors.is_empty() {
            let fixed = self
                .write("repair the value-log accounting", |c| {
                    let actual: BTreeMap<u64, u64> = rows::summed_live(c)?;
                    for (id, _) in rows::segment_rows(c)? {
                        rows::set_live(c, id, actual.get(&id).copied().unwrap_or(0))?;
                    }
                    for (&id, &live) in &actual {
                        rows::set_live(c, id, live)?;
                    }
                    Ok(())
                })
                .await;
            match fixed {
                Ok(()) => report
                    .accounting_errors
                    .iter_mut()
                    .for_each(|a| a.repaired = true),
                Err(e) => report.errors.push(format!("value-log accounting: {e}")),
            }
        }
        match self.compact_now(None).await {
            Ok(done) => report.compaction = Some(done),
            Err(e) => report.errors.push(format!("value-log compaction: {e}")),
        }
    }
}
