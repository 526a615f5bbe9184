//! Two real `objectstore` processes sharing one PostgreSQL high-volume tier and one S3
//! long-term tier (moto):
//!
//! * concurrent writers on the same keys, through both instances, end with one consistent
//!   winner that both instances serve byte for byte;
//! * an instance killed (SIGKILL) in the middle of large writes leaves change-log records
//!   behind; once its lease has expired the other instance's recovery removes them and
//!   every orphaned blob, and the objects keep their last acknowledged bytes.
//!
//! Needs `OS_TEST_POSTGRES_URL` and `OS_TEST_S3_*` (`eval "$(scripts/services/postgres.sh)"`,
//! `eval "$(scripts/services/moto.sh)"`) and the cargo features `postgres` and `s3`. Without
//! the variables the test fails when `CI=true` and otherwise prints one skip line. Every run
//! uses a fresh table prefix and a fresh bucket prefix.

/// A skip line, written to the stream directly: the harness captures `eprintln!` of passing
/// tests, and a skip must be visible.
#[cfg(not(all(feature = "postgres", feature = "s3")))]
fn skip(why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped multi_instance: {why}");
}

#[cfg(not(all(feature = "postgres", feature = "s3")))]
#[test]
fn two_instances_agree_on_concurrent_writes() {
    skip(
        "needs the cargo features `postgres` and `s3` (cargo test -p objectstore-server --all-features)",
    );
}

#[cfg(not(all(feature = "postgres", feature = "s3")))]
#[test]
fn killed_instance_leftovers_are_recovered_after_its_lease() {
    skip(
        "needs the cargo features `postgres` and `s3` (cargo test -p objectstore-server --all-features)",
    );
}

#[cfg(all(feature = "postgres", feature = "s3"))]
mod common;

#[cfg(all(feature = "postgres", feature = "s3"))]
mod distributed {
    use std::path::Path;
    use std::process::Stdio;
    use std::time::Duration;

    use objectstore_service::backend::ChangeLog as _;
    use objectstore_service::backend::postgres::{PostgresBackend, PostgresConfig};
    use tokio::process::Child;

    const VARS: [&str; 6] = [
        "OS_TEST_POSTGRES_URL",
        "OS_TEST_S3_ENDPOINT",
        "OS_TEST_S3_BUCKET",
        "OS_TEST_S3_REGION",
        "OS_TEST_S3_ACCESS_KEY_ID",
        "OS_TEST_S3_SECRET_ACCESS_KEY",
    ];

    /// The service variables, or `None` after one skip line (a failure under `CI=true`).
    fn services() -> Option<Vec<(&'static str, String)>> {
        let fix = "run `eval \"$(scripts/services/postgres.sh)\"; \
                   eval \"$(scripts/services/moto.sh)\"`";
        let values = objectstore_service::testing::external("multi_instance", &VARS, fix)?;
        Some(VARS.into_iter().zip(values).collect())
    }

    /// Starts one instance on a free port with the shared storage; returns it and its base URL.
    async fn start(dir: &Path, storage: &[(String, String)]) -> (Child, String) {
        let port = crate::common::binary::free_port();
        let child = crate::common::process::start_with(dir, port, storage).await;
        (child, format!("http://127.0.0.1:{port}"))
    }

