//! Tests of the PostgreSQL backend.
//!
//! The ones that need a server read `OS_TEST_POSTGRES_URL` (start one with
//! `eval "$(scripts/services/postgres.sh)"`). Without it they fail when `CI=true` and
//! otherwise print one "skipped" line and pass. Every backend gets its own random table
//! prefix, so tests run in parallel and repeatedly against one database; each test drops
//! its tables at the end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use objectstore_types::{ExpirationPolicy, Usecase};
use sqlx::postgres::PgPoolOptions;

use super::*;
use crate::backend::{ChangeLog, ChangeRecord, Claim, HighVolumeBackend};
use crate::clock::{Clock, ManualClock};
use crate::conformance::{self, id};
use crate::testing;

const URL_VAR: &str = "OS_TEST_POSTGRES_URL";

/// The test server's URL; `None` (after one skip line) when not configured outside CI.
fn server_url(test: &str) -> Option<String> {
    let fix = "run `eval \"$(scripts/services/postgres.sh)\"`";
    Some(testing::external(test, &[URL_VAR], fix)?.remove(0))
}

/// Hands out backends on fresh table prefixes and drops their tables at the end.
struct Db {
    url: String,
    prefixes: Mutex<Vec<String>>,
}

impl Db {
    fn new(test: &str) -> Option<Self> {
        Some(Self {
            url: server_url(test)?,
            prefixes: Mutex::default(),
        })
    }

    /// A table prefix no other test uses.
    fn prefix(&self) -> String {
        let prefix = format!("os_t{}_", uuid::Uuid::new_v4().simple());
        self.prefixes.lock().unwrap().push(prefix.clone());
        prefix
    }

    fn config(&self, prefix: &str) -> PostgresConfig {
        PostgresConfig {
            max_connections: 8,
            table_prefix: prefix.to_owned(),
            ..PostgresConfig::new(self.url.clone())
        }
    }

    /// A backend on tables of its own.
    async fn fresh(&self, clock: SharedClock) -> PostgresBackend {
        let prefix = self.prefix();
        self.on(&prefix, clock).await
    }

    /// Two backends (instances) on the same fresh tables.
    async fn pair(&self, clock: SharedClock) -> [PostgresBackend; 2] {
        let prefix = self.prefix();
        [
            self.on(&prefix, clock.clone()).await,
            self.on(&prefix, clock).await,
        ]
    }

    /// A backend on the tables of `prefix`.
    async fn on(&self, prefix: &str, clock: SharedClock) -> PostgresBackend {
        PostgresBackend::connect(self.config(prefix), clock)
            .await
            .expect("connect to the test server")
    }

    async fn cleanup(self) {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .expect("connect for cleanup");
        for prefix in self.prefixes.into_inner().unwrap() {
            schema::drop_tables(&pool, &prefix)
                .await
                .expect("drop the test tables");
        }
        pool.close().await;
    }
}

// --- Conformance -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_suite() {
    let Some(db) = Db::new("backend_suite") else {
        return;
    };
    let make = |clock| db.fresh(clock);
    conformance::backend_suite(&conformance::tiered_over(&make)).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_volume_suite() {
    let Some(db) = Db::new("high_volume_suite") else {
        return;
    };
    conformance::high_volume_suite(&|clock| db.fresh(clock)).await;
    db.cleanup().await;
}

/// The tiered engine with this backend as its high-volume tier (memory standing in for
/// the long-term tier): with a 16-byte threshold most objects of the suites live behind
/// tombstones, so every tiering primitive is exercised through the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_postgres_passes_the_suites() {
    let Some(db) = Db::new("tiered_over_postgres_passes_the_suites") else {
        return;
    };
    let make = |clock| db.fresh(clock);
    let tiered = conformance::tiered_with(&make, 16);
    conformance::backend_suite(&tiered).await;
    conformance::long_term_suite(&tiered).await;
    drop(tiered);
    db.cleanup().await;
}

