//! The `objectstore` client commands (`put`, `get`, `head`, `rm`, `presign`) run as the real
//! binary against the real binary as server: round trips with metadata, ranges, `--json`
//! shapes, exit codes, auth, pre-signed URLs, and an interrupted large upload that resumes.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::binary::{ServerProcess, free_port, objectstore};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The client binary pointed at `url`, with no credentials or state from the environment.
fn cli(dir: &Path, url: &str) -> Command {
    let mut cmd = objectstore(dir);
    for var in [
        "OBJECTSTORE_TOKEN",
        "OBJECTSTORE_KID",
        "OBJECTSTORE_PRIVATE_KEY",
        "OBJECTSTORE_USECASE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("OBJECTSTORE_URL", url)
        .env("OBJECTSTORE_STATE_DIR", dir.join("state"));
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run objectstore")
}

fn run_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[track_caller]
fn ok(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[track_caller]
fn json(out: &Output) -> Value {
    serde_json::from_slice(&ok(out).stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Asserts the exit code and that the error was printed once, on stderr only.
#[track_caller]
fn fails(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    stderr
}

/// Deterministic pseudo-random bytes: SHA-256 of `seed` and a block counter, block after
/// block.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let block = |i: u64| Sha256::digest([seed.to_le_bytes(), i.to_le_bytes()].concat());
    (0..).flat_map(block).take(len).collect()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Signs with the key pair `ops` that `objectstore keygen ops` writes.
const SIGNER: [&str; 4] = ["--kid", "ops", "--key", "ops.private.pem"];

/// Uploads over 1 MiB go multipart in 64 KiB parts.
const SMALL_PARTS: [&str; 4] = ["--part-size", "64KiB", "--multipart-threshold", "1MiB"];

#[test]
fn put_get_head_rm_round_trips_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let d = dir.path();
    let url = &server.url;
    let payload = b"hello, objectstore client\n".repeat(100);
    std::fs::write(d.join("in.txt"), &payload).unwrap();

    // A file under a key, with metadata and expiration.
    let put = json(&run(cli(d, url)
        .args(["put", "in.txt", "docs/hello world.txt", "-u", "app"])
        .args(["--scope", "org=1", "--scope", "project=2"])
        .args(["-t", "text/plain", "-e", "ttl:1d", "--origin", "10.0.0.1"])
        .args([
            "--filename",
            "réport.txt",
            "--meta",
            "Owner=ops",
            "--meta",
            "note=100% ok",
        ])
        .arg("--json")));
    assert_eq!(put["key"], "docs/hello world.txt");
    assert_eq!(put["multipart"], false);
    assert_eq!(put["size"], payload.len());

    let ns = ["-u", "app", "-s", "org=1;project=2"];
    let head = json(&run(cli(d, url)
        .args(["head", "docs/hello world.txt"])
        .args(ns)
        .arg("--json")));
    assert_eq!(head["key"], "docs/hello world.txt");
    assert_eq!(head["size"], payload.len());
    assert_eq!(head["content_type"], "text/plain");
    assert_eq!(head["compression"], Value::Null);
    assert_eq!(head["expiration"], "ttl:1d");
    assert_eq!(head["origin"], "10.0.0.1");
    assert_eq!(head["filename"], "réport.txt");
    assert_eq!(
        head["metadata"],
        serde_json::json!({"owner": "ops", "note": "100% ok"})
    );
    assert!(head["time_created"].as_str().unwrap().ends_with('Z'));
    assert!(head["time_expires"].as_str().unwrap().ends_with('Z'));
    let text = ok(&run(cli(d, url)
        .args(["head", "docs/hello world.txt"])
        .args(ns)))
    .stdout
    .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("expiration: ttl:1d\n"), "{text}");
    assert!(text.contains("meta owner: ops"), "{text}");

    // Download to a file and to stdout.
    let got = json(&run(cli(d, url)
        .args(["get", "docs/hello world.txt", "-o", "out.txt", "--json"])
        .args(ns)));
    assert_eq!(got["status"], 200);
    assert_eq!(got["bytes_written"], payload.len());
    assert_eq!(got["object"]["content_type"], "text/plain");
    assert_eq!(std::fs::read(d.join("out.txt")).unwrap(), payload);
    let stdout = ok(&run(cli(d, url)
        .args(["get", "docs/hello world.txt"])
        .args(ns)))
    .stdout
    .clone();
    assert_eq!(stdout, payload);

    // Ranges: the stored bytes, 206 with content-range.
    let first = run(cli(d, url)
        .args(["get", "docs/hello world.txt", "--range", "0-4"])
        .args(ns));
    assert_eq!(ok(&first).stdout, b"hello");
    let last = run(cli(d, url)
        .args(["get", "docs/hello world.txt", "-r", "bytes=-3"])
        .args(ns));
    assert_eq!(ok(&last).stdout, &payload[payload.len() - 3..]);
    let ranged = json(&run(cli(d, url)
        .args([
            "get",
            "docs/hello world.txt",
            "-r",
            "7-",
            "-o",
            "tail",
            "--json",
        ])
        .args(ns)));
    assert_eq!(ranged["status"], 206);
    assert_eq!(
        ranged["content_range"],
        format!("bytes 7-{}/{}", payload.len() - 1, payload.len())
    );
    assert_eq!(std::fs::read(d.join("tail")).unwrap(), &payload[7..]);
    let unsatisfiable = run(cli(d, url)
        .args(["get", "docs/hello world.txt", "-r", "100000-"])
        .args(ns));
    fails(&unsatisfiable, 5);

    // stdin, compressed client-side, server-assigned key; decompressed on get unless --raw.
    let put = run_stdin(
        cli(d, url).args([
            "put",
            "-",
            "-u",
            "app",
            "--compress",
            "zstd",
            "-e",
            "tti:2h",
        ]),
        &payload,
    );
    let key = String::from_utf8(ok(&put).stdout.clone())
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(key.len(), 36, "a UUID: {key}");
    let head = json(&run(cli(d, url).args(["head", &key, "-u", "app", "--json"])));
    assert_eq!(head["compression"], "zstd");
    assert_eq!(head["expiration"], "tti:2h");
    assert!(head["size"].as_u64().unwrap() < payload.len() as u64);
    let plain = run(cli(d, url).args(["get", &key, "-u", "app"]));
    assert_eq!(ok(&plain).stdout, payload);
    let raw = run(cli(d, url).args(["get", &key, "-u", "app", "--raw"]));
    assert_eq!(
        &ok(&raw).stdout[..4],
        &[0x28, 0xb5, 0x2f, 0xfd],
        "zstd magic"
    );

    // Already-compressed input is passed through with its encoding.
    std::fs::write(d.join("raw.zst"), &ok(&raw).stdout).unwrap();
    ok(&run(cli(d, url).args([
        "put",
        "raw.zst",
        "pre",
        "-u",
        "app",
        "--precompressed",
        "zstd",
    ])));
    let pre = run(cli(d, url).args(["get", "pre", "-u", "app"]));
    assert_eq!(ok(&pre).stdout, payload);

    // rm, then not found (exit 3) with a JSON error on stderr only.
    let rm = json(&run(cli(d, url).args(["rm", &key, "-u", "app", "--json"])));
    assert_eq!(rm, serde_json::json!({"key": key, "deleted": true}));
    let missing = run(cli(d, url).args(["head", &key, "-u", "app", "--json"]));
    let stderr = fails(&missing, 3);
    let error: Value = serde_json::from_str(&stderr).unwrap();
    assert_eq!(error["error"]["exit_code"], 3);
    assert_eq!(error["error"]["status"], 404);
    let missing = run(cli(d, url).args(["get", &key, "-u", "app"]));
    assert!(fails(&missing, 3).contains("not found"));
}

#[test]
fn usage_and_connection_errors_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f"), b"x").unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["put", "f", "k", "-u", "app", "--scope", "org"][..],
        &["put", "f", "k", "-u", "app", "--scope", "org=a/b"],
        &["put", "f", "k", "-u", "app", "--meta", "novalue"],
        &["put", "f", "k", "-u", "app", "--meta", "bad name=1"],
        &["put", "f", "k", "-u", "app", "-e", "ttl:forever"],
        &["put", "f", "k", "-u", "app", "-t", "not a type"],
        &[
            "put",
            "f",
            "k",
            "-u",
            "app",
            "--compress",
            "zstd",
            "--precompressed",
            "zstd",
        ],
        &["put", "missing-dir/", "k", "-u", "app"],
        &["get", "k", "-u", "app", "--range", "items=0-1"],
        &["get", "k", "-u", "app", "--json"],
        &["get", "k"],
        &["head"],
    ] {
        let out = run(cli(d, &url).args(args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Nothing listens: unavailable.
    let out = run(cli(d, &url).args(["put", "f", "k", "-u", "app"]));
    fails(&out, 6);
}

#[test]
fn auth_tokens_presigned_urls_and_permission_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&run(objectstore(d).args(["keygen", "ops"])));
    let public = d.join("ops.public.pem");
    let keys = format!(
        "{{ops={{key_files=[\"{}\"],max_permissions=[\"object.read\",\"object.write\",\"object.delete\"]}}}}",
        public.display()
    );
    let server = ServerProcess::start(d, &[("OS__AUTH__KEYS", keys)]);
    let url = &server.url;
    std::fs::write(d.join("f"), b"secret payload").unwrap();
    let put = ["put", "f", "k", "-u", "app", "-s", "org=1"];

    // No credentials, and a garbage token: auth failures (exit 4).
    fails(&run(cli(d, url).args(put)), 4);
    fails(
        &run(cli(d, url).args(put).args(["--token", "not.a.jwt"])),
        4,
    );

    // A token minted per request from the private key.
    let minted = ["--kid", "ops", "--private-key", "ops.private.pem"];
    ok(&run(cli(d, url).args(put).args(minted)));

    // A read-only token from `objectstore token`, through the environment.
    let token = ok(&run(objectstore(d)
        .arg("token")
        .args(SIGNER)
        .args(["--usecase", "app", "--scopes", "org=1"])
        .args(["--permission", "object.read"])))
    .stdout
    .clone();
    let token = String::from_utf8(token).unwrap().trim().to_owned();
    let read = run(cli(d, url)
        .env("OBJECTSTORE_TOKEN", &token)
        .args(["get", "k", "-u", "app", "-s", "org=1"]));
    assert_eq!(ok(&read).stdout, b"secret payload");
    let denied = run(cli(d, url).env("OBJECTSTORE_TOKEN", &token).args(put));
    assert!(fails(&denied, 4).contains("403"));
    let denied = run(cli(d, url)
        .env("OBJECTSTORE_TOKEN", &token)
        .args(["rm", "k", "-u", "app", "-s", "org=1"]));
    fails(&denied, 4);

    // A pre-signed URL by object address works with a plain GET, and only for reads.
    let presigned = json(&run(cli(d, url)
        .arg("presign")
        .args(SIGNER)
        .args(["--url", url])
        .args([
            "-u",
            "app",
            "-s",
            "org=1",
            "--valid-for",
            "5m",
            "--json",
            "k",
        ])));
    assert_eq!(presigned["method"], "GET");
    assert!(presigned["expires_at"].as_str().unwrap().ends_with('Z'));
    let signed = presigned["url"].as_str().unwrap();
    assert!(
        signed.starts_with(&format!("{url}/v1/objects/app/org=1/k?os_kid=ops&")),
        "{signed}"
    );
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let response = http.get(signed).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().unwrap().as_ref(), b"secret payload");
    assert_eq!(http.delete(signed).send().unwrap().status(), 403);
    // The plain-text form prints just the URL.
    let text = run(cli(d, url)
        .env("OBJECTSTORE_KID", "ops")
        .env("OBJECTSTORE_PRIVATE_KEY", "ops.private.pem")
        .args([
            "presign", "--method", "HEAD", "--url", url, "-u", "app", "-s", "org=1", "k",
        ]));
    let text = String::from_utf8(ok(&text).stdout.clone()).unwrap();
    assert_eq!(http.head(text.trim()).send().unwrap().status(), 204);
}

