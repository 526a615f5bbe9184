//! The value log's SQL (its tables are version 2 of the schema, `schema::SCHEMA_V2`; the
//! accounting is explicit since version 3).
//!
//! **Invariants**
//!
//! * A row's pointer columns (`vseg`, `voff`, `vlen`) are all NULL (inline object,
//!   tombstone) or all set (value-log object, whose `payload` is NULL).
//! * `vlog_segments.live` equals the sum of `vlen` over the rows pointing into the segment:
//!   every statement that sets, replaces or removes a row's pointer (`put_object`,
//!   `put_tombstone` and `delete_row` in `sql`, [`move_value`] and [`forget_lost`] here) is
//!   followed in the same writer job by [`account`] with the pointer the row had (read
//!   earlier in that job) and the one it has now, so the accounting commits (or rolls back)
//!   with the change itself. No other statement writes the pointer columns. A segment row
//!   is created by the first pointer into the segment and dropped only by compaction, in a
//!   transaction that proves no row points into it ([`drop_segment`]).
//! * The partial index `objects_vseg` serves compaction (live values of one segment, in
//!   file order) and `check`; inline rows are not in it.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

use super::super::schema::db_error;
use super::{Pointer, ValueLog};

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The pointer of a row from its three columns, if it has one.
pub(in super::super) fn pointer_of(
    vseg: Option<i64>,
    voff: Option<i64>,
    vlen: Option<i64>,
) -> Option<Pointer> {
    Some(Pointer {
        segment: to_u64(vseg?),
        offset: to_u64(voff?),
        len: to_u64(vlen?),
    })
}

/// The pointer columns of a row: all NULL for `None`.
pub(in super::super) fn columns_of(pointer: Option<Pointer>) -> [Option<i64>; 3] {
    match pointer {
        None => [None; 3],
        Some(p) => [
            Some(to_i64(p.segment)),
            Some(to_i64(p.offset)),
            Some(to_i64(p.len)),
        ],
    }
}

/// Moves the accounting of one row from its pointer `before` to its pointer `after` (either
/// may be absent: an inline object, a tombstone, no row). Runs in the writer job that changed
/// the row, right after the change (see the module invariants).
pub(in super::super) fn account(
    conn: &Connection,
    before: Option<Pointer>,
    after: Option<Pointer>,
) -> Result<()> {
    if before == after {
        return Ok(());
    }
    let err = || db_error("account value-log bytes");
    if let Some(p) = before {
        conn.prepare_cached("UPDATE vlog_segments SET live = live - ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![to_i64(p.segment), to_i64(p.len)]))
            .map_err(err())?;
    }
    if let Some(p) = after {
        conn.prepare_cached(
            "INSERT INTO vlog_segments (id, live) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET live = live + excluded.live",
        )
        .and_then(|mut s| s.execute(params![to_i64(p.segment), to_i64(p.len)]))
        .map_err(err())?;
    }
    Ok(())
}

/// The `(segment, bytes)` pairs a query returns, as a map.
fn bytes_by_segment(
    conn: &Connection,
    sql: &str,
    operation: &'static str,
) -> Result<BTreeMap<u64, u64>> {
    let err = || db_error(operation);
    let mut stmt = conn.prepare_cached(sql).map_err(err())?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .map_err(err())?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (id, bytes) = row.map_err(err())?;
        out.insert(to_u64(id), to_u64(bytes));
    }
    Ok(out)
}

/// `vlog_segments`: live bytes by segment.
pub(super) fn segment_rows(conn: &Connection) -> Result<BTreeMap<u64, u64>> {
    bytes_by_segment(
        conn,
        "SELECT id, live FROM vlog_segments",
        "read the value-log accounting",
    )
}

/// Whether any row points into segment `id`.
pub(super) fn is_referenced(conn: &Connection, id: u64) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM objects WHERE vseg = ?1)")
        .and_then(|mut s| s.query_row([to_i64(id)], |r| r.get(0)))
        .map_err(db_error("look up value-log references"))
}

