//! The SQL of every operation, as plain functions over a [`Connection`].
//!
//! Read functions run on a pooled read-only connection; write functions run on the writer
//! thread inside the group transaction (see [`super::writer`]), so a function that reads and
//! then writes (every conditional write) is atomic: no other write can come in between.
//! All statements go through `prepare_cached`, so a statement is compiled once per connection.

use std::time::SystemTime;

use bytes::Bytes;
use objectstore_types::{Metadata, ObjectId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::backend::{
    ChangeRecord, Expected, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, TieredWrite,
    Tombstone,
};
use crate::error::{Error, Result};
use crate::expiry::{ExtendPlan, plan_extension};

use super::listing::RowKey;
use super::schema::{
    KIND_OBJECT, KIND_TOMBSTONE, db_error, decode_metadata, decode_target, encode_metadata,
    expired_below, expires_of, nanos, secs,
};
use super::vlog::{self, Pointer, ValueLog};

/// A stored row, decoded.
#[derive(Debug)]
pub(super) enum Stored {
    /// An object. `json` is the metadata column exactly as stored (the precondition of a
    /// TTI bump); `payload` is `None` for metadata-only reads and for a payload in the value
    /// log, which `value` then names.
    Object {
        metadata: Metadata,
        json: String,
        payload: Option<Bytes>,
        value: Option<vlog::Value>,
    },
    /// A redirect tombstone.
    Tombstone(Tombstone),
}

fn decode_row(kind: i64, json: &str, target: Option<&str>) -> Result<Stored> {
    let metadata = decode_metadata(json)?;
    match kind {
        KIND_OBJECT => Ok(Stored::Object {
            metadata,
            json: json.to_owned(),
            payload: None,
            value: None,
        }),
        KIND_TOMBSTONE => Ok(Stored::Tombstone(Tombstone {
            target: decode_target(target)?,
            metadata,
        })),
        other => Err(Error::Internal(format!(
            "unknown row kind {other} in the embedded store"
        ))),
    }
}

/// Reads a row, with its payload when `with_payload` (objects only).
pub(super) fn read_row(
    conn: &Connection,
    path: &str,
    with_payload: bool,
) -> Result<Option<Stored>> {
    let err = || db_error("read an object");
    let sql = if with_payload {
        "SELECT kind, metadata, target, payload, vseg, voff, vlen FROM objects WHERE path = ?1"
    } else {
        "SELECT kind, metadata, target, NULL, NULL, NULL, NULL FROM objects WHERE path = ?1"
    };
    let mut stmt = conn.prepare_cached(sql).map_err(err())?;
    let mut rows = stmt.query([path]).map_err(err())?;
    let Some(row) = rows.next().map_err(err())? else {
        return Ok(None);
    };
    let kind: i64 = row.get(0).map_err(err())?;
    let json = row
        .get_ref(1)
        .and_then(|v| Ok(v.as_str()?))
        .map_err(err())?;
    let target: Option<&str> = row
        .get_ref(2)
        .and_then(|v| Ok(v.as_str_or_null()?))
        .map_err(err())?;
    let mut stored = decode_row(kind, json, target)?;
    if let Stored::Object { payload, value, .. } = &mut stored
        && with_payload
    {
        let pointer = vlog::rows::pointer_of(
            row.get(4).map_err(err())?,
            row.get(5).map_err(err())?,
            row.get(6).map_err(err())?,
        );
        if let Some(pointer) = pointer {
            *value = Some(vlog::Value::unlocated(pointer));
        } else {
            let blob = row
                .get_ref(3)
                .and_then(|v| Ok(v.as_blob_or_null()?))
                .map_err(err())?;
            *payload = Some(Bytes::copy_from_slice(blob.unwrap_or_default()));
        }
    }
    Ok(Some(stored))
}

/// How often a read retries after finding its value's segment deleted.
const READ_ATTEMPTS: usize = 8;

/// [`read_row`], with a value-log payload located (read protocol of [`super::vlog`], steps
/// 1 and 2): reads the row again while the payload's segment turns out to be deleted
/// (compaction moved the value and committed the new pointer before deleting it).
pub(super) fn read_row_located(
    conn: &Connection,
    vlog: &ValueLog,
    path: &str,
    with_payload: bool,
) -> Result<Option<Stored>> {
    for _ in 0..READ_ATTEMPTS {
        let mut row = read_row(conn, path, with_payload)?;
        if let Some(Stored::Object { value: slot, .. }) = &mut row
            && let Some(value) = slot.take()
        {
            match vlog.locate(value) {
                Some(located) => *slot = Some(located),
                None => {
                    tracing::debug!(path, "value-log segment gone; reading the row again");
                    continue;
                }
            }
        }
        return Ok(row);
    }
    Err(Error::backend(
        super::NAME,
        "read a value-log payload",
        "its segment is missing (run `objectstore check`)",
    ))
}

/// What a write needs to know of the row it replaces, read without decoding metadata.
struct RowState {
    kind: i64,
    /// A tombstone's target path.
    target: Option<String>,
    /// A value-log object's pointer (the accounting moves off it when the row changes).
    pointer: Option<Pointer>,
}

/// The state of the row at `path`, if there is one.
fn row_state(conn: &Connection, path: &str) -> Result<Option<RowState>> {
    conn.prepare_cached("SELECT kind, target, vseg, voff, vlen FROM objects WHERE path = ?1")
        .and_then(|mut s| {
            s.query_row([path], |r| {
                Ok(RowState {
                    kind: r.get(0)?,
                    target: r.get(1)?,
                    pointer: vlog::rows::pointer_of(r.get(2)?, r.get(3)?, r.get(4)?),
                })
            })
            .optional()
        })
        .map_err(db_error("read a row state"))
}

/// Stores an object (size already set), replacing any row (whose value-log pointer, read in
/// the same job, is `replaced`): inline, or above the value-log threshold appended to the
/// value log with the row pointing at it. The listing columns are set on insert only: they
/// follow from the path, which an update keeps.
pub(super) fn put_object(
    conn: &Connection,
    vlog: &ValueLog,
    key: &RowKey,
    metadata: &Metadata,
    payload: &[u8],
    replaced: Option<Pointer>,
) -> Result<()> {
    let json = encode_metadata(metadata)?;
    let pointer = vlog.append(&key.path, payload)?;
    let inline = pointer.is_none().then_some(payload);
    let [vseg, voff, vlen] = vlog::rows::columns_of(pointer);
    conn.prepare_cached(
        "INSERT INTO objects (path, kind, metadata, expires, target, payload, vseg, voff, vlen,
                              usecase, list_key)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, metadata = excluded.metadata,
             expires = excluded.expires, target = NULL, payload = excluded.payload,
             vseg = excluded.vseg, voff = excluded.voff, vlen = excluded.vlen",
    )
    .and_then(|mut s| {
        s.execute(params![
            key.path,
            KIND_OBJECT,
            json,
            expires_of(metadata),
            inline,
            vseg,
            voff,
            vlen,
            key.usecase,
            key.list_key,
        ])
    })
    .map_err(db_error("write an object"))?;
    vlog::rows::account(conn, replaced, pointer)
}

