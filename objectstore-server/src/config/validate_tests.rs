//! Unknown keys ([`super::unknown`]) and value checks ([`super::validate`]).

use super::tests::{env, yaml};
use super::*;

fn unknown(file: Option<&str>, vars: &[(&str, &str)]) -> Vec<UnknownKey> {
    let file = file.map(yaml);
    let report = Config::check(file.as_ref().map(|f| f.path()), env(vars));
    assert!(report.config.is_ok(), "{:?}", report.config.err());
    report.unknown_keys
}

/// (key, suggestion) of each unknown key.
fn keys(found: &[UnknownKey]) -> Vec<(String, Option<String>)> {
    found
        .iter()
        .map(|k| (k.key.clone(), k.suggestion.clone()))
        .collect()
}

fn pair(key: &str, suggestion: &str) -> (String, Option<String>) {
    (key.to_owned(), Some(suggestion.to_owned()))
}

#[test]
fn typos_in_the_file_are_named_with_the_closest_key_and_still_load() {
    let text = "htp_addr: 127.0.0.1:9000\nauth:\n  enforse: true\nhttp:\n  max_request: 5\n";
    let found = unknown(Some(text), &[]);
    let mut named = keys(&found);
    named.sort();
    assert_eq!(
        named,
        vec![
            pair("auth.enforse", "auth.enforce"),
            pair("htp_addr", "http_addr"),
            pair("http.max_request", "http.max_requests"),
        ]
    );
    assert!(
        found
            .iter()
            .all(|k| matches!(&k.source, KeySource::File(_))),
        "{found:?}"
    );
    let message = found
        .iter()
        .find(|k| k.key == "auth.enforse")
        .unwrap()
        .to_string();
    assert!(
        message.contains("`auth.enforse`") && message.contains("did you mean `auth.enforce`"),
        "{message}"
    );
    // Loading itself ignores them, as before.
    let file = yaml(text);
    let config = Config::load(Some(file.path()), env(&[])).unwrap();
    assert_eq!(config.auth.enforce, None);
}

#[test]
fn unknown_variables_name_the_variable_and_the_one_meant() {
    let found = unknown(None, &[("OS__LOG__LEVEL", "debug"), ("OTHER", "x")]);
    assert_eq!(keys(&found), vec![pair("log.level", "logging.level")]);
    assert_eq!(found[0].source, KeySource::Env("OS__LOG__LEVEL".into()));
    let message = found[0].to_string();
    assert!(
        message.contains("OS__LOG__LEVEL") && message.contains("OS__LOGGING__LEVEL"),
        "{message}"
    );
    // Inside an inline table, the source is the variable that holds it.
    let found = unknown(
        None,
        &[(
            "OS__AUTH__KEYS",
            r#"{relay={key_files=["/k.pem"],max_permisions=["object.read"]}}"#,
        )],
    );
    assert_eq!(
        keys(&found),
        vec![pair(
            "auth.keys.relay.max_permisions",
            "auth.keys.relay.max_permissions"
        )]
    );
    assert_eq!(found[0].source, KeySource::Env("OS__AUTH__KEYS".into()));
}

