use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use objectstore_types::{ExpirationPolicy, Permission};

use super::*;

/// The default tiered layout (embedded high-volume tier under `data/hv`, default settings)
/// with its filesystem long-term tier at `path`.
pub(super) fn layout_with_long_term_at(path: &str) -> StorageConfig {
    StorageConfig::Tiered {
        high_volume: HighVolumeConfig::Embedded {
            path: PathBuf::from("data/hv"),
            value_log: ValueLogSettings::default(),
        },
        long_term: LongTermConfig::Filesystem {
            path: PathBuf::from(path),
        },
        settings: TieredSettings::default(),
    }
}

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn yaml(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn zero_config_is_tiered_under_data_on_loopback() {
    let config = Config::load(None, env(&[])).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.http_addr.to_string(), "127.0.0.1:8888");
    assert_eq!(config.storage, layout_with_long_term_at("data/lt"));
    assert_eq!(config.http.max_requests, 10_000);
    assert_eq!(config.service.max_concurrency, 500);
    assert_eq!(config.service.concurrency_timeout, Duration::from_secs(1));
    assert!(!config.auth.is_active());
}

#[test]
fn yaml_then_env_layering() {
    let file = yaml(
        "http_addr: 127.0.0.1:9000\n\
         storage:\n  type: filesystem\n  path: /srv/objects\n\
         http:\n  max_requests: 5\n\
         service:\n  concurrency_timeout: 250ms\n\
         logging:\n  level: debug\n  format: json\n\
         unknown_section:\n  whatever: 1\n",
    );
    let config = Config::load(
        Some(file.path()),
        env(&[
            ("OS__HTTP__MAX_REQUESTS", "7"),
            ("OS__LOG__LEVEL", "trace"),
            ("OS__SERVICE__MAX_CONCURRENCY", "3"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(config.http_addr.to_string(), "127.0.0.1:9000");
    assert_eq!(
        config.storage,
        StorageConfig::Standalone(LongTermConfig::Filesystem {
            path: "/srv/objects".into()
        })
    );
    assert_eq!(config.http.max_requests, 7);
    assert_eq!(config.service.max_concurrency, 3);
    assert_eq!(
        config.service.concurrency_timeout,
        Duration::from_millis(250)
    );
    assert_eq!(config.logging.level, "debug");
    assert_eq!(config.logging.format, LogFormat::Json);
}

#[test]
fn env_inline_tables_configure_auth_keys() {
    let config = Config::load(
        None,
        env(&[(
            "OS__AUTH__KEYS",
            r#"{test_kid={key_files=["/abs/ed25519.public.pem"],max_permissions=["object.read","object.write","object.delete"]}}"#,
        )]),
    )
    .unwrap();
    let key = &config.auth.keys["test_kid"];
    assert_eq!(
        key.key_files,
        vec![PathBuf::from("/abs/ed25519.public.pem")]
    );
    assert_eq!(key.max_permissions, Permission::ALL.to_vec());
    assert!(config.auth.is_active());
}

#[test]
fn env_overrides_nested_storage_fields() {
    let config = Config::load(
        None,
        env(&[
            ("OS__STORAGE__HIGH_VOLUME__PATH", "/fast"),
            ("OS__HTTP_ADDR", "127.0.0.1:1234"),
        ]),
    )
    .unwrap();
    assert_eq!(
        config.storage,
        StorageConfig::Tiered {
            high_volume: HighVolumeConfig::Embedded {
                path: "/fast".into(),
                value_log: Default::default(),
            },
            long_term: LongTermConfig::Filesystem {
                path: "data/lt".into()
            },
            settings: TieredSettings::default(),
        }
    );
    assert_eq!(config.http_addr.port(), 1234);
    let standalone = Config::load(
        None,
        env(&[
            ("OS__STORAGE__TYPE", "filesystem"),
            ("OS__STORAGE__PATH", "/srv"),
        ]),
    )
    .unwrap();
    assert_eq!(
        standalone.storage,
        StorageConfig::Standalone(LongTermConfig::Filesystem {
            path: "/srv".into()
        })
    );
}

#[test]
fn usecase_rules_check_policies() {
    let file = yaml(
        "usecases:\n  attachments:\n    expiration:\n      manual:\n        allowed: false\n      \
         ttl:\n        max: 90d\n",
    );
    let config = Config::load(Some(file.path()), env(&[])).unwrap();
    let usecase = objectstore_types::Usecase::new("attachments").unwrap();
    let check = |p: ExpirationPolicy| config.usecases.check_policy(&usecase, &p);
    assert!(check(ExpirationPolicy::Manual).is_err());
    let day = Duration::from_secs(86_400);
    assert!(check(ExpirationPolicy::TimeToLive(90 * day)).is_ok());
    let err = check(ExpirationPolicy::TimeToLive(91 * day))
        .unwrap_err()
        .to_string();
    assert!(err.contains("maximum of 90d"), "{err}");
    assert!(check(ExpirationPolicy::TimeToIdle(1000 * day)).is_ok());
}

/// Every rejection names the offending key.
#[test]
fn invalid_values_are_rejected_naming_the_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("OS__HTTP_ADDR", "not an address")], "http_addr"),
        (&[("OS__HTTP__MAX_REQUESTS", "many")], "max_requests"),
        (&[("OS__STORAGE__TYPE", "gcs")], "storage"),
        (&[("OS__STORAGE__TYPE", "filesystem")], "path"),
        (
            &[("OS__SERVICE__BULK_CONCURRENCY_PCT", "0")],
            "service.bulk_concurrency_pct",
        ),
        (
            &[("OS__SERVICE__CONCURRENCY_TIMEOUT", "soon")],
            "concurrency_timeout",
        ),
        (&[("OS__AUTH__ENFORCE", "true")], "auth.enforce"),
        (
            &[(
                "OS__AUTH__KEYS",
                r#"{k={key_files=["/x"],max_permissions=["object.admin"]}}"#,
            )],
            "max_permissions",
        ),
        (&[("OS__LOGGING__FORMAT", "xml")], "format"),
        (&[("OS__LOGGING__LEVEL", "[bad")], "logging.level"),
        (
            &[("OS__HTTP_ADDR", "0.0.0.0:8888")],
            "auth.allow_unauthenticated",
        ),
        (
            &[("OS__STORAGE__LONG_TERM__PATH", "data/hv")],
            "storage.long_term.path",
        ),
        (
            &[("OS__RATE_LIMITS__THROUGHPUT__USECASE_PCT", "150")],
            "rate_limits.throughput.usecase_pct",
        ),
        (&[("OS__USECASES", r#"{"a/b"={}}"#)], "usecases.a/b"),
    ];
    for (vars, key) in cases {
        let err = Config::load(None, env(vars)).unwrap_err().to_string();
        assert!(err.contains(key), "{vars:?}: {err:?} does not name {key}");
    }
}

#[test]
fn public_addresses_need_auth_or_an_explicit_opt_out() {
    let open = Config::load(
        None,
        env(&[
            ("OS__HTTP_ADDR", "0.0.0.0:8888"),
            ("OS__AUTH__ALLOW_UNAUTHENTICATED", "true"),
        ]),
    )
    .unwrap();
    assert!(!open.auth.is_enforced());
    let keyed = Config::load(
        None,
        env(&[
            ("OS__HTTP_ADDR", "[::]:8888"),
            ("OS__AUTH__KEYS", r#"{k={key_files=["/k.pem"]}}"#),
        ]),
    )
    .unwrap();
    assert!(keyed.auth.is_enforced());
    let report_only = Config::load(
        None,
        env(&[
            ("OS__HTTP_ADDR", "0.0.0.0:8888"),
            ("OS__AUTH__ENFORCE", "false"),
            ("OS__AUTH__KEYS", r#"{k={key_files=["/k.pem"]}}"#),
        ]),
    );
    assert!(
        report_only.is_err(),
        "keys without enforcement do not protect"
    );
}

#[test]
fn missing_config_file_is_an_error() {
    let err = Config::load(Some(std::path::Path::new("/nonexistent/x.yml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/x.yml"), "{err}");
}

#[test]
fn malformed_yaml_is_an_error() {
    let file = yaml("http_addr: [unclosed\n");
    assert!(Config::load(Some(file.path()), env(&[])).is_err());
}

#[test]
fn service_section_converts() {
    let section = ServiceSection {
        bulk_concurrency_pct: 100,
        ..ServiceSection::default()
    };
    assert_eq!(section.to_service_config().bulk_concurrency_pct, 100);
}
