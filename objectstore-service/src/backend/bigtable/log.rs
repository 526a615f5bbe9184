//! [`ChangeLog`] for [`BigtableBackend`]: the change log and the instance leases (see the
//! module docs of [`super`], "Protocols", for the claim and why one record never goes to
//! two live claimants).
//!
//! A record row `\0log/{change_id}` holds the whole [`ChangeRecord`] as JSON in `fm:r` and
//! a state `fm:v` that every write of the row replaces (so a claim can be conditional on
//! the record being unchanged since it was read). A lease row `\0lease/{instance}` holds
//! the lease end in nanoseconds since the epoch (decimal) in `fm:u`. Scans of records and
//! leases (for `objectstore check`) only read.

use std::collections::HashMap;
use std::time::SystemTime;

use async_trait::async_trait;

use super::BigtableBackend;
use super::client::{FM, delete_row, keys_only, latest, newest, range, set};
use super::rows::{self, LEASE_PREFIX, LOG_PREFIX, STATE, prefix_end};
use crate::backend::{ChangeLog, ChangeRecord, Claim, Lease};
use crate::error::{Error, Result};

/// The record column.
const RECORD: &str = "r";
/// The lease-end column.
const UNTIL: &str = "u";
/// Log rows read per page while claiming.
const PAGE: usize = 256;

fn corrupt(key: &[u8], what: impl std::fmt::Display) -> Error {
    Error::Internal(format!(
        "bigtable: the change-log row {:?} is corrupt: {what}",
        String::from_utf8_lossy(key)
    ))
}

/// The mutations that replace a record row with `record` and a fresh state.
fn record_mutations(record: &ChangeRecord) -> Result<Vec<super::client::Mutation>> {
    let json = serde_json::to_vec(record)
        .map_err(|e| Error::Internal(format!("bigtable: cannot encode a change record: {e}")))?;
    let ts = rows::wall_micros();
    let state = format!("{:032x}", rand::random::<u128>()).into_bytes();
    Ok(vec![
        delete_row(),
        set(FM, RECORD, ts, json),
        set(FM, STATE, ts, state),
    ])
}

/// A record and its state from a row's cells.
fn decode(key: &[u8], cells: &[bigtable_rs::bigtable::RowCell]) -> Result<(ChangeRecord, Vec<u8>)> {
    let column = |q: &str| {
        cells
            .iter()
            .find(|c| c.family_name == FM && c.qualifier == q.as_bytes())
            .ok_or_else(|| corrupt(key, format!("no column {q}")))
    };
    let record = serde_json::from_slice(&column(RECORD)?.value).map_err(|e| corrupt(key, e))?;
    Ok((record, column(STATE)?.value.clone()))
}

impl BigtableBackend {
    /// Lease ends by instance.
    async fn leases(&self) -> Result<HashMap<String, SystemTime>> {
        let rows = self
            .table
            .read_rows(
                range(LEASE_PREFIX.to_vec(), false, prefix_end(LEASE_PREFIX)),
                latest(),
                0,
            )
            .await?;
        let mut leases = HashMap::new();
        for (key, cells) in rows {
            let instance = String::from_utf8_lossy(&key[LEASE_PREFIX.len()..]).into_owned();
            let until = cells
                .iter()
                .find(|c| c.family_name == FM && c.qualifier == UNTIL.as_bytes())
                .and_then(|c| std::str::from_utf8(&c.value).ok()?.parse::<u64>().ok())
                .ok_or_else(|| corrupt(&key, "bad lease"))?;
            leases.insert(instance, rows::from_nanos(until));
        }
        Ok(leases)
    }
}

#[async_trait]
impl ChangeLog for BigtableBackend {
    async fn append_record(&self, record: &ChangeRecord) -> Result<()> {
        self.table
            .mutate(&rows::log_key(&record.change_id), record_mutations(record)?)
            .await
    }

    async fn get_record(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        let key = rows::log_key(change_id);
        match self.table.read_row(&key, latest()).await? {
            None => Ok(None),
            Some(cells) => Ok(Some(decode(&key, &cells)?.0)),
        }
    }

    async fn remove_record(&self, change_id: &uuid::Uuid) -> Result<()> {
        self.table
            .mutate(&rows::log_key(change_id), vec![delete_row()])
            .await
    }

    async fn claim_records(&self, claim: &Claim<'_>) -> Result<Vec<ChangeRecord>> {
        let mut claimed = Vec::new();
        if claim.limit == 0 {
            return Ok(claimed);
        }
        let leases = self.leases().await?;
        let live = |owner: &str| leases.get(owner).is_some_and(|until| *until >= claim.now);
        let (mut start, mut open) = (LOG_PREFIX.to_vec(), false);
        let end = prefix_end(LOG_PREFIX);
        'pages: loop {
            let page = self
                .table
                .read_rows(
                    range(start.clone(), open, end.clone()),
                    latest(),
                    PAGE as i64,
                )
                .await?;
            for (key, cells) in &page {
                let (record, state) = decode(key, cells)?;
                if !claim.is_due(&record, live(&record.owner)) {
                    continue;
                }
                let mut mine = record;
                mine.owner = claim.claimant.to_owned();
                mine.not_before = None;
                let unchanged = newest(Some(FM), STATE, Some(&state));
                let applied = self
                    .table
                    .check_and_mutate(key, unchanged, record_mutations(&mine)?, vec![])
                    .await?;
                if applied {
                    claimed.push(mine);
                    if claimed.len() >= claim.limit {
                        break 'pages;
                    }
                }
            }
            match page.last() {
                Some((last, _)) if page.len() >= PAGE => {
                    start = last.clone();
                    open = true;
                }
                _ => break,
            }
        }
        claimed.sort_by_key(|r| r.change_id);
        Ok(claimed)
    }

    /// Records in `change_id` order after `after` (the hyphenated UUID text of the row key
    /// sorts like the UUID), at most `limit`. Reads only.
    async fn scan_records(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let (start, open) = match after {
            Some(change_id) => (rows::log_key(change_id), true),
            None => (LOG_PREFIX.to_vec(), false),
        };
        let page = self
            .table
            .read_rows(
                range(start, open, prefix_end(LOG_PREFIX)),
                latest(),
                i64::try_from(limit.max(1)).unwrap_or(i64::MAX),
            )
            .await?;
        page.iter()
            .map(|(key, cells)| Ok(decode(key, cells)?.0))
            .collect()
    }

    /// Every stored lease, in instance order.
    async fn list_leases(&self) -> Result<Vec<Lease>> {
        let mut leases: Vec<_> = self
            .leases()
            .await?
            .into_iter()
            .map(|(instance, until)| Lease { instance, until })
            .collect();
        leases.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(leases)
    }

    async fn count_records(&self) -> Result<u64> {
        let rows = self
            .table
            .read_rows(
                range(LOG_PREFIX.to_vec(), false, prefix_end(LOG_PREFIX)),
                keys_only(),
                0,
            )
            .await?;
        Ok(rows.len() as u64)
    }

    async fn renew_lease(&self, instance: &str, until: SystemTime) -> Result<()> {
        let value = rows::nanos(until).to_string().into_bytes();
        let write = vec![delete_row(), set(FM, UNTIL, rows::wall_micros(), value)];
        self.table.mutate(&rows::lease_key(instance), write).await
    }

    async fn release_lease(&self, instance: &str) -> Result<()> {
        self.table
            .mutate(&rows::lease_key(instance), vec![delete_row()])
            .await
    }

    fn is_exclusive(&self) -> bool {
        false
    }
}