/// The rough edges of docs/cli.md's own examples: `get --range -N` (a suffix range that
/// looks like a flag), `presign --quiet`, and `presign --method HEAD` saying that its URL is
/// the GET URL.
#[test]
fn documented_examples_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&run(objectstore(d).args(["keygen", "ops"])));
    let server = ServerProcess::start(d, &[]);
    let url = &server.url;
    let payload = noise(3000, 7);
    std::fs::write(d.join("log"), &payload).unwrap();
    ok(&run(cli(d, url).args([
        "put",
        "log",
        "logs/today",
        "-u",
        "app",
    ])));

    let tail = run(cli(d, url).args(["get", "logs/today", "-u", "app", "--range", "-1000"]));
    assert_eq!(ok(&tail).stdout, &payload[2000..]);

    let object = format!("{url}/v1/objects/app/_/logs/today");
    let get = run(cli(d, url).arg("presign").args(SIGNER).arg(&object));
    let get_url = String::from_utf8(ok(&get).stdout.clone()).unwrap();
    assert!(
        get.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    let head = run(cli(d, url)
        .arg("presign")
        .args(SIGNER)
        .args(["--method", "HEAD", &object]));
    let head_url = String::from_utf8(ok(&head).stdout.clone()).unwrap();
    let note = String::from_utf8_lossy(&head.stderr);
    assert!(
        note.contains("GET"),
        "HEAD gives the GET URL without saying so: {note:?}"
    );
    // Signed in the same second, the two URLs are the same.
    let stamp = |u: &str| u.split("os_timestamp=").nth(1).unwrap()[..20].to_owned();
    if stamp(&get_url) == stamp(&head_url) {
        assert_eq!(get_url, head_url);
    }
    let quiet = run(cli(d, url).arg("presign").args(SIGNER).args([
        "--method",
        "HEAD",
        "--quiet",
        "-u",
        "app",
        "logs/today",
    ]));
    assert!(
        String::from_utf8(ok(&quiet).stdout.clone())
            .unwrap()
            .starts_with(url.as_str())
    );
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let signed = String::from_utf8(quiet.stdout).unwrap();
    assert_eq!(http.head(signed.trim()).send().unwrap().status(), 204);
}

