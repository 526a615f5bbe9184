//! Two real `objectstore` processes sharing one PostgreSQL high-volume tier and one S3
//! long-term tier (moto): concurrent writers on the same keys, through both instances, end
//! with one consistent winner that both instances serve byte for byte.
//!
//! Needs `OS_TEST_POSTGRES_URL` and `OS_TEST_S3_*` (`eval "$(scripts/services/postgres.sh)"`,
//! `eval "$(scripts/services/moto.sh)"`) and the cargo features `postgres` and `s3`. Without
//! the variables the test fails when `CI=true` and otherwise prints one skip line. Every run
//! uses a fresh table prefix and a fresh bucket prefix.

/// A skip line, written to the stream directly: the harness captures `eprintln!` of passing
/// tests, and a skip must be visible.
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

#[cfg(all(feature = "postgres", feature = "s3"))]
mod distributed {
    use std::path::Path;
    use std::process::Stdio;
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::{Child, Command};

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
        let found: Vec<_> = VARS
            .iter()
            .map(|name| (*name, std::env::var(name).ok()))
            .collect();
        let missing: Vec<_> = found
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        if missing.is_empty() {
            return Some(
                found
                    .into_iter()
                    .map(|(n, v)| (n, v.unwrap_or_default()))
                    .collect(),
            );
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{missing:?} not set but CI=true: CI must start PostgreSQL and moto"
        );
        super::skip(&format!(
            "{missing:?} not set, run `eval \"$(scripts/services/postgres.sh)\"; \
             eval \"$(scripts/services/moto.sh)\"`"
        ));
        None
    }

    /// Starts one instance on a free port with the shared storage; returns it and its base URL.
    async fn start(dir: &Path, storage: &[(String, String)]) -> (Child, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_objectstore"))
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env("OS__HTTP__DOWN_MARKER", dir.join("down"))
            .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
            .envs(storage.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut log = Vec::new();
        let listening = tokio::time::timeout(Duration::from_secs(120), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("objectstore listening") {
                    return true;
                }
                log.push(line);
            }
            false
        })
        .await
        .unwrap_or(false);
        assert!(listening, "instance did not start:\n{}", log.join("\n"));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (child, format!("http://127.0.0.1:{port}"))
    }

    /// A payload of `len` bytes that differs for every `writer`.
    fn payload(writer: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| writer.wrapping_mul(31).wrapping_add((i % 251) as u8))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_agree_on_concurrent_writes() {
        let Some(vars) = services() else { return };
        let var = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let run = uuid::Uuid::new_v4().simple().to_string();
        let storage: Vec<(String, String)> = [
            ("OS__STORAGE__HIGH_VOLUME__TYPE", "postgres".to_owned()),
            ("OS__STORAGE__HIGH_VOLUME__URL", var("OS_TEST_POSTGRES_URL")),
            (
                "OS__STORAGE__HIGH_VOLUME__TABLE_PREFIX",
                format!("mi_{}_", &run[..16]),
            ),
            ("OS__STORAGE__HIGH_VOLUME__MAX_CONNECTIONS", "8".to_owned()),
            ("OS__STORAGE__LONG_TERM__TYPE", "s3".to_owned()),
            ("OS__STORAGE__LONG_TERM__BUCKET", var("OS_TEST_S3_BUCKET")),
            (
                "OS__STORAGE__LONG_TERM__ENDPOINT",
                var("OS_TEST_S3_ENDPOINT"),
            ),
            ("OS__STORAGE__LONG_TERM__REGION", var("OS_TEST_S3_REGION")),
            (
                "OS__STORAGE__LONG_TERM__ACCESS_KEY_ID",
                var("OS_TEST_S3_ACCESS_KEY_ID"),
            ),
            (
                "OS__STORAGE__LONG_TERM__SECRET_ACCESS_KEY",
                var("OS_TEST_S3_SECRET_ACCESS_KEY"),
            ),
            ("OS__STORAGE__LONG_TERM__ALLOW_HTTP", "true".to_owned()),
            ("OS__STORAGE__LONG_TERM__FROM_ENV", "false".to_owned()),
            ("OS__STORAGE__LONG_TERM__PREFIX", format!("mi-{run}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();

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
                    let r = client
                        .get(format!("{url}/v1/objects/mi/_/{key}"))
                        .send()
                        .await
                        .unwrap();
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
    }
}
