//! The writer thread's group commit (savepoints isolate failing jobs) and schema versioning.

use std::sync::Arc;

use objectstore_types::Metadata;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::backend::embedded::vlog::{ValueLog, ValueLogSettings};
use crate::backend::embedded::writer::{self, Message, Pending};
use crate::backend::embedded::{DB_FILE, EmbeddedBackend, schema, sql};
use crate::error::{Error, Result};

/// A job that writes a row, then fails or panics.
fn job(
    vlog: &Arc<ValueLog>,
    key: &'static str,
    outcome: fn() -> Result<()>,
) -> (Message, oneshot::Receiver<Result<()>>) {
    let (tx, rx) = oneshot::channel();
    let m = Metadata::default();
    let vlog = Arc::clone(vlog);
    let op = move |c: &Connection| {
        sql::put_object(c, &vlog, key, &m, b"x", None)?;
        outcome()
    };
    (Message::Job(Box::new(Pending::new("test", 1, op, tx))), rx)
}

#[test]
fn a_failing_job_does_not_abort_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut conn = schema::open_writer(&path).unwrap();
    schema::migrate(&mut conn).unwrap();
    let vlog = Arc::new(
        ValueLog::open(dir.path(), &conn, ValueLogSettings::default())
            .unwrap()
            .0,
    );
    let (tx, rx) = mpsc::channel(16);
    let jobs = [
        job(&vlog, "a", || Ok(())),
        job(&vlog, "b", || Err(Error::Internal("boom".into()))),
        job(&vlog, "c", || Ok(())),
        job(&vlog, "d", || panic!("job panics on purpose")),
        job(&vlog, "e", || Ok(())),
    ];
    let mut replies = Vec::new();
    // Everything is queued before the writer starts, so it all lands in one group.
    for (message, reply) in jobs {
        tx.try_send(message).unwrap();
        replies.push(reply);
    }
    tx.try_send(Message::Shutdown).unwrap();
    let counters = Arc::new(writer::Counters::default());
    let stats = Arc::clone(&counters);
    std::thread::spawn(move || writer::run(conn, rx, &counters, None, &vlog))
        .join()
        .unwrap();
    // One transaction for all five jobs.
    assert_eq!((stats.snapshot().commits, stats.snapshot().jobs), (1, 5));
    let results: Vec<_> = replies
        .into_iter()
        .map(|r| r.blocking_recv().unwrap().is_ok())
        .collect();
    assert_eq!(results, [true, false, true, false, true]);
    let reader = schema::open_reader(&path).unwrap();
    let mut keys: Vec<String> = reader
        .prepare("SELECT path FROM objects ORDER BY path")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    keys.sort();
    assert_eq!(keys, ["a", "c", "e"]);
}

#[test]
fn open_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = EmbeddedBackend::open(dir.path(), Arc::new(crate::clock::SystemClock)).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}