/// Stores a tombstone, replacing any row (whose value-log pointer is `replaced`; listing
/// columns as in [`put_object`]).
fn put_tombstone(
    conn: &Connection,
    key: &RowKey,
    tombstone: &Tombstone,
    replaced: Option<Pointer>,
) -> Result<()> {
    let json = encode_metadata(&tombstone.metadata)?;
    conn.prepare_cached(
        "INSERT INTO objects (path, kind, metadata, expires, target, payload, usecase, list_key)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7)
         ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, metadata = excluded.metadata,
             expires = excluded.expires, target = excluded.target, payload = NULL,
             vseg = NULL, voff = NULL, vlen = NULL",
    )
    .and_then(|mut s| {
        s.execute(params![
            key.path,
            KIND_TOMBSTONE,
            json,
            expires_of(&tombstone.metadata),
            tombstone.target.as_storage_path(),
            key.usecase,
            key.list_key,
        ])
    })
    .map_err(db_error("write a tombstone"))?;
    vlog::rows::account(conn, replaced, None)
}

/// Deletes the row (missing is fine; its value-log pointer is `replaced`).
fn delete_row(conn: &Connection, path: &str, replaced: Option<Pointer>) -> Result<()> {
    conn.prepare_cached("DELETE FROM objects WHERE path = ?1")
        .and_then(|mut s| s.execute([path]))
        .map_err(db_error("delete an object"))?;
    vlog::rows::account(conn, replaced, None)
}