/// The rows pointing into segment `id`, in file order (compaction step 1).
pub(super) fn live_values(conn: &Connection, id: u64) -> Result<Vec<(String, Pointer)>> {
    let err = || db_error("list live values of a segment");
    let mut stmt = conn
        .prepare_cached("SELECT path, voff, vlen FROM objects WHERE vseg = ?1 ORDER BY voff")
        .map_err(err())?;
    let rows = stmt
        .query_map([to_i64(id)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(err())?;
    let mut out = Vec::new();
    for row in rows {
        let (path, offset, len) = row.map_err(err())?;
        out.push((
            path,
            Pointer {
                segment: id,
                offset: to_u64(offset),
                len: to_u64(len),
            },
        ));
    }
    Ok(out)
}

/// The pointer the row at `path` holds now.
fn current_pointer(conn: &Connection, path: &str) -> Result<Option<Pointer>> {
    let columns: Option<(Option<i64>, Option<i64>, Option<i64>)> = conn
        .prepare_cached("SELECT vseg, voff, vlen FROM objects WHERE path = ?1")
        .and_then(|mut s| {
            s.query_row([path], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(db_error("read a value-log pointer"))?;
    Ok(columns.and_then(|(s, o, l)| pointer_of(s, o, l)))
}

/// Compaction step 2, on the writer thread: if the row at `path` still points at `from`,
/// appends `payload` to the active segment and swaps the row's pointer to it
/// (compare-and-swap, then the accounting moves with it). Returns whether it moved.
pub(super) fn move_value(
    conn: &Connection,
    vlog: &ValueLog,
    path: &str,
    from: Pointer,
    payload: &[u8],
) -> Result<bool> {
    if current_pointer(conn, path)? != Some(from) {
        return Ok(false);
    }
    let to = vlog.append_always(path, payload)?;
    let [vseg, voff, vlen] = columns_of(Some(to));
    let changed = conn
        .prepare_cached(
            "UPDATE objects SET vseg = ?2, voff = ?3, vlen = ?4
             WHERE path = ?1 AND vseg = ?5 AND voff = ?6",
        )
        .and_then(|mut s| {
            s.execute(params![
                path,
                vseg,
                voff,
                vlen,
                to_i64(from.segment),
                to_i64(from.offset)
            ])
        })
        .map_err(db_error("move a value-log payload"))?;
    if changed != 1 {
        return Ok(false);
    }
    account(conn, Some(from), Some(to))?;
    Ok(true)
}

/// Compaction step 3, on the writer thread: drops segment `id`'s accounting row if no row
/// points into it (the segment's commit point of deletion). Returns whether it may go.
pub(super) fn drop_segment(conn: &Connection, id: u64) -> Result<bool> {
    if is_referenced(conn, id)? {
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM vlog_segments WHERE id = ?1")
        .and_then(|mut s| s.execute([to_i64(id)]))
        .map_err(db_error("drop a value-log segment"))?;
    Ok(true)
}

/// One page of value-log rows in `(segment, offset)` order after `after` (for `check`).
pub(super) fn pointer_page(
    conn: &Connection,
    after: Option<Pointer>,
    limit: usize,
) -> Result<Vec<(String, Pointer)>> {
    let err = || db_error("scan value-log pointers");
    let (seg, off) = after.map_or((-1, -1), |p| (to_i64(p.segment), to_i64(p.offset)));
    let mut stmt = conn
        .prepare_cached(
            "SELECT path, vseg, voff, vlen FROM objects
             WHERE vseg IS NOT NULL AND (vseg, voff) > (?1, ?2)
             ORDER BY vseg, voff LIMIT ?3",
        )
        .map_err(err())?;
    let rows = stmt
        .query_map(
            params![seg, off, i64::try_from(limit.max(1)).unwrap_or(i64::MAX)],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            },
        )
        .map_err(err())?;
    let mut out = Vec::new();
    for row in rows {
        let (path, s, o, l) = row.map_err(err())?;
        out.push((
            path,
            Pointer {
                segment: to_u64(s),
                offset: to_u64(o),
                len: to_u64(l),
            },
        ));
    }
    Ok(out)
}

/// Live bytes by segment, summed over the rows (what the accounting must say).
pub(super) fn summed_live(conn: &Connection) -> Result<BTreeMap<u64, u64>> {
    bytes_by_segment(
        conn,
        "SELECT vseg, sum(vlen) FROM objects WHERE vseg IS NOT NULL GROUP BY vseg",
        "sum value-log pointers",
    )
}

/// Sets segment `id`'s accounting to `live` (a `check` repair).
pub(super) fn set_live(conn: &Connection, id: u64, live: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO vlog_segments (id, live) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET live = excluded.live",
    )
    .and_then(|mut s| s.execute(params![to_i64(id), to_i64(live)]))
    .map_err(db_error("repair the value-log accounting"))?;
    Ok(())
}

/// Deletes the row at `path` if it still points at `pointer` (a `check` repair of a lost
/// value). Returns whether it did.
pub(super) fn forget_lost(conn: &Connection, path: &str, pointer: Pointer) -> Result<bool> {
    let changed = conn
        .prepare_cached("DELETE FROM objects WHERE path = ?1 AND vseg = ?2 AND voff = ?3")
        .and_then(|mut s| {
            s.execute(params![
                path,
                to_i64(pointer.segment),
                to_i64(pointer.offset)
            ])
        })
        .map_err(db_error("remove an object whose payload is lost"))?;
    if changed != 1 {
        return Ok(false);
    }
    account(conn, Some(pointer), None)?;
    Ok(true)
}
