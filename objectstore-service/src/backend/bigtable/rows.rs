//! The row layout: keys, columns, cell timestamps, and the conversion between rows and the
//! backend's types (see the module docs of [`super`] for the table).
//!
//! **Invariants**
//!
//! * Every write of an object or tombstone row starts with `DeleteFromRow` in the same
//!   atomic mutation, so a row holds exactly one cell per column and exactly one kind.
//! * The state column `v` is `{version}d{deadline secs}` or `{version}n` (no deadline):
//!   `version` is 16 random hex digits per write, kept by deadline-only updates. Only ASCII
//!   letters and digits, so a predicate on it needs no escaping.
//! * Cells of expiring inline objects are in `fg` with timestamp = deadline (micros, a
//!   whole second, so also valid on millisecond-granularity tables); all other cells are in
//!   `fm` with the writer's wall-clock time (millisecond-aligned).
//! * Reserved keys start with byte `0x00`, which no object path has (paths start with the
//!   usecase, which has no control characters).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bigtable_rs::bigtable::RowCell;
use bigtable_rs::google::bigtable::v2::Mutation;
use bytes::Bytes;
use objectstore_types::{Metadata, ObjectId, time};

use super::client::{FG, FM, delete_row, set};
use crate::backend::Tombstone;
use crate::error::{Error, Result};

/// Metadata JSON (size set).
pub const META: &str = "m";
/// Inline payload.
pub const PAYLOAD: &str = "p";
/// Tombstone target (storage path).
pub const TARGET: &str = "t";
/// Row state (version and deadline).
pub const STATE: &str = "v";

/// Prefix of the change-log rows: `\0log/{change_id}`.
pub const LOG_PREFIX: &[u8] = b"\0log/";
/// Prefix of the lease rows: `\0lease/{instance}`.
pub const LEASE_PREFIX: &[u8] = b"\0lease/";
/// Prefix of the expiry index rows: `\0exp/{deadline secs, 20 digits}/{path}`.
pub const EXP_PREFIX: &[u8] = b"\0exp/";

/// An object or tombstone row as read.
pub enum Stored {
    /// An inline object: metadata (size set), payload (when selected), state.
    Object {
        metadata: Metadata,
        payload: Option<Bytes>,
        state: Vec<u8>,
    },
    /// A redirect tombstone and its state.
    Tombstone {
        tombstone: Tombstone,
        state: Vec<u8>,
    },
}

impl Stored {
    /// The row's state column.
    pub fn state(&self) -> &[u8] {
        match self {
            Self::Object { state, .. } | Self::Tombstone { state, .. } => state,
        }
    }

    /// The row's metadata.
    pub fn metadata(&self) -> &Metadata {
        match self {
            Self::Object { metadata, .. } => metadata,
            Self::Tombstone { tombstone, .. } => &tombstone.metadata,
        }
    }
}

fn corrupt(key: &[u8], what: impl std::fmt::Display) -> Error {
    Error::Internal(format!(
        "bigtable: the stored row {:?} is corrupt: {what}",
        String::from_utf8_lossy(key)
    ))
}

/// Parses a storage path written by this backend.
pub fn parse_id(path: &[u8]) -> Result<ObjectId> {
    std::str::from_utf8(path)
        .ok()
        .and_then(ObjectId::from_storage_path)
        .ok_or_else(|| corrupt(path, "invalid storage path"))
}

fn cell<'a>(cells: &'a [RowCell], family: Option<&str>, qualifier: &str) -> Option<&'a RowCell> {
    cells
        .iter()
        .find(|c| c.qualifier == qualifier.as_bytes() && family.is_none_or(|f| c.family_name == f))
}

/// Decodes an object row's cells (newest per column). `None` for a row that is not a
/// complete object or tombstone: an expiring row whose cells the GC removed only in part
/// reads as absent. `with_payload`: the payload column was selected.
pub fn decode(key: &[u8], cells: &[RowCell], with_payload: bool) -> Result<Option<Stored>> {
    let state = cell(cells, None, STATE).map(|c| c.value.clone());
    let metadata = |c: &RowCell| -> Result<Metadata> {
        serde_json::from_slice(&c.value).map_err(|e| corrupt(key, e))
    };
    if let Some(target) = cell(cells, Some(FM), TARGET) {
        let meta = cell(cells, Some(FM), META).ok_or_else(|| corrupt(key, "no metadata"))?;
        return Ok(Some(Stored::Tombstone {
            tombstone: Tombstone {
                target: parse_id(&target.value)?,
                metadata: metadata(meta)?,
            },
            state: state.ok_or_else(|| corrupt(key, "no state"))?,
        }));
    }
    let (Some(meta), Some(state)) = (cell(cells, None, META), state) else {
        return Ok(None);
    };
    let payload = match (with_payload, cell(cells, None, PAYLOAD)) {
        (false, _) => None,
        (true, Some(p)) => Some(Bytes::from(p.value.clone())),
        (true, None) => return Ok(None),
    };
    Ok(Some(Stored::Object {
        metadata: metadata(meta)?,
        payload,
        state,
    }))
}

/// A fresh state for a new write with `metadata`'s deadline.
pub fn new_state(metadata: &Metadata) -> Vec<u8> {
    state_with(&format!("{:016x}", rand::random::<u64>()), metadata)
}