/// The tombstone stored at `path`, if the row is one.
fn tombstone_at(conn: &Connection, path: &str) -> Result<Option<Tombstone>> {
    match read_row(conn, path, false)? {
        Some(Stored::Tombstone(t)) => Ok(Some(t)),
        _ => Ok(None),
    }
}

/// `put`: writes unless the row is a tombstone, which it returns.
pub(super) fn put(
    conn: &Connection,
    vlog: &ValueLog,
    key: &RowKey,
    metadata: &Metadata,
    payload: &[u8],
) -> Result<Option<Tombstone>> {
    let path = key.path.as_str();
    let state = row_state(conn, path)?;
    if let Some(RowState {
        kind: KIND_TOMBSTONE,
        ..
    }) = state
    {
        return tombstone_at(conn, path);
    }
    let replaced = state.and_then(|s| s.pointer);
    put_object(conn, vlog, key, metadata, payload, replaced)?;
    Ok(None)
}

/// `delete`: deletes unless the row is a tombstone, which it returns.
pub(super) fn delete(conn: &Connection, path: &str) -> Result<Option<Tombstone>> {
    match row_state(conn, path)? {
        None => Ok(None),
        Some(RowState {
            kind: KIND_TOMBSTONE,
            ..
        }) => tombstone_at(conn, path),
        Some(state) => {
            delete_row(conn, path, state.pointer)?;
            Ok(None)
        }
    }
}

/// `compare_and_write`: see [`crate::backend::HighVolumeBackend::compare_and_write`].
/// Without a precondition only the row's kind and target are read; with one, its metadata
/// too, judged at `now`.
pub(super) fn compare_and_write(
    conn: &Connection,
    vlog: &ValueLog,
    key: &RowKey,
    expected: &Expected,
    write: &TieredWrite,
    now: SystemTime,
) -> Result<bool> {
    let path = key.path.as_str();
    let current = expected.revision.as_ref().map(ObjectId::as_storage_path);
    let state = row_state(conn, path)?;
    let metadata = match (&expected.precondition, &state) {
        (Some(_), Some(_)) => match read_row(conn, path, false)? {
            Some(Stored::Object { metadata, .. }) => Some(metadata),
            Some(Stored::Tombstone(t)) => Some(t.metadata),
            None => None,
        },
        _ => None,
    };
    let stored_target = match &state {
        Some(RowState {
            kind: KIND_TOMBSTONE,
            target,
            ..
        }) => Some(target.as_deref().unwrap_or_default()),
        _ => None,
    };
    let holds = expected
        .precondition
        .as_ref()
        .is_none_or(|p| p.holds(metadata.as_ref(), now));
    if stored_target == current.as_deref() && holds {
        let replaced = state.and_then(|s| s.pointer);
        match write {
            TieredWrite::Object(metadata, payload) => {
                put_object(conn, vlog, key, metadata, payload, replaced)?;
            }
            TieredWrite::Tombstone(t) => put_tombstone(conn, key, t, replaced)?,
            TieredWrite::Delete => delete_row(conn, path, replaced)?,
        }
        return Ok(true);
    }
    // Expectation failed: report success if the row already is in the written state.
    let unconditional = expected.precondition.is_none();
    Ok(match (write, state.map(|s| (s.kind, s.target))) {
        (TieredWrite::Object(..), Some((KIND_OBJECT, _))) => unconditional,
        (TieredWrite::Tombstone(t), Some((KIND_TOMBSTONE, Some(target)))) => {
            t.target.as_storage_path() == target
        }
        (TieredWrite::Delete, None) => unconditional,
        _ => false,
    })
}

