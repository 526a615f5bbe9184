//! The writer thread's group commit (savepoints isolate failing jobs) and schema versioning
//! (a newer store is refused, an older one migrated).

use std::sync::Arc;

use objectstore_types::Metadata;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::backend::embedded::listing::RowKey;
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
    sized_job(vlog, key, b"x", outcome)
}

/// [`job`] with a payload.
fn sized_job(
    vlog: &Arc<ValueLog>,
    key: &'static str,
    payload: &'static [u8],
    outcome: fn() -> Result<()>,
) -> (Message, oneshot::Receiver<Result<()>>) {
    let (tx, rx) = oneshot::channel();
    let m = Metadata::default();
    let vlog = Arc::clone(vlog);
    let row = RowKey {
        path: key.to_owned(),
        usecase: "u".to_owned(),
        list_key: None,
    };
    let op = move |c: &Connection| {
        sql::put_object(c, &vlog, &row, &m, payload, None)?;
        outcome()
    };
    (Message::Job(Box::new(Pending::new("test", 1, op, tx))), rx)
}

/// A migrated database in `dir`, its writer connection and its value log.
fn writer_store(dir: &std::path::Path) -> (std::path::PathBuf, Connection, Arc<ValueLog>) {
    let path = dir.join("db");
    let mut conn = schema::open_writer(&path).unwrap();
    schema::migrate(&mut conn).unwrap();
    let vlog = Arc::new(
        ValueLog::open(dir, &conn, ValueLogSettings::default())
            .unwrap()
            .0,
    );
    (path, conn, vlog)
}

#[test]
fn a_failing_job_does_not_abort_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn, vlog) = writer_store(dir.path());
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

/// A database that cannot grow (SQLite's `max_page_count`: what a full disk does to it)
/// fails the writes that need a page with [`Error::StorageFull`], which the HTTP layer
/// answers with 507, while a write that fits still succeeds.
#[test]
fn a_database_that_cannot_grow_fails_writes_as_storage_full() {
    static INLINE: [u8; 6000] = [7; 6000];
    let dir = tempfile::tempdir().unwrap();
    let (_, conn, vlog) = writer_store(dir.path());
    let pages: i64 = conn
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "max_page_count", pages).unwrap();
    let (tx, rx) = mpsc::channel(16);
    let mut replies = Vec::new();
    for (message, reply) in [
        sized_job(&vlog, "big", &INLINE, || Ok(())),
        job(&vlog, "small", || Ok(())),
    ] {
        tx.try_send(message).unwrap();
        replies.push(reply);
    }
    tx.try_send(Message::Shutdown).unwrap();
    let counters = Arc::new(writer::Counters::default());
    std::thread::spawn(move || writer::run(conn, rx, &counters, None, &vlog))
        .join()
        .unwrap();
    let mut replies = replies.into_iter().map(|r| r.blocking_recv().unwrap());
    let big = replies.next().unwrap();
    assert!(
        matches!(big, Err(Error::StorageFull { .. })),
        "a row that needs overflow pages: {big:?}"
    );
    let small = replies.next().unwrap();
    assert!(
        small.is_ok(),
        "a row that fits the existing page: {small:?}"
    );
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

/// A store of every older schema version (1; 2 and 3 of the value log) opens, migrates to
/// the listing's version 4, and lists its existing rows: objects and tombstones, in byte
/// order, other usecases and keys without a listing key left out.
#[tokio::test]
async fn a_store_of_each_older_version_is_migrated_and_listed() {
    for version in 1..schema::SCHEMA_VERSION {
        assert_an_old_store_is_migrated_and_listed(version).await;
    }
}

async fn assert_an_old_store_is_migrated_and_listed(from: i64) {
    use crate::backend::{HighVolumeBackend, ListQuery};
    use objectstore_types::{ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};

    let dir = tempfile::tempdir().unwrap();
    let id = |usecase: &str, scopes: &str, key: &str| {
        ObjectId::new(
            ObjectContext {
                usecase: Usecase::new(usecase).unwrap(),
                scopes: Scopes::parse(scopes).unwrap(),
            },
            ObjectKey::new(key).unwrap(),
        )
    };
    let metadata = serde_json::to_string(&Metadata {
        size: Some(1),
        ..Metadata::default()
    })
    .unwrap();
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let steps = [schema::SCHEMA_V1, schema::SCHEMA_V2, schema::SCHEMA_V3];
        for step in &steps[..usize::try_from(from).unwrap()] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", from).unwrap();
        let rows = [
            (id("u", "org=1", "b"), 0, None),
            (id("u", "_", "a=1/x"), 0, None),
            (
                id("u", "_", "big"),
                1,
                Some(id("u", "_", "big/0190b7a8-2e39-7000-8000-000000000000")),
            ),
            (id("other", "_", "a"), 0, None),
            (id("u", "org=1", &"k".repeat(1024)), 0, None),
        ];
        for (row, kind, target) in rows {
            conn.execute(
                "INSERT INTO objects (path, kind, metadata, expires, target, payload)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
                rusqlite::params![
                    row.as_storage_path(),
                    kind,
                    metadata,
                    target.map(|t| t.as_storage_path()),
                    (kind == 0).then_some(b"x".to_vec()),
                ],
            )
            .unwrap();
        }
    }
    let backend = EmbeddedBackend::open(dir.path(), Arc::new(crate::clock::SystemClock)).unwrap();
    let page = backend
        .list(&ListQuery::new(Usecase::new("u").unwrap(), "", 10))
        .await
        .unwrap();
    let keys: Vec<&str> = page.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["_/a=1/x", "big", "org=1/b"], "from version {from}");
    let version: i64 = Connection::open(dir.path().join(DB_FILE))
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4, "from version {from}");
}