/// `state` (of a row) moved to `metadata`'s deadline, keeping its version.
pub fn moved_state(state: &[u8], metadata: &Metadata) -> Vec<u8> {
    let version = String::from_utf8_lossy(state.get(..16).unwrap_or(state)).into_owned();
    state_with(&version, metadata)
}

/// Whether two states belong to the same write (deadline updates aside).
pub fn same_version(a: &[u8], b: &[u8]) -> bool {
    a.get(..16).is_some() && a.get(..16) == b.get(..16)
}

fn state_with(version: &str, metadata: &Metadata) -> Vec<u8> {
    match deadline_secs(metadata) {
        Some(secs) => format!("{version}d{secs}").into_bytes(),
        None => format!("{version}n").into_bytes(),
    }
}

/// The metadata as stored.
pub fn encode_metadata(metadata: &Metadata) -> Result<Vec<u8>> {
    serde_json::to_vec(metadata)
        .map_err(|e| Error::Internal(format!("bigtable: cannot encode metadata: {e}")))
}

/// Whole seconds of the deadline, if any.
pub fn deadline_secs(metadata: &Metadata) -> Option<u64> {
    metadata.time_expires.map(time::unix_secs)
}

/// Whether a row with this metadata is expired at `now` (deadlines are whole seconds:
/// `deadline < ceil(now)` iff `deadline < now`).
pub fn expired(metadata: &Metadata, now: SystemTime) -> bool {
    deadline_secs(metadata).is_some_and(|d| d < time::unix_secs(time::ceil_to_second(now)))
}

/// Wall-clock micros, millisecond-aligned, for `fm` cells.
pub fn wall_micros() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    i64::try_from(ms.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn secs_micros(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

/// The mutations that replace the row with an inline object (`metadata` with size set).
pub fn object_mutations(
    metadata: &Metadata,
    payload: &[u8],
    state: Vec<u8>,
) -> Result<Vec<Mutation>> {
    let (family, ts) = match deadline_secs(metadata) {
        Some(secs) => (FG, secs_micros(secs)),
        None => (FM, wall_micros()),
    };
    Ok(vec![
        delete_row(),
        set(family, META, ts, encode_metadata(metadata)?),
        set(family, PAYLOAD, ts, payload.to_vec()),
        set(family, STATE, ts, state),
    ])
}

/// The mutations that replace the row with a tombstone.
pub fn tombstone_mutations(tombstone: &Tombstone) -> Result<Vec<Mutation>> {
    let ts = wall_micros();
    Ok(vec![
        delete_row(),
        set(
            FM,
            TARGET,
            ts,
            tombstone.target.as_storage_path().into_bytes(),
        ),
        set(FM, META, ts, encode_metadata(&tombstone.metadata)?),
        set(FM, STATE, ts, new_state(&tombstone.metadata)),
    ])
}

// --- Reserved rows ---------------------------------------------------------------------------

fn prefixed(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(rest);
    key
}

/// The key just after every key starting with `prefix` (which must not end in `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// The change-log row of `change_id`.
pub fn log_key(change_id: &uuid::Uuid) -> Vec<u8> {
    prefixed(LOG_PREFIX, change_id.hyphenated().to_string().as_bytes())
}

/// The lease row of `instance`.
pub fn lease_key(instance: &str) -> Vec<u8> {
    prefixed(LEASE_PREFIX, instance.as_bytes())
}

/// The start of the expiry index rows of deadline `secs`.
pub fn index_secs(secs: u64) -> Vec<u8> {
    prefixed(EXP_PREFIX, format!("{secs:020}/").as_bytes())
}

/// The expiry index row of `path` at deadline `secs`.
pub fn index_key(secs: u64, path: &str) -> Vec<u8> {
    let mut key = index_secs(secs);
    key.extend_from_slice(path.as_bytes());
    key
}

/// Splits an expiry index key into deadline and path.
pub fn parse_index_key(key: &[u8]) -> Result<(u64, Vec<u8>)> {
    let rest = key
        .strip_prefix(EXP_PREFIX)
        .ok_or_else(|| corrupt(key, "not an index row"))?;
    let (secs, path) = (rest.get(..20), rest.get(21..));
    let secs = secs
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| corrupt(key, "bad deadline"))?;
    Ok((secs, path.unwrap_or_default().to_vec()))
}

/// The instant of whole seconds since the epoch.
pub fn from_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Nanoseconds since the epoch, saturating.
pub fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The instant of nanoseconds since the epoch.
pub fn from_nanos(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_round_trip_and_sort_by_deadline_then_path() {
        let a = index_key(9, "u/objects/z");
        let b = index_key(10, "u/objects/a");
        assert!(a < b);
        assert_eq!(parse_index_key(&b).unwrap(), (10, b"u/objects/a".to_vec()));
        assert!(prefix_end(EXP_PREFIX) > b);
    }

    #[test]
    fn states_keep_the_version_across_deadline_moves() {
        let mut m = Metadata::default();
        let s = new_state(&m);
        assert!(s.iter().all(u8::is_ascii_alphanumeric));
        m.time_expires = Some(from_secs(100));
        let moved = moved_state(&s, &m);
        assert!(same_version(&s, &moved));
        assert!(moved.ends_with(b"d100"));
        assert!(!same_version(&s, &new_state(&m)));
    }
}