/// `delete_if_expired`: deletes the row if its deadline is earlier than `now`.
pub(super) fn delete_if_expired(
    conn: &Connection,
    path: &str,
    now: SystemTime,
) -> Result<Option<Tombstone>> {
    let expired: Option<(i64, Option<Pointer>)> = conn
        .prepare_cached(
            "SELECT kind, vseg, voff, vlen FROM objects WHERE path = ?1 AND expires < ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![path, expired_below(now)], |r| {
                let pointer = vlog::rows::pointer_of(r.get(1)?, r.get(2)?, r.get(3)?);
                Ok((r.get(0)?, pointer))
            })
            .optional()
        })
        .map_err(db_error("read an expired row"))?;
    let Some((kind, pointer)) = expired else {
        return Ok(None);
    };
    let tombstone = match kind {
        KIND_TOMBSTONE => tombstone_at(conn, path)?,
        _ => None,
    };
    delete_row(conn, path, pointer)?;
    Ok(tombstone)
}

/// `extend_expiry` of an inline object (tombstones count as absent), read and written in one
/// step. `now` is the request-start time, `clock_now` the backend clock's time (an object
/// expired by either counts as absent).
pub(super) fn extend_expiry(
    conn: &Connection,
    path: &str,
    target: ExpiryTarget,
    now: SystemTime,
    clock_now: SystemTime,
) -> Result<ExtendOutcome> {
    let metadata = match read_row(conn, path, false)? {
        Some(Stored::Object { metadata, .. }) if !metadata.is_expired(clock_now) => Some(metadata),
        _ => None,
    };
    match plan_extension(metadata.as_ref(), target, now) {
        ExtendPlan::Done(outcome) => Ok(outcome),
        ExtendPlan::Update(updated) => {
            update_metadata(conn, path, &updated, None)?;
            Ok(ExtendOutcome::Satisfied)
        }
    }
}

/// Replaces the metadata of an inline object, if it is still stored with metadata `expected`
/// (when given). Returns whether a row changed.
pub(super) fn update_metadata(
    conn: &Connection,
    path: &str,
    metadata: &Metadata,
    expected: Option<&str>,
) -> Result<bool> {
    let json = encode_metadata(metadata)?;
    let changed = conn
        .prepare_cached(
            "UPDATE objects SET metadata = ?2, expires = ?3
             WHERE path = ?1 AND kind = ?4 AND (?5 IS NULL OR metadata = ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                path,
                json,
                expires_of(metadata),
                KIND_OBJECT,
                expected
            ])
        })
        .map_err(db_error("update metadata"))?;
    Ok(changed > 0)
}

/// `scan_expired`.
pub(super) fn scan_expired(
    conn: &Connection,
    now: SystemTime,
    after: Option<&ExpiryCursor>,
    limit: usize,
) -> Result<Vec<ExpiredRow>> {
    let err = || db_error("scan expired rows");
    let (after_secs, after_path) = match after {
        Some((t, p)) => (secs(*t), p.as_str()),
        None => (i64::MIN, ""),
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT path, kind, metadata, target, expires FROM objects
             WHERE expires IS NOT NULL AND expires < ?1 AND (expires, path) > (?2, ?3)
             ORDER BY expires, path LIMIT ?4",
        )
        .map_err(err())?;
    let mut rows = stmt
        .query(params![expired_below(now), after_secs, after_path, limit])
        .map_err(err())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err())? {
        let path: String = row.get(0).map_err(err())?;
        let kind: i64 = row.get(1).map_err(err())?;
        let json: String = row.get(2).map_err(err())?;
        let target: Option<String> = row.get(3).map_err(err())?;
        let expires: i64 = row.get(4).map_err(err())?;
        let id = objectstore_types::ObjectId::from_storage_path(&path).ok_or_else(|| {
            Error::Internal(format!("corrupt path in the embedded store: {path:?}"))
        })?;
        let tombstone = match decode_row(kind, &json, target.as_deref())? {
            Stored::Tombstone(t) => Some(t),
            Stored::Object { .. } => None,
        };
        out.push(ExpiredRow {
            id,
            expires: objectstore_types::time::from_unix_secs(u64::try_from(expires).unwrap_or(0)),
            tombstone,
        });
    }
    Ok(out)
}