/// Two instances on the same tables ([`conformance::shared`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_store_suite() {
    let Some(db) = Db::new("shared_store_suite") else {
        return;
    };
    conformance::shared_store_suite(&|clock| db.pair(clock)).await;
    db.cleanup().await;
}

// --- Several instances on the same tables ------------------------------------------------

/// A claim in flight (its transaction still open) holds row locks: a concurrent claimant
/// skips those records instead of waiting or taking them, and once the first claim commits
/// its records belong to a live claimant and are not due for anybody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_skip_records_locked_by_a_claim_in_flight() {
    let Some(db) = Db::new("claims_skip_records_locked_by_a_claim_in_flight") else {
        return;
    };
    let prefix = db.prefix();
    let clock = ManualClock::new();
    let now = clock.now();
    let (a, b) = (
        db.on(&prefix, clock.clone()).await,
        db.on(&prefix, clock.clone()).await,
    );
    let records: Vec<ChangeRecord> = (0..12)
        .map(|i| conformance::change_log::record("dead", &format!("locked/{i}"), None))
        .collect();
    for r in &records {
        a.append_record(r).await.unwrap();
    }
    for who in ["A", "B", "C"] {
        a.renew_lease(who, now + Duration::from_secs(600))
            .await
            .unwrap();
    }
    // A claims 5 inside a transaction it does not commit yet.
    let mut tx = a.pool().begin().await.unwrap();
    let in_flight = q(&a.sql.claim_records)
        .bind("A")
        .bind(rows::nanos(now))
        .bind(false)
        .bind(5_i64)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let in_flight: Vec<ChangeRecord> = in_flight.iter().map(|r| rows::record(r).unwrap()).collect();
    assert_eq!(in_flight.len(), 5);
    // B must neither wait for A's locks (the guard only catches a hang) nor take A's records.
    let got_b = tokio::time::timeout(
        Duration::from_secs(60),
        b.claim_records(&Claim::new("B", now, false, 100)),
    )
    .await
    .expect("a claimant waited for the locks of a claim in flight")
    .unwrap();
    assert_eq!(got_b.len(), 7, "B must get exactly the unlocked records");
    assert!(
        got_b
            .iter()
            .all(|r| in_flight.iter().all(|f| f.change_id != r.change_id)),
        "B took a record of the claim in flight"
    );
    tx.commit().await.unwrap();
    assert!(
        b.claim_records(&Claim::new("C", now, false, 100))
            .await
            .unwrap()
            .is_empty(),
        "records of live claimants were handed out again"
    );
    for r in &in_flight {
        assert_eq!(
            a.get_record(&r.change_id).await.unwrap().unwrap().owner,
            "A"
        );
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_agree() {
    let Some(db) = Db::new("concurrent_migrations_agree") else {
        return;
    };
    let db = Arc::new(db);
    let prefix = db.prefix();
    // Connected pools first, so that the migrations themselves overlap.
    let mut pools = Vec::new();
    for _ in 0..6 {
        pools.push(
            PgPoolOptions::new()
                .max_connections(1)
                .connect(&db.url)
                .await
                .unwrap(),
        );
    }
    let results =
        futures::future::join_all(pools.iter().map(|pool| schema::migrate(pool, &prefix))).await;
    for result in results {
        result.expect("a concurrent migration failed");
    }
    // Without advisory locks (clusters that lack them), racing migrators retry.
    let lockless = db.prefix();
    let results = futures::future::join_all(
        pools
            .iter()
            .map(|pool| schema::migrate_with(pool, &lockless, false)),
    )
    .await;
    for result in results {
        result.expect("a concurrent lock-less migration failed");
    }
    for pool in pools {
        pool.close().await;
    }
    // Connecting runs the (now empty) migration again, also concurrently.
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (db, prefix) = (Arc::clone(&db), prefix.clone());
            tokio::spawn(async move {
                PostgresBackend::connect(db.config(&prefix), ManualClock::new()).await
            })
        })
        .collect();
    let mut backends = Vec::new();
    for task in tasks {
        backends.push(task.await.unwrap().expect("connecting failed"));
    }
    // All of them use the same tables.
    backends[0]
        .put(&id("shared"), &Metadata::default(), Bytes::from("x"))
        .await
        .unwrap();
    for b in &backends {
        assert!(b.head(&id("shared")).await.unwrap().into_object().is_some());
    }
    let version: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {prefix}schema_version"
    )))
    .fetch_one(backends[0].pool())
    .await
    .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
    // Again, sequentially: nothing to do, data kept.
    let again = db.on(&prefix, ManualClock::new()).await;
    assert!(
        again
            .head(&id("shared"))
            .await
            .unwrap()
            .into_object()
            .is_some()
    );
    // A newer schema is refused.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {prefix}schema_version SET version = 99"
    )))
    .execute(again.pool())
    .await
    .unwrap();
    let err = PostgresBackend::connect(db.config(&prefix), ManualClock::new())
        .await
        .expect_err("a newer schema must be refused");
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    drop((backends, again));
    Arc::into_inner(db).unwrap().cleanup().await;
}