    /// A payload of `len` bytes that differs for every `writer`.
    fn payload(writer: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| writer.wrapping_mul(31).wrapping_add((i % 251) as u8))
            .collect()
    }

    /// One test's shared storage: a fresh table prefix and bucket prefix on the services.
    struct Shared {
        vars: Vec<(&'static str, String)>,
        run: String,
    }

    impl Shared {
        fn new(vars: Vec<(&'static str, String)>) -> Self {
            let run = uuid::Uuid::new_v4().simple().to_string();
            Self { vars, run }
        }

        fn var(&self, name: &str) -> String {
            self.vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        }

        fn table_prefix(&self) -> String {
            format!("mi_{}_", &self.run[..16])
        }

        fn bucket_prefix(&self) -> String {
            format!("mi-{}", self.run)
        }

        /// The `OS__STORAGE__*` variables of both instances, plus `extra`.
        fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
            let mut env: Vec<(String, String)> = [
                ("OS__STORAGE__HIGH_VOLUME__TYPE", "postgres".to_owned()),
                (
                    "OS__STORAGE__HIGH_VOLUME__URL",
                    self.var("OS_TEST_POSTGRES_URL"),
                ),
                (
                    "OS__STORAGE__HIGH_VOLUME__TABLE_PREFIX",
                    self.table_prefix(),
                ),
                ("OS__STORAGE__HIGH_VOLUME__MAX_CONNECTIONS", "8".to_owned()),
                ("OS__STORAGE__LONG_TERM__TYPE", "s3".to_owned()),
                (
                    "OS__STORAGE__LONG_TERM__BUCKET",
                    self.var("OS_TEST_S3_BUCKET"),
                ),
                (
                    "OS__STORAGE__LONG_TERM__ENDPOINT",
                    self.var("OS_TEST_S3_ENDPOINT"),
                ),
                (
                    "OS__STORAGE__LONG_TERM__REGION",
                    self.var("OS_TEST_S3_REGION"),
                ),
                (
                    "OS__STORAGE__LONG_TERM__ACCESS_KEY_ID",
                    self.var("OS_TEST_S3_ACCESS_KEY_ID"),
                ),
                (
                    "OS__STORAGE__LONG_TERM__SECRET_ACCESS_KEY",
                    self.var("OS_TEST_S3_SECRET_ACCESS_KEY"),
                ),
                ("OS__STORAGE__LONG_TERM__ALLOW_HTTP", "true".to_owned()),
                ("OS__STORAGE__LONG_TERM__FROM_ENV", "false".to_owned()),
                ("OS__STORAGE__LONG_TERM__PREFIX", self.bucket_prefix()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            env.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            env
        }

        /// A backend on the instances' high-volume tables (for the change log).
        async fn high_volume(&self) -> PostgresBackend {
            let config: PostgresConfig = serde_json::from_value(serde_json::json!({
                "url": self.var("OS_TEST_POSTGRES_URL"),
                "table_prefix": self.table_prefix(),
                "max_connections": 2,
            }))
            .unwrap();
            PostgresBackend::connect(config, objectstore_service::clock::system())
                .await
                .expect("connect to the instances' tables")
        }

        /// Keys of the blobs under the run's bucket prefix (moto answers unsigned listings).
        async fn blobs(&self, client: &reqwest::Client) -> Vec<String> {
            let url = format!(
                "{}/{}?list-type=2&prefix={}/",
                self.var("OS_TEST_S3_ENDPOINT"),
                self.var("OS_TEST_S3_BUCKET"),
                self.bucket_prefix()
            );
            let listing = client.get(url).send().await.unwrap().text().await.unwrap();
            assert!(
                !listing.contains("<IsTruncated>true"),
                "listing truncated: {listing}"
            );
            listing
                .split("<Key>")
                .skip(1)
                .filter_map(|rest| rest.split("</Key>").next())
                .map(str::to_owned)
                .collect()
        }

        /// Drops the run's tables (the bucket prefix is unique and left to the test server).
        async fn cleanup(&self) {
            self.high_volume()
                .await
                .drop_tables()
                .await
                .expect("drop the run's tables");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_agree_on_concurrent_writes() {
        let Some(vars) = services() else { return };
        let shared = Shared::new(vars);
        let storage = shared.env(&[]);

        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut a, url_a) = start(dirs[0].path(), &storage).await;
        let (mut b, url_b) = start(dirs[1].path(), &storage).await;
        let urls = [url_a, url_b];
        let client = reqwest::Client::builder().no_proxy().build().unwrap();

        const SMALL: usize = 1000;
        const LARGE: usize = 2 * 1024 * 1024;
        // Per key: the sizes of its writers (writer i goes through instance i % 2).
        let cases: [(&str, [usize; 4]); 3] = [
            ("small", [SMALL; 4]),
            ("large", [LARGE; 4]),
            ("mixed", [SMALL, LARGE, LARGE, SMALL]),
        ];
        for round in 0..3u8 {
            let mut writes = Vec::new();
            for (name, sizes) in &cases {
                let key = format!("{name}-{round}");
                for (writer, len) in sizes.iter().enumerate() {
                    let url = format!("{}/v1/objects/mi/_/{key}", urls[writer % 2]);
                    let body = payload(writer as u8 + 4 * round, *len);
                    let client = client.clone();
                    writes.push(tokio::spawn(async move {
                        let r = client.put(url).body(body).send().await.unwrap();
                        r.status()
                    }));
                }
            }
            for w in writes {
                let status = w.await.unwrap();
                assert!(status.is_success(), "write answered {status}");
            }
            for (name, sizes) in &cases {
                let key = format!("{name}-{round}");
                let mut bodies = Vec::new();
                for url in &urls {
                    let r = crate::common::send(client.get(format!("{url}/v1/objects/mi/_/{key}")))
                        .await;
                    assert_eq!(r.status(), 200, "{key} via {url}");
                    bodies.push(r.bytes().await.unwrap());
                }
                assert!(bodies[0] == bodies[1], "{key}: the instances disagree");
                let winner = sizes
                    .iter()
                    .enumerate()
                    .any(|(writer, len)| bodies[0][..] == payload(writer as u8 + 4 * round, *len));
                assert!(
                    winner,
                    "{key}: {} bytes served, not one written payload",
                    bodies[0].len()
                );
            }
        }

        for child in [&mut a, &mut b] {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
        shared.cleanup().await;
    }

    /// Polls `probe` every 100 ms until it returns true; false after `limit`.
    async fn eventually<F, Fut>(limit: Duration, mut probe: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if probe().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Holds `SELECT ... FOR UPDATE` on the rows of `paths` in a `psql` session until
    /// dropped: writers of those rows block in their compare-and-swap, readers do not.
    ///
    /// On drop it first terminates the sessions still waiting for the locks. PostgreSQL
    /// does not notice a dead client while its statement waits for a lock: without this,
    /// a killed instance's pending swap would still commit once the lock goes (a valid
    /// outcome, since the write was never acknowledged, but not the orphan this test needs).
    struct RowLock {
        psql: std::process::Child,
        /// Kept open so psql can write its last answers.
        _output: std::io::BufReader<std::process::ChildStdout>,
        table: String,
    }

    impl RowLock {
        /// Returns once the locks are held.
        fn hold(url: &str, table: &str, paths: &[String]) -> Self {
            use std::io::{BufRead as _, Write as _};
            let list = paths
                .iter()
                .map(|p| format!("'{p}'"))
                .collect::<Vec<_>>()
                .join(",");
            let mut child = std::process::Command::new("psql")
                .args([url, "-v", "ON_ERROR_STOP=1", "-A", "-t", "-q"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("psql (the PostgreSQL client) must be installed");
            let mut stdin = child.stdin.take().unwrap();
            writeln!(
                stdin,
                "BEGIN;\nSELECT count(*) FROM (SELECT path FROM {table} WHERE path IN ({list}) \
                 FOR UPDATE) AS locked;"
            )
            .unwrap();
            let mut line = String::new();
            let mut output = std::io::BufReader::new(child.stdout.take().unwrap());
            output.read_line(&mut line).unwrap();
            assert_eq!(line.trim(), paths.len().to_string(), "rows not locked");
            // The session stays in its transaction until stdin closes.
            child.stdin = Some(stdin);
            Self {
                psql: child,
                _output: output,
                table: table.to_owned(),
            }
        }
    }

    impl Drop for RowLock {
        fn drop(&mut self) {
            use std::io::Write as _;
            if let Some(mut stdin) = self.psql.stdin.take() {
                let _ = writeln!(
                    stdin,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' \
                     AND query LIKE '%{}%';",
                    self.table
                );
                // End of input: psql quits, the session's transaction aborts, the locks go.
            }
            let _ = self.psql.wait();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn killed_instance_leftovers_are_recovered_after_its_lease() {
        let Some(vars) = services() else { return };
        let shared = Shared::new(vars);
        // Short leases so the test waits seconds, not the production 30 s.
        let storage = shared.env(&[
            ("OS__STORAGE__LEASE_DURATION", "4s"),
            ("OS__STORAGE__LEASE_RENEW_INTERVAL", "1s"),
            ("OS__STORAGE__RECOVERY_INTERVAL", "1s"),
        ]);
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut a, url_a) = start(dirs[0].path(), &storage).await;
        let (mut b, url_b) = start(dirs[1].path(), &storage).await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let hv = shared.high_volume().await;
        let object = |url: &str, key: &str| format!("{url}/v1/objects/mi/_/{key}");

        // Acknowledged objects, written through B: large ones (`stalled-*`, overwritten
        // below by bodies that stall) and small ones (`blocked-*`, overwritten by large
        // bodies whose commit is held up).
        const LARGE: usize = 2 * 1024 * 1024;
        const SMALL: usize = 100;
        const KEYS: u8 = 3;
        for k in 0..KEYS {
            for (key, len) in [
                (format!("stalled-{k}"), LARGE),
                (format!("blocked-{k}"), SMALL),
            ] {
                let r = crate::common::send(client.put(object(&url_b, &key)).body(payload(k, len)))
                    .await;
                assert!(
                    r.status().is_success(),
                    "setup write answered {}",
                    r.status()
                );
            }
        }
        let referenced = shared.blobs(&client).await;
        assert_eq!(referenced.len(), usize::from(KEYS), "{referenced:?}");

        // 1. Overwrites through A whose bodies stall after 1.5 MiB: past the threshold, so
        //    A has logged them, but their long-term writes never finish.
        let mut senders = Vec::new();
        for k in 0..KEYS {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
            tx.send(Ok(payload(100 + k, 1536 * 1024))).await.unwrap();
            senders.push(tx);
            let request = client
                .put(object(&url_a, &format!("stalled-{k}")))
                .body(reqwest::Body::wrap_stream(stream_of(rx)));
            tokio::spawn(async move { request.send().await });
        }
        // 2. Large overwrites through A of rows locked in PostgreSQL: their blobs are
        //    written, their compare-and-swap waits for the lock. Killing A now leaves real
        //    orphans: blobs no tombstone references, named only by A's change-log records.
        let lock = RowLock::hold(
            &shared.var("OS_TEST_POSTGRES_URL"),
            &format!("{}objects", shared.table_prefix()),
            &(0..KEYS)
                .map(|k| format!("mi/objects/blocked-{k}"))
                .collect::<Vec<_>>(),
        );
        for k in 0..KEYS {
            let request = client
                .put(object(&url_a, &format!("blocked-{k}")))
                .body(payload(200 + k, LARGE));
            tokio::spawn(async move { request.send().await });
        }
        let orphans_written = eventually(Duration::from_secs(60), || async {
            let blobs = shared.blobs(&client).await;
            blobs.iter().filter(|b| b.contains("/blocked-")).count() == usize::from(KEYS)
        })
        .await;
        assert!(orphans_written, "A never wrote the blocked writes' blobs");
        let logged = eventually(Duration::from_secs(60), || async {
            hv.count_records().await.unwrap() == 2 * u64::from(KEYS)
        })
        .await;
        assert!(logged, "A's change log does not hold one record per write");

        a.start_kill().unwrap();
        a.wait().await.unwrap();
        drop(senders);
        drop(lock);
        assert_eq!(
            hv.count_records().await.unwrap(),
            2 * u64::from(KEYS),
            "the killed instance's records vanished before its lease expired"
        );

        // 3. B's recovery takes the records over once A's lease has expired, and deletes
        //    the blobs nothing references.
        let recovered = eventually(Duration::from_secs(60), || async {
            hv.count_records().await.unwrap() == 0
        })
        .await;
        assert!(recovered, "B never recovered A's change-log records");
        let blobs = shared.blobs(&client).await;
        assert_eq!(blobs, referenced, "orphans left after recovery");

        // 4. No acknowledged write was lost: every key serves what B wrote.
        for k in 0..KEYS {
            for (key, len) in [
                (format!("stalled-{k}"), LARGE),
                (format!("blocked-{k}"), SMALL),
            ] {
                let r = client.get(object(&url_b, &key)).send().await.unwrap();
                assert_eq!(r.status(), 200, "{key}");
                assert!(
                    r.bytes().await.unwrap()[..] == payload(k, len)[..],
                    "{key} lost its acknowledged bytes"
                );
            }
        }

        b.start_kill().unwrap();
        b.wait().await.unwrap();
        shared.cleanup().await;
    }

    /// A body stream fed by a channel; it stalls while the channel is open and empty.
    fn stream_of(
        mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
    ) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