fn encode_record(record: &ChangeRecord) -> Result<String> {
    serde_json::to_string(record)
        .map_err(|e| Error::Internal(format!("cannot encode a change record: {e}")))
}

fn decode_record(json: &str) -> Result<ChangeRecord> {
    serde_json::from_str(json)
        .map_err(|e| Error::Internal(format!("corrupt change record in the embedded store: {e}")))
}

/// `append_record` (replaces a record with the same id, so a retried append is harmless).
pub(super) fn append_record(conn: &Connection, record: &ChangeRecord) -> Result<()> {
    let json = encode_record(record)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO changelog (change_id, owner, deferred_until, record)
         VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| {
        s.execute(params![
            record.change_id.as_bytes().as_slice(),
            record.owner,
            record.not_before.map(nanos),
            json
        ])
    })
    .map_err(db_error("append to the change log"))?;
    Ok(())
}

/// `get_record`.
pub(super) fn get_record(
    conn: &Connection,
    change_id: &uuid::Uuid,
) -> Result<Option<ChangeRecord>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT record FROM changelog WHERE change_id = ?1")
        .and_then(|mut s| {
            s.query_row([change_id.as_bytes().as_slice()], |r| r.get(0))
                .optional()
        })
        .map_err(db_error("read the change log"))?;
    json.as_deref().map(decode_record).transpose()
}

/// `remove_record`.
pub(super) fn remove_record(conn: &Connection, change_id: &uuid::Uuid) -> Result<()> {
    conn.prepare_cached("DELETE FROM changelog WHERE change_id = ?1")
        .and_then(|mut s| s.execute([change_id.as_bytes().as_slice()]))
        .map_err(db_error("remove from the change log"))?;
    Ok(())
}

/// `claim_records`: selects the due records and takes them over in the same transaction.
///
/// A claimed record stops being deferred (`not_before` and `deferred_until` are cleared):
/// from then on only the claimant's lease protects it, so no second live claimant can take
/// it. A lease is live up to and including its `until`.
pub(super) fn claim_records(
    conn: &Connection,
    claimant: &str,
    now: SystemTime,
    ignore_leases: bool,
    limit: usize,
) -> Result<Vec<ChangeRecord>> {
    let err = || db_error("claim change-log records");
    let now = nanos(now);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let due: Vec<(Vec<u8>, String)> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.change_id, c.record FROM changelog c
                 WHERE (c.deferred_until IS NOT NULL AND c.deferred_until <= ?2)
                    OR (c.deferred_until IS NULL AND c.owner <> ?1 AND (?3 OR NOT EXISTS (
                        SELECT 1 FROM leases l WHERE l.instance = c.owner AND l.until >= ?2)))
                 ORDER BY c.change_id LIMIT ?4",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map(params![claimant, now, ignore_leases, limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(err())?
    };
    let mut claimed = Vec::with_capacity(due.len());
    let mut update = conn
        .prepare_cached(
            "UPDATE changelog SET owner = ?2, deferred_until = NULL, record = ?3
             WHERE change_id = ?1",
        )
        .map_err(err())?;
    for (change_id, json) in due {
        let mut record = decode_record(&json)?;
        record.owner = claimant.to_owned();
        record.not_before = None;
        update
            .execute(params![change_id, claimant, encode_record(&record)?])
            .map_err(err())?;
        claimed.push(record);
    }
    Ok(claimed)
}

/// `count_records`.
pub(super) fn count_records(conn: &Connection) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM changelog")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db_error("count the change log"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `renew_lease`.
pub(super) fn renew_lease(conn: &Connection, instance: &str, until: SystemTime) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO leases (instance, until) VALUES (?1, ?2)
         ON CONFLICT (instance) DO UPDATE SET until = excluded.until",
    )
    .and_then(|mut s| s.execute(params![instance, nanos(until)]))
    .map_err(db_error("renew a lease"))?;
    Ok(())
}

/// `release_lease`.
pub(super) fn release_lease(conn: &Connection, instance: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM leases WHERE instance = ?1")
        .and_then(|mut s| s.execute([instance]))
        .map_err(db_error("release a lease"))?;
    Ok(())
}
