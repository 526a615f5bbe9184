//! Configuration typos and invalid values through the real binary: `objectstore config
//! check` (exit 0 clean, 2 on any problem), `objectstore run --strict-config` (refuses
//! unknown keys) and the default `objectstore run` (warns and starts, as the official
//! clients' test harness needs: it sets `OS__LOG__LEVEL`).

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `objectstore` in `dir` without any `OS__` variable of the test's own environment.
fn objectstore(dir: &Path) -> Command {
    let mut cmd = common::binary::objectstore(dir);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OS__")) {
        cmd.env_remove(name);
    }
    cmd
}

/// `config check` of a config file `config.yml` in `dir` holding `text`, no overrides.
fn check_yaml(dir: &Path, text: &str) -> (i32, String) {
    let path = dir.join("config.yml");
    std::fs::write(&path, text).unwrap();
    check(dir, Some(&path), &[])
}

fn check(dir: &Path, file: Option<&Path>, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = objectstore(dir);
    if let Some(file) = file {
        cmd.arg("-c").arg(file);
    }
    cmd.envs(env.iter().copied()).args(["config", "check"]);
    let Output { status, stdout, .. } = cmd.output().expect("run objectstore config check");
    (
        status.code().expect("exit code"),
        String::from_utf8_lossy(&stdout).into_owned(),
    )
}

#[test]
fn config_check_names_typos_and_invalid_values() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = check_yaml(
        dir.path(),
        "htp_addr: 127.0.0.1:9000\nauth:\n  enforse: true\n",
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("`auth.enforse`"), "{out}");
    assert!(out.contains("did you mean `auth.enforce`"), "{out}");
    assert!(out.contains("did you mean `http_addr`"), "{out}");
    assert!(out.contains("config.yml"), "the file is named: {out}");

    let (code, out) = check(
        dir.path(),
        None,
        &[
            ("OS__LOGGING__LEVEL", "warning"),
            ("OS__SENTRY__SAMPLE_RATE", "2.0"),
            ("OS__RUNTIME__WORKER_THREADS", "0"),
        ],
    );
    assert_eq!(code, 2, "{out}");
    for expected in [
        "`logging.level`",
        "did you mean `warn`",
        "`sentry.sample_rate`",
        "`runtime.worker_threads`",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }

    let (code, out) = check(dir.path(), None, &[("OS__LOG__LEVEL", "debug")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("OS__LOG__LEVEL"), "{out}");
    assert!(out.contains("OS__LOGGING__LEVEL"), "{out}");

    let (code, out) = check_yaml(
        dir.path(),
        "auth:\n  keys:\n    relay:\n      key_files: [/nonexistent/relay.pem]\n",
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("auth.keys.relay"), "{out}");

    let (code, out) = check_yaml(
        dir.path(),
        "http:\n  max_requests: 5\nlogging:\n  level: warn\n",
    );
    assert_eq!((code, out.trim()), (0, "configuration OK"));
}

#[test]
fn strict_config_refuses_to_start_on_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::binary::free_port();
    let output = objectstore(dir.path())
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("OS__LOG__LEVEL", "debug")
        .args(["run", "--strict-config"])
        .output()
        .expect("run objectstore");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("OS__LOG__LEVEL"), "{stderr}");
    assert!(stderr.contains("--strict-config"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "storage was opened before refusing"
    );
}

#[test]
fn a_default_start_warns_about_unknown_keys_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::binary::free_port();
    let mut child = objectstore(dir.path())
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("OS__LOG__LEVEL", "debug")
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn objectstore run");
    let mut seen = Vec::new();
    let mut listening = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if line.contains("objectstore listening") {
            listening = true;
            break;
        }
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "did not start:\n{}", seen.join("\n"));
    let warning = seen
        .iter()
        .find(|l| l.contains("OS__LOG__LEVEL"))
        .unwrap_or_else(|| panic!("no warning:\n{}", seen.join("\n")));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("logging.level"), "{warning}");
}

#[test]
fn invalid_values_stop_a_start() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, key) in [
        ("OS__LOGGING__LEVEL", "warning", "logging.level"),
        ("OS__SENTRY__SAMPLE_RATE", "2.0", "sentry.sample_rate"),
        ("OS__RUNTIME__WORKER_THREADS", "0", "runtime.worker_threads"),
    ] {
        let output = objectstore(dir.path())
            .env(var, value)
            .arg("run")
            .output()
            .expect("run objectstore");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{var}: {stderr}");
        assert!(stderr.contains(key), "{var}: {stderr}");
    }
}