#[test]
fn a_clean_configuration_has_no_unknown_keys() {
    assert!(Config::check(None, env(&[])).is_clean());
    // Names the operator chooses are data, not keys: usecases, key ids, tags, scopes.
    let text = "usecases:\n  my-usecase:\n    expiration:\n      ttl:\n        max: 1d\n\
                sentry:\n  tags:\n    anything: x\n\
                metrics:\n  tags:\n    whatever: y\n\
                killswitches:\n  - usecase: u\n    scopes:\n      organization: 1\n\
                rate_limits:\n  throughput:\n    rules:\n      - scopes: [[org, 1]]\n        rps: 5\n\
                storage:\n  lease_duration: 40s\n  high_volume:\n    path: /fast\n  \
                long_term:\n    type: filesystem\n    path: /big\n";
    let found = unknown(
        Some(text),
        &[("OS__AUTH__KEYS", r#"{relay={key_files=["/k.pem"]}}"#)],
    );
    assert_eq!(found, vec![]);
}

#[test]
fn typos_inside_chosen_names_and_list_items_are_found() {
    let text = "usecases:\n  attachments:\n    expiratoin:\n      ttl:\n        max: 1d\n\
                killswitches:\n  - usecsae: u\n";
    let found = unknown(Some(text), &[]);
    let found = keys(&found);
    assert!(
        found.contains(&pair(
            "usecases.attachments.expiratoin.ttl.max",
            "usecases.attachments.expiration.ttl.max"
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&pair("killswitches.0.usecsae", "killswitches.0.usecase")),
        "{found:?}"
    );
    assert_eq!(found.len(), 2, "{found:?}");
}

#[test]
fn extra_keys_of_path_only_stores_are_found() {
    let tiered = "storage:\n  long_term:\n    type: filesystem\n    pth: /big\n";
    assert_eq!(
        keys(&unknown(Some(tiered), &[])),
        vec![pair("storage.long_term.pth", "storage.long_term.path")]
    );
    let found = unknown(
        None,
        &[
            ("OS__STORAGE__TYPE", "filesystem"),
            ("OS__STORAGE__PATH", "/srv"),
            ("OS__STORAGE__PAHT", "/srv"),
        ],
    );
    assert_eq!(keys(&found), vec![pair("storage.paht", "storage.path")]);
    assert_eq!(found[0].source, KeySource::Env("OS__STORAGE__PAHT".into()));
}

#[test]
fn keys_differing_only_in_case_or_dashes_are_suggested() {
    let found = unknown(
        Some("HTTP_ADDR: 127.0.0.1:1\nhttp:\n  max-requests: 5\n"),
        &[],
    );
    let mut named = keys(&found);
    named.sort();
    assert_eq!(
        named,
        vec![
            pair("HTTP_ADDR", "http_addr"),
            pair("http.max-requests", "http.max_requests"),
        ]
    );
}

#[test]
fn unlike_keys_get_no_suggestion() {
    let found = unknown(Some("zzzzqqqq: 1\n"), &[]);
    assert_eq!(keys(&found), vec![("zzzzqqqq".to_owned(), None)]);
    assert!(
        found[0]
            .to_string()
            .contains("no configuration key is like it")
    );
}

/// Every rejected value names its key; the report lists all of them at once.
#[test]
fn invalid_values_are_rejected_naming_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("OS__LOGGING__LEVEL", "warning", "logging.level"),
        ("OS__LOGGING__LEVEL", "objectstore", "logging.level"),
        (
            "OS__LOGGING__LEVEL",
            "info,objectstore=warning",
            "logging.level",
        ),
        ("OS__LOGGING__LEVEL", "\"\"", "logging.level"),
        ("OS__SENTRY__SAMPLE_RATE", "2.0", "sentry.sample_rate"),
        (
            "OS__SENTRY__TRACES_SAMPLE_RATE",
            "-0.5",
            "sentry.traces_sample_rate",
        ),
        ("OS__SENTRY__DSN", "not a dsn", "sentry.dsn"),
        ("OS__RUNTIME__WORKER_THREADS", "0", "runtime.worker_threads"),
        (
            "OS__RUNTIME__METRICS_INTERVAL",
            "0s",
            "runtime.metrics_interval",
        ),
        (
            "OS__METRICS__FLUSH_INTERVAL",
            "0s",
            "metrics.flush_interval",
        ),
        ("OS__METRICS__BUFFER_SIZE", "0", "metrics.buffer_size"),
        ("OS__METRICS__ADDR", "nowhere", "metrics.addr"),
        (
            "OS__HTTP__MIN_BODY_RATE_WINDOW",
            "0s",
            "http.min_body_rate_window",
        ),
        ("OS__HTTP__DOWN_MARKER", "\"\"", "http.down_marker"),
        (
            "OS__SERVICE__MAX_CONCURRENCY",
            "0",
            "service.max_concurrency",
        ),
    ];
    for (var, value, key) in cases {
        let err = Config::load(None, env(&[(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key),
            "{var}={value}: {err:?} does not name {key}"
        );
    }
    let all: Vec<(&str, &str)> = cases.iter().map(|(v, x, _)| (*v, *x)).collect();
    // One variable per key: the last of each repeated variable wins.
    let report = Config::check(None, env(&all));
    let problems = report.config.unwrap_err();
    assert!(problems.len() >= 12, "{problems:?}");
}

#[test]
fn log_levels_and_directive_lists_are_accepted() {
    for level in [
        "INFO",
        "warn",
        "off",
        "info,objectstore=debug",
        "objectstore_service=TRACE, warn",
        "info,objectstore[request{method=PUT}]=debug",
    ] {
        let config = Config::load(None, env(&[("OS__LOGGING__LEVEL", level)]));
        assert!(config.is_ok(), "{level}: {:?}", config.err());
    }
    let err = validate::log_filter("warning").unwrap_err();
    assert!(err.contains("did you mean `warn`"), "{err}");
}

#[test]
fn a_disabled_body_rate_needs_no_window() {
    let config = Config::load(
        None,
        env(&[
            ("OS__HTTP__MIN_BODY_RATE", "0"),
            ("OS__HTTP__MIN_BODY_RATE_WINDOW", "0s"),
        ]),
    );
    assert!(config.is_ok(), "{:?}", config.err());
}

#[test]
fn the_deploy_example_has_no_unknown_keys() {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/config.yaml"
    ));
    let report = Config::check(Some(path), env(&[]));
    assert!(report.is_clean(), "{report:?}");
}
