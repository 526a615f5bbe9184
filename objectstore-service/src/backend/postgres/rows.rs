//! Conversions between the backend's types and the column values of the schema
//! ([`super::schema`]): metadata as JSON text, instants as integers, ids as storage paths.
//!
//! **Invariants**
//!
//! * `objects.expires` is `time::unix_secs(metadata.time_expires)`: the same whole seconds
//!   the stored metadata JSON carries, so SQL filters and the decoded metadata agree. An
//!   inline row is expired at `now` iff `expires < ceil_secs(now)` (deadlines are whole
//!   seconds, so this equals `deadline < now`).
//! * Change-log and lease instants are nanoseconds since the epoch (saturating: before 1970
//!   is 0, after 2262 is `i64::MAX`), so records round-trip exactly.
//! * Rows that do not decode (unparsable JSON or path) are reported as [`Error::Internal`]
//!   naming the row: the database holds something this build did not write.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use objectstore_types::{Metadata, ObjectId, time};
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use crate::backend::{ChangeRecord, Tombstone};
use crate::error::{Error, Result};

/// The `kind` of an inline object row.
pub const OBJECT: &str = "object";
/// The `kind` of a redirect tombstone row.
pub const TOMBSTONE: &str = "tombstone";

/// A row of `objects` as read.
pub enum Stored {
    /// An inline object: metadata (size set), payload (when selected), the `expires` and
    /// `version` columns (for conditional deadline updates).
    Object {
        metadata: Metadata,
        payload: Option<Bytes>,
        expires: Option<i64>,
        version: i64,
    },
    /// A redirect tombstone.
    Tombstone(Tombstone),
}

/// The column values of a row to write (see [`super::schema::Statements::put`]).
pub struct WriteRow<'a> {
    pub kind: &'static str,
    pub metadata: String,
    pub payload: Option<&'a [u8]>,
    pub target: Option<String>,
    pub expires: Option<i64>,
    pub version: i64,
}

impl<'a> WriteRow<'a> {
    /// An inline object; `metadata` gets `size = payload.len()`.
    pub fn object(metadata: &Metadata, payload: &'a [u8]) -> Result<Self> {
        let mut metadata = metadata.clone();
        metadata.size = Some(payload.len() as u64);
        Ok(Self {
            kind: OBJECT,
            expires: deadline_secs(&metadata),
            metadata: encode_metadata(&metadata)?,
            payload: Some(payload),
            target: None,
            version: new_version(),
        })
    }

    /// A redirect tombstone.
    pub fn tombstone(tombstone: &Tombstone) -> Result<Self> {
        Ok(Self {
            kind: TOMBSTONE,
            expires: deadline_secs(&tombstone.metadata),
            metadata: encode_metadata(&tombstone.metadata)?,
            payload: None,
            target: Some(tombstone.target.as_storage_path()),
            version: new_version(),
        })
    }
}

/// A fresh row version: random, so that a deleted and re-created row never repeats the
/// version a concurrent conditional update read.
fn new_version() -> i64 {
    rand::random::<i64>()
}

/// The metadata as stored.
pub fn encode_metadata(metadata: &Metadata) -> Result<String> {
    serde_json::to_string(metadata)
        .map_err(|e| Error::Internal(format!("postgres: cannot encode metadata: {e}")))
}

fn corrupt(path: &str, what: impl std::fmt::Display) -> Error {
    Error::Internal(format!(
        "postgres: the stored row {path:?} is corrupt: {what}"
    ))
}

fn get<'r, T>(row: &'r PgRow, path: &str, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column)
        .map_err(|e| corrupt(path, format!("column {column}: {e}")))
}

/// Parses a storage path written by this backend.
pub fn parse_id(path: &str) -> Result<ObjectId> {
    ObjectId::from_storage_path(path).ok_or_else(|| corrupt(path, "invalid storage path"))
}

/// A tombstone from its `metadata` and `target` columns.
pub fn tombstone(path: &str, row: &PgRow) -> Result<Tombstone> {
    let metadata: String = get(row, path, "metadata")?;
    let target: Option<String> = get(row, path, "target")?;
    let target = target.ok_or_else(|| corrupt(path, "tombstone without target"))?;
    Ok(Tombstone {
        target: parse_id(&target)?,
        metadata: serde_json::from_str(&metadata).map_err(|e| corrupt(path, e))?,
    })
}

/// A row selected with `kind, metadata, target, expires, version` (and `payload` when
/// `with_payload`).
pub fn stored(path: &str, row: &PgRow, with_payload: bool) -> Result<Stored> {
    let kind: String = get(row, path, "kind")?;
    if kind == TOMBSTONE {
        return Ok(Stored::Tombstone(tombstone(path, row)?));
    }
    let metadata: String = get(row, path, "metadata")?;
    let payload = if with_payload {
        let bytes: Option<Vec<u8>> = get(row, path, "payload")?;
        Some(Bytes::from(
            bytes.ok_or_else(|| corrupt(path, "object without payload"))?,
        ))
    } else {
        None
    };
    Ok(Stored::Object {
        metadata: serde_json::from_str(&metadata).map_err(|e| corrupt(path, e))?,
        payload,
        expires: get(row, path, "expires")?,
        version: get(row, path, "version")?,
    })
}

/// The `expires` column of a row with this metadata.
pub fn deadline_secs(metadata: &Metadata) -> Option<i64> {
    metadata.time_expires.map(secs)
}

/// Whole seconds since the epoch, rounded down.
pub fn secs(t: SystemTime) -> i64 {
    i64::try_from(time::unix_secs(t)).unwrap_or(i64::MAX)
}

/// `now` rounded up to whole seconds: `expires < ceil_secs(now)` iff the deadline passed.
pub fn ceil_secs(now: SystemTime) -> i64 {
    secs(time::ceil_to_second(now))
}

/// The instant of an `expires` column.
pub fn from_secs(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// Nanoseconds since the epoch, saturating.
pub fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The instant of a nanosecond column.
pub fn from_nanos(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// A change record from a row with every `change_log` column.
pub fn record(row: &PgRow) -> Result<ChangeRecord> {
    let change_id: uuid::Uuid = row
        .try_get("change_id")
        .map_err(|e| corrupt("change_log", e))?;
    let here = format!("change_log/{change_id}");
    let optional_id = |column: &str| -> Result<Option<ObjectId>> {
        let path: Option<String> = get(row, &here, column)?;
        path.as_deref().map(parse_id).transpose()
    };
    let path: String = get(row, &here, "path")?;
    let not_before: Option<i64> = get(row, &here, "not_before")?;
    Ok(ChangeRecord {
        change_id,
        owner: get(row, &here, "owner")?,
        id: parse_id(&path)?,
        old: optional_id("old_path")?,
        new: optional_id("new_path")?,
        upload_id: get(row, &here, "upload_id")?,
        not_before: not_before.map(from_nanos),
    })
}

/// A page size as the `LIMIT` parameter of a scan (at least one).
pub fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}