// --- Details beyond the conformance suite ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_updates_apply_only_to_the_version_read() {
    let Some(db) = Db::new("deadline_updates_apply_only_to_the_version_read") else {
        return;
    };
    let clock = ManualClock::new();
    let b = db.fresh(clock.clone()).await;
    let key = id("deadline");
    let path = key.as_storage_path();
    let mut m = Metadata {
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(3600)),
        ..Metadata::default()
    };
    m.stamp(clock.now());
    b.put(&key, &m, Bytes::from("one")).await.unwrap();
    let (read, expires, version) = b.live_object(&path).await.unwrap().unwrap();
    let mut later = read.clone();
    later.time_expires = Some(read.time_expires.unwrap() + Duration::from_secs(60));

    // Overwritten in between (same metadata, new payload): the update must not apply.
    b.put(&key, &m, Bytes::from("two")).await.unwrap();
    assert!(
        !b.set_deadline(&path, &later, version, expires)
            .await
            .unwrap()
    );
    let (now_stored, _, new_version) = b.live_object(&path).await.unwrap().unwrap();
    assert_eq!(now_stored.time_expires, m.time_expires);
    assert_ne!(new_version, version);

    // A stale deadline (someone moved it) does not apply either; the right one does.
    assert!(
        !b.set_deadline(&path, &later, new_version, Some(0))
            .await
            .unwrap()
    );
    assert!(
        b.set_deadline(&path, &later, new_version, expires)
            .await
            .unwrap()
    );
    let (after, after_expires, after_version) = b.live_object(&path).await.unwrap().unwrap();
    assert_eq!(after.time_expires, later.time_expires);
    assert_eq!(after_expires, rows::deadline_secs(&later));
    assert_eq!(
        after_version, new_version,
        "deadline updates keep the version"
    );
    // Deleted and re-created: the old version never matches again.
    b.delete(&key).await.unwrap();
    b.put(&key, &m, Bytes::from("three")).await.unwrap();
    assert!(
        !b.set_deadline(&path, &later, new_version, expires)
            .await
            .unwrap()
    );
    db.cleanup().await;
}

// --- Secrets -----------------------------------------------------------------------------

/// Every piece of text an error can show: Display, Debug and the source chain.
fn error_text(e: &Error) -> String {
    let mut text = format!("{e} / {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(" / {s} / {s:?}"));
        source = s.source();
    }
    text
}