/// A server in a new directory that holds `file` with `payload`.
fn server_with_file(file: &str, payload: &[u8]) -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    std::fs::write(dir.path().join(file), payload).unwrap();
    (dir, server)
}

/// The number of parts recorded in the only state file under `dir`, with its upload id.
fn recorded_parts(dir: &Path) -> Option<(usize, String)> {
    let entry = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))?;
    let state: Value = serde_json::from_str(&std::fs::read_to_string(entry.path()).ok()?).ok()?;
    Some((
        state["parts"].as_object()?.len(),
        state["upload_id"].as_str()?.to_owned(),
    ))
}

/// Runs `put` slowed down, kills it with SIGKILL once the state file records at least 4
/// acknowledged parts, and returns that count and the upload id.
fn interrupted_put(put: &mut Command, state_dir: &Path) -> (usize, String) {
    let mut child = put
        .args(["--limit-rate", "512KiB", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorded = loop {
        if let Some((n, id)) = recorded_parts(state_dir)
            && n >= 4
        {
            break (n, id);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the upload finished before it was killed"
        );
        assert!(Instant::now() < deadline, "no parts recorded in time");
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    recorded
}

#[test]
fn interrupted_large_upload_resumes_where_it_stopped() {
    let payload = noise(3 * 1024 * 1024 + 123, 0x5eed);
    let (dir, server) = server_with_file("big.bin", &payload);
    let (d, url) = (dir.path(), &server.url);
    let state_dir = d.join("state");
    let put = ["put", "big.bin", "big", "-u", "app", "-s", "org=1"];

    // First attempt, slowed down, killed (SIGKILL) once the server acknowledged some parts.
    let (parts_before, upload_id) =
        interrupted_put(cli(d, url).args(put).args(SMALL_PARTS), &state_dir);
    let head = run(cli(d, url).args(["head", "big", "-u", "app", "-s", "org=1"]));
    fails(&head, 3);

    // The same command again continues the same upload.
    let resumed = json(&run(cli(d, url).args(put).arg("--json").args(SMALL_PARTS)));
    assert_eq!(resumed["multipart"], true);
    assert_eq!(resumed["resumed"], true);
    assert_eq!(resumed["upload_id"], upload_id.as_str());
    assert_eq!(resumed["parts"], payload.len().div_ceil(64 * 1024));
    let skipped = resumed["parts_skipped"].as_u64().unwrap() as usize;
    assert!(
        skipped >= parts_before,
        "{parts_before} parts were acknowledged: {resumed}"
    );
    assert!(
        resumed["bytes_sent"].as_u64().unwrap() < payload.len() as u64,
        "did not restart: {resumed}"
    );
    assert!(
        recorded_parts(&state_dir).is_none(),
        "state removed after completion"
    );

    let got = run(cli(d, url).args(["get", "big", "-u", "app", "-s", "org=1"]));
    assert_eq!(sha256(&ok(&got).stdout), sha256(&payload));

    // Nothing left to resume.
    let again = run(cli(d, url).args(put).arg("--resume").args(SMALL_PARTS));
    fails(&again, 3);

    // A compressed multipart upload (one zstd frame per part) reads back as the input.
    let zipped = json(&run(cli(d, url)
        .args(["put", "big.bin", "-u", "app", "--compress", "zstd"])
        .arg("--json")
        .args(SMALL_PARTS)));
    assert_eq!(zipped["multipart"], true);
    assert_eq!(zipped["resumed"], false);
    let key = zipped["key"].as_str().unwrap();
    let got = run(cli(d, url).args(["get", key, "-u", "app"]));
    assert_eq!(sha256(&ok(&got).stdout), sha256(&payload));
}

#[test]
fn a_changed_input_starts_a_new_upload() {
    let mut payload = noise(2 * 1024 * 1024, 0xfeed);
    let (dir, server) = server_with_file("in.bin", &payload);
    let (d, url) = (dir.path(), &server.url);
    let state_dir = d.join("state");
    let (_, upload_id) = interrupted_put(
        cli(d, url)
            .args(["put", "in.bin", "k", "-u", "app"])
            .args(SMALL_PARTS),
        &state_dir,
    );

    payload.extend_from_slice(b"appended");
    std::fs::write(d.join("in.bin"), &payload).unwrap();
    let out = run(cli(d, url)
        .args(["put", "in.bin", "k", "-u", "app", "--json"])
        .args(SMALL_PARTS));
    let result = json(&out);
    assert_eq!(result["resumed"], false);
    assert_eq!(result["parts_skipped"], 0);
    assert_ne!(result["upload_id"], upload_id.as_str());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("starting over"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = run(cli(d, url).args(["get", "k", "-u", "app"]));
    assert_eq!(sha256(&ok(&got).stdout), sha256(&payload));
}