#[tokio::test]
async fn connection_errors_do_not_show_the_password() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let secret = "s3cret-Passw0rd";
    let config = PostgresConfig {
        connect_timeout: Duration::from_secs(2),
        ..PostgresConfig::new(format!(
            "postgres://app:{secret}@127.0.0.1:{port}/x?password={secret}"
        ))
    };
    let err = PostgresBackend::connect(config, ManualClock::new())
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(
            err,
            Error::Backend {
                backend: "postgres",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let text = error_text(&err);
    assert!(!text.contains(secret), "{text}");

    let err = PostgresBackend::connect(
        PostgresConfig::new(format!("postgres://app:{secret}@127.0.0.1:99999999/x")),
        ManualClock::new(),
    )
    .await
    .expect_err("an invalid port must be refused");
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert!(!error_text(&err).contains(secret), "{}", error_text(&err));
}

#[tokio::test]
async fn server_errors_and_debug_do_not_show_the_password() {
    let Some(db) = Db::new("server_errors_and_debug_do_not_show_the_password") else {
        return;
    };
    // The wrong password for the test server's user.
    let wrong = "wr0ng-Secret-pw";
    let mut url = sqlx::postgres::PgConnectOptions::from_str(&db.url).unwrap();
    url = url.password(wrong);
    let user = url.get_username().to_owned();
    let (host, port) = (url.get_host().to_owned(), url.get_port());
    let database = url.get_database().unwrap_or("postgres").to_owned();
    let config = PostgresConfig {
        connect_timeout: Duration::from_secs(5),
        ..PostgresConfig::new(format!(
            "postgres://{user}:{wrong}@{host}:{port}/{database}"
        ))
    };
    match PostgresBackend::connect(config, ManualClock::new()).await {
        // A server that trusts every TCP connection accepts any password.
        Ok(b) => b.close().await,
        Err(err) => {
            let text = error_text(&err);
            assert!(!text.contains(wrong), "{text}");
        }
    }
    // The real password appears in no Debug output.
    let b = db.fresh(ManualClock::new()).await;
    let debug = format!("{b:?} {:?}", db.config("x_"));
    assert!(!debug.contains(&db.url), "{debug}");
    let password = db
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_owned());
    if let Some(password) = password.filter(|p| !p.is_empty()) {
        assert!(!debug.contains(&password), "{debug}");
        assert!(debug.contains(":***@"), "{debug}");
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_schema_is_migrated_and_listed() {
    let Some(db) = Db::new("a_version_1_schema_is_migrated_and_listed") else {
        return;
    };
    let prefix = db.prefix();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let run = |sql: String| {
        let pool = pool.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap()
        }
    };
    // Version 1 as an earlier build left it, with rows that have no listing columns.
    for statement in schema::step_1(&prefix) {
        run(statement).await;
    }
    run(format!(
        "CREATE TABLE {prefix}schema_version (id INT PRIMARY KEY, version INT NOT NULL)"
    ))
    .await;
    run(format!(
        "INSERT INTO {prefix}schema_version (id, version) VALUES (1, 1)"
    ))
    .await;
    let metadata = rows::encode_metadata(&Metadata {
        size: Some(1),
        ..Metadata::default()
    })
    .unwrap();
    for (key, n) in [("b", 1), ("a=1/x", 2), (&*"k".repeat(1024), 3)] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {prefix}objects (path, kind, metadata, payload, expires, version)
             VALUES ($1, 'object', $2, $3, NULL, $4)"
        )))
        .bind(id(key).as_storage_path())
        .bind(metadata.as_str())
        .bind(b"x".as_slice())
        .bind(n)
        .execute(&pool)
        .await
        .unwrap();
    }
    let backend = db.on(&prefix, ManualClock::new()).await;
    let page = backend
        .list(&crate::backend::ListQuery::new(
            Usecase::new("conformance").unwrap(),
            "",
            10,
        ))
        .await
        .unwrap();
    let keys: Vec<&str> = page.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["org=17/project=42/_/a=1/x", "org=17/project=42/b"]);
    let version: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {prefix}schema_version"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
    pool.close().await;
    drop(backend);
    db.cleanup().await;
}
