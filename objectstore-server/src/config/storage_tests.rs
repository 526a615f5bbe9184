//! Tests of the `storage.*` section: every type in YAML and `OS__` form, defaults filled in
//! per level, unknown and uncompiled types rejected naming the key, secrets redacted.

use std::path::PathBuf;

use super::tests::{env, layout_with_long_term_at, yaml};
use super::*;

fn load_yaml(text: &str) -> Result<Config, ConfigError> {
    let file = yaml(text);
    Config::load(Some(file.path()), env(&[]))
}

/// The configuration from the YAML `text`, after checking that the `OS__` variables `vars`
/// give the same `storage`.
fn agreeing(text: &str, vars: &[(&str, &str)]) -> Config {
    let from_yaml = load_yaml(text).unwrap();
    let from_env = Config::load(None, env(vars)).unwrap();
    assert_eq!(from_yaml.storage, from_env.storage);
    from_yaml
}

fn err(result: Result<Config, ConfigError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn partial_overrides_keep_the_other_defaults() {
    let config = load_yaml("storage:\n  long_term:\n    path: /slow\n").unwrap();
    assert_eq!(config.storage, layout_with_long_term_at("/slow"));
    // A standalone type ignores the tier sections of a tiered layout it overrides.
    let file = yaml("storage:\n  high_volume:\n    path: /fast\n");
    let config = Config::load(
        Some(file.path()),
        env(&[
            ("OS__STORAGE__TYPE", "filesystem"),
            ("OS__STORAGE__PATH", "/srv"),
        ]),
    )
    .unwrap();
    assert_eq!(
        config.storage,
        StorageConfig::Standalone(LongTermConfig::Filesystem {
            path: "/srv".into()
        })
    );
}

#[test]
fn unknown_types_name_the_key() {
    let cases = [
        ("storage:\n  type: bigtable\n", "`storage.type`"),
        (
            "storage:\n  high_volume:\n    type: redis\n",
            "`storage.high_volume.type`",
        ),
        (
            "storage:\n  long_term:\n    type: ftp\n",
            "`storage.long_term.type`",
        ),
        (
            "storage:\n  type: tiered\n  long_term: 3\n",
            "`storage.long_term`",
        ),
    ];
    for (text, key) in cases {
        let e = err(load_yaml(text));
        assert!(e.contains(key), "{text:?}: {e}");
    }
    let e = err(load_yaml("storage:\n  type: bigtable\n"));
    assert!(e.contains("expected one of tiered, filesystem, s3"), "{e}");
}

#[cfg(not(feature = "postgres"))]
#[test]
fn uncompiled_postgres_names_the_key_and_feature() {
    let e = err(Config::load(
        None,
        env(&[
            ("OS__STORAGE__HIGH_VOLUME__TYPE", "postgres"),
            ("OS__STORAGE__HIGH_VOLUME__URL", "postgres://db/x"),
        ]),
    ));
    assert!(e.contains("storage.high_volume.type"), "{e}");
    assert!(e.contains("feature `postgres`"), "{e}");
}

#[cfg(not(feature = "s3"))]
#[test]
fn uncompiled_s3_names_the_key_and_feature() {
    let e = err(Config::load(
        None,
        env(&[("OS__STORAGE__LONG_TERM__TYPE", "s3")]),
    ));
    assert!(e.contains("storage.long_term.type"), "{e}");
    assert!(e.contains("feature `s3`"), "{e}");
    let e = err(Config::load(None, env(&[("OS__STORAGE__TYPE", "s3")])));
    assert!(e.contains("`storage.type"), "{e}");
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::time::Duration;

    use super::*;

    #[test]
    fn yaml_and_env_forms_agree() {
        let from_yaml = agreeing(
            "storage:\n  high_volume:\n    type: postgres\n    \
             url: postgres://app:hunter2@db:5432/store\n    max_connections: 8\n    \
             connect_timeout: 3s\n    table_prefix: os_\n  long_term:\n    path: /lt\n",
            &[
                ("OS__STORAGE__HIGH_VOLUME__TYPE", "postgres"),
                (
                    "OS__STORAGE__HIGH_VOLUME__URL",
                    "postgres://app:hunter2@db:5432/store",
                ),
                ("OS__STORAGE__HIGH_VOLUME__MAX_CONNECTIONS", "8"),
                ("OS__STORAGE__HIGH_VOLUME__CONNECT_TIMEOUT", "3s"),
                ("OS__STORAGE__HIGH_VOLUME__TABLE_PREFIX", "os_"),
                ("OS__STORAGE__LONG_TERM__PATH", "/lt"),
            ],
        );
        let StorageConfig::Tiered {
            high_volume: HighVolumeConfig::Postgres(pg),
            long_term: LongTermConfig::Filesystem { path },
            ..
        } = &from_yaml.storage
        else {
            panic!("not postgres + filesystem: {:?}", from_yaml.storage);
        };
        assert_eq!(path, &PathBuf::from("/lt"));
        assert_eq!(pg.max_connections, 8);
        assert_eq!(pg.connect_timeout, Duration::from_secs(3));
        assert_eq!(pg.idle_timeout, Duration::from_secs(600));
        assert_eq!(pg.table_prefix, "os_");
        let debug = format!("{from_yaml:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("app:***@db"), "{debug}");
    }

    #[test]
    fn field_errors_name_the_section() {
        let e = err(Config::load(
            None,
            env(&[("OS__STORAGE__HIGH_VOLUME__TYPE", "postgres")]),
        ));
        assert!(
            e.contains("storage.high_volume") && e.contains("url"),
            "{e}"
        );
        let e = err(Config::load(
            None,
            env(&[
                ("OS__STORAGE__HIGH_VOLUME__TYPE", "postgres"),
                ("OS__STORAGE__HIGH_VOLUME__URL", "postgres://db/x"),
                ("OS__STORAGE__HIGH_VOLUME__MAX_CONECTIONS", "8"),
            ]),
        ));
        assert!(
            e.contains("storage.high_volume") && e.contains("max_conections"),
            "{e}"
        );
        // The default `path` of the embedded tier does not leak into the postgres config.
        let file = yaml("storage:\n  high_volume:\n    path: /fast\n");
        let config = Config::load(
            Some(file.path()),
            env(&[
                ("OS__STORAGE__HIGH_VOLUME__TYPE", "postgres"),
                ("OS__STORAGE__HIGH_VOLUME__URL", "postgres://db/x"),
            ]),
        );
        let e = err(config);
        assert!(e.contains("unknown field `path`"), "{e}");
    }
}

#[cfg(feature = "s3")]
mod s3 {
    use std::time::Duration;

    use super::*;

    #[test]
    fn abandoned_upload_age_must_exceed_the_multipart_window() {
        let base = "storage:\n  multipart_deadline: 2h\n  multipart_grace: 1h\n  long_term:\n    \
                    type: s3\n    bucket: objects\n    uploads:\n      abandoned_after: ";
        let e = err(load_yaml(&format!("{base}3h\n")));
        assert!(
            e.contains("storage.long_term.uploads.abandoned_after") && e.contains("3h"),
            "{e}"
        );
        let config = load_yaml(&format!("{base}4h\n")).unwrap();
        let StorageConfig::Tiered {
            long_term: LongTermConfig::S3(s3),
            ..
        } = &config.storage
        else {
            panic!("not s3: {:?}", config.storage);
        };
        assert_eq!(s3.uploads.abandoned_after, Duration::from_secs(4 * 3600));
        assert_eq!(s3.uploads.cleanup_interval, Duration::from_secs(3600));
        // The defaults (7 days against 25 hours) are consistent.
        load_yaml("storage:\n  long_term:\n    type: s3\n    bucket: objects\n").unwrap();
    }

    #[test]
    fn tiered_yaml_and_env_forms_agree() {
        let from_yaml = agreeing(
            "storage:\n  long_term:\n    type: s3\n    bucket: objects\n    \
             endpoint: http://127.0.0.1:5000\n    allow_http: true\n    \
             access_key_id: AKIA\n    secret_access_key: s3cr3t\n    prefix: lt\n    \
             client:\n      max_retries: 3\n      request_timeout: 20s\n",
            &[
                ("OS__STORAGE__LONG_TERM__TYPE", "s3"),
                ("OS__STORAGE__LONG_TERM__BUCKET", "objects"),
                ("OS__STORAGE__LONG_TERM__ENDPOINT", "http://127.0.0.1:5000"),
                ("OS__STORAGE__LONG_TERM__ALLOW_HTTP", "true"),
                ("OS__STORAGE__LONG_TERM__ACCESS_KEY_ID", "AKIA"),
                ("OS__STORAGE__LONG_TERM__SECRET_ACCESS_KEY", "s3cr3t"),
                ("OS__STORAGE__LONG_TERM__PREFIX", "lt"),
                ("OS__STORAGE__LONG_TERM__CLIENT__MAX_RETRIES", "3"),
                ("OS__STORAGE__LONG_TERM__CLIENT__REQUEST_TIMEOUT", "20s"),
            ],
        );
        let StorageConfig::Tiered {
            high_volume: HighVolumeConfig::Embedded { .. },
            long_term: LongTermConfig::S3(s3),
            ..
        } = &from_yaml.storage
        else {
            panic!("not embedded + s3: {:?}", from_yaml.storage);
        };
        assert_eq!(s3.bucket, "objects");
        assert!(s3.allow_http);
        assert_eq!(s3.client.max_retries, 3);
        assert_eq!(s3.client.request_timeout, Duration::from_secs(20));
        assert_eq!(s3.client.connect_timeout, Duration::from_secs(5));
        let debug = format!("{from_yaml:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }

    #[test]
    fn standalone_s3() {
        let config = Config::load(
            None,
            env(&[
                ("OS__STORAGE__TYPE", "s3"),
                ("OS__STORAGE__BUCKET", "objects"),
            ]),
        )
        .unwrap();
        let StorageConfig::Standalone(LongTermConfig::S3(s3)) = &config.storage else {
            panic!("not s3: {:?}", config.storage);
        };
        assert_eq!(s3.bucket, "objects");
        assert!(s3.from_env);
        let e = err(Config::load(None, env(&[("OS__STORAGE__TYPE", "s3")])));
        assert!(
            e.contains("`storage` (s3 config)") && e.contains("bucket"),
            "{e}"
        );
        let e = err(load_yaml(
            "storage:\n  type: s3\n  bucket: b\n  acess_key_id: typo\n",
        ));
        assert!(e.contains("acess_key_id"), "{e}");
    }
}

#[cfg(feature = "azure")]
mod azure {
    use super::*;

    #[test]
    fn tiered_and_standalone_forms() {
        let from_yaml = agreeing(
            "storage:\n  long_term:\n    type: azure\n    container: objects\n    \
             account: devstoreaccount1\n    access_key: k3y\n    use_emulator: true\n",
            &[
                ("OS__STORAGE__LONG_TERM__TYPE", "azure"),
                ("OS__STORAGE__LONG_TERM__CONTAINER", "objects"),
                ("OS__STORAGE__LONG_TERM__ACCOUNT", "devstoreaccount1"),
                ("OS__STORAGE__LONG_TERM__ACCESS_KEY", "k3y"),
                ("OS__STORAGE__LONG_TERM__USE_EMULATOR", "true"),
            ],
        );
        let StorageConfig::Tiered {
            long_term: LongTermConfig::Azure(azure),
            ..
        } = &from_yaml.storage
        else {
            panic!("not azure: {:?}", from_yaml.storage);
        };
        assert_eq!(azure.container, "objects");
        assert!(azure.use_emulator);
        assert!(!format!("{from_yaml:?}").contains("k3y"));
        let standalone = Config::load(
            None,
            env(&[
                ("OS__STORAGE__TYPE", "azure"),
                ("OS__STORAGE__CONTAINER", "c"),
            ]),
        )
        .unwrap();
        assert!(matches!(
            standalone.storage,
            StorageConfig::Standalone(LongTermConfig::Azure(_))
        ));
    }
}

#[cfg(feature = "gcs")]
mod gcs {
    use super::*;

    #[test]
    fn tiered_and_standalone_forms() {
        let from_yaml = agreeing(
            "storage:\n  long_term:\n    type: gcs\n    bucket: objects\n    \
             service_account_key: g00gle\n",
            &[
                ("OS__STORAGE__LONG_TERM__TYPE", "gcs"),
                ("OS__STORAGE__LONG_TERM__BUCKET", "objects"),
                ("OS__STORAGE__LONG_TERM__SERVICE_ACCOUNT_KEY", "g00gle"),
            ],
        );
        let StorageConfig::Tiered {
            long_term: LongTermConfig::Gcs(gcs),
            ..
        } = &from_yaml.storage
        else {
            panic!("not gcs: {:?}", from_yaml.storage);
        };
        assert_eq!(gcs.bucket, "objects");
        assert!(!format!("{from_yaml:?}").contains("g00gle"));
        let standalone = Config::load(
            None,
            env(&[("OS__STORAGE__TYPE", "gcs"), ("OS__STORAGE__BUCKET", "b")]),
        )
        .unwrap();
        assert!(matches!(
            standalone.storage,
            StorageConfig::Standalone(LongTermConfig::Gcs(_))
        ));
    }
}

#[test]
fn tiered_settings_come_from_yaml_and_env() {
    let from_yaml = agreeing(
        "storage:\n  lease_duration: 5s\n  lease_renew_interval: 1s\n  recovery_interval: 2s\n  \
         multipart_grace: 10m\n  cleanup_concurrency: 4\n",
        &[
            ("OS__STORAGE__LEASE_DURATION", "5s"),
            ("OS__STORAGE__LEASE_RENEW_INTERVAL", "1s"),
            ("OS__STORAGE__RECOVERY_INTERVAL", "2s"),
            ("OS__STORAGE__MULTIPART_GRACE", "10m"),
            ("OS__STORAGE__CLEANUP_CONCURRENCY", "4"),
        ],
    );
    let StorageConfig::Tiered { settings, .. } = &from_yaml.storage else {
        panic!("not tiered: {:?}", from_yaml.storage);
    };
    let engine = settings.to_tiered_config();
    assert_eq!(engine.lease_duration, std::time::Duration::from_secs(5));
    assert_eq!(
        engine.lease_renew_interval,
        std::time::Duration::from_secs(1)
    );
    assert_eq!(engine.recovery_interval, std::time::Duration::from_secs(2));
    assert_eq!(engine.multipart_grace, std::time::Duration::from_secs(600));
    assert_eq!(engine.cleanup_concurrency, 4);
    // Untouched keys keep the engine's defaults.
    let defaults = objectstore_service::tiered::TieredConfig::default();
    assert_eq!(engine.sweep_interval, defaults.sweep_interval);
    assert_eq!(engine.multipart_deadline, defaults.multipart_deadline);
    assert_eq!(engine.threshold, defaults.threshold);
    assert!(engine.background);
}

#[test]
fn invalid_tiered_settings_name_the_key() {
    let cases = [
        ("storage:\n  lease_duration: 0s\n", "storage.lease_duration"),
        (
            "storage:\n  lease_duration: 10s\n  lease_renew_interval: 10s\n",
            "storage.lease_renew_interval",
        ),
        ("storage:\n  recovery_batch: 0\n", "storage.recovery_batch"),
        ("storage:\n  lease_durration: 5s\n", "lease_durration"),
        ("storage:\n  path: /srv\n", "path"),
        ("storage:\n  sweep_interval: soon\n", "storage"),
    ];
    for (text, key) in cases {
        let e = err(load_yaml(text));
        assert!(e.contains(key), "{text:?}: {e}");
    }
}

#[cfg(not(feature = "bigtable"))]
#[test]
fn uncompiled_bigtable_names_the_key_and_feature() {
    let e = err(Config::load(
        None,
        env(&[("OS__STORAGE__HIGH_VOLUME__TYPE", "bigtable")]),
    ));
    assert!(e.contains("storage.high_volume.type"), "{e}");
    assert!(e.contains("feature `bigtable`"), "{e}");
}

#[cfg(feature = "bigtable")]
mod bigtable {
    use std::time::Duration;

    use super::*;

    #[test]
    fn yaml_and_env_forms_agree() {
        let from_yaml = agreeing(
            "storage:\n  high_volume:\n    type: bigtable\n    \
             endpoint: 127.0.0.1:8086\n    project_id: proj\n    instance_name: inst\n    \
             table_name: objects\n    connections: 4\n    timeout: 3s\n  \
             long_term:\n    path: /lt\n",
            &[
                ("OS__STORAGE__HIGH_VOLUME__TYPE", "bigtable"),
                ("OS__STORAGE__HIGH_VOLUME__ENDPOINT", "127.0.0.1:8086"),
                ("OS__STORAGE__HIGH_VOLUME__PROJECT_ID", "proj"),
                ("OS__STORAGE__HIGH_VOLUME__INSTANCE_NAME", "inst"),
                ("OS__STORAGE__HIGH_VOLUME__TABLE_NAME", "objects"),
                ("OS__STORAGE__HIGH_VOLUME__CONNECTIONS", "4"),
                ("OS__STORAGE__HIGH_VOLUME__TIMEOUT", "3s"),
                ("OS__STORAGE__LONG_TERM__PATH", "/lt"),
            ],
        );
        let StorageConfig::Tiered {
            high_volume: HighVolumeConfig::Bigtable(bt),
            long_term: LongTermConfig::Filesystem { path },
            ..
        } = &from_yaml.storage
        else {
            panic!("not bigtable + filesystem: {:?}", from_yaml.storage);
        };
        assert_eq!(path, &PathBuf::from("/lt"));
        assert_eq!(bt.endpoint.as_deref(), Some("127.0.0.1:8086"));
        assert_eq!(
            (
                bt.project_id.as_str(),
                bt.instance_name.as_str(),
                bt.table_name.as_str()
            ),
            ("proj", "inst", "objects")
        );
        assert_eq!(bt.connections, 4);
        assert_eq!(bt.timeout, Duration::from_secs(3));
        assert!(bt.create_table);
    }

    #[test]
    fn field_errors_name_the_section() {
        let e = err(Config::load(
            None,
            env(&[
                ("OS__STORAGE__HIGH_VOLUME__TYPE", "bigtable"),
                ("OS__STORAGE__HIGH_VOLUME__PROJECT_ID", "proj"),
                ("OS__STORAGE__HIGH_VOLUME__INSTANCE_NAME", "inst"),
            ]),
        ));
        assert!(
            e.contains("storage.high_volume") && e.contains("table_name"),
            "{e}"
        );
        // The default `path` of the embedded tier does not leak into the bigtable config.
        let file = yaml("storage:\n  high_volume:\n    path: /fast\n");
        let e = err(Config::load(
            Some(file.path()),
            env(&[
                ("OS__STORAGE__HIGH_VOLUME__TYPE", "bigtable"),
                ("OS__STORAGE__HIGH_VOLUME__PROJECT_ID", "p"),
                ("OS__STORAGE__HIGH_VOLUME__INSTANCE_NAME", "i"),
                ("OS__STORAGE__HIGH_VOLUME__TABLE_NAME", "t"),
            ]),
        ));
        assert!(e.contains("unknown field `path`"), "{e}");
        // Only as a tier: a standalone Bigtable store is not offered.
        let e = err(load_yaml("storage:\n  type: bigtable\n"));
        assert!(e.contains("`storage.type`"), "{e}");
    }
}

#[test]
fn value_log_settings_come_from_yaml_and_env() {
    let file = yaml(
        "storage:\n  high_volume:\n    path: /fast\n    value_log_threshold: 32768\n    \
         compaction_garbage_ratio: 0.25\n",
    );
    let config = Config::load(
        Some(file.path()),
        env(&[(
            "OS__STORAGE__HIGH_VOLUME__COMPACTION_BYTES_PER_SECOND",
            "1048576",
        )]),
    )
    .unwrap();
    let StorageConfig::Tiered {
        high_volume: HighVolumeConfig::Embedded { path, value_log },
        ..
    } = config.storage
    else {
        panic!("not tiered over embedded: {:?}", config.storage);
    };
    assert_eq!(path, PathBuf::from("/fast"));
    assert_eq!(
        value_log,
        ValueLogSettings {
            value_log_threshold: 32768,
            compaction_bytes_per_second: 1024 * 1024,
            compaction_garbage_ratio: 0.25,
            ..ValueLogSettings::default()
        }
    );
}

#[test]
fn invalid_value_log_settings_name_the_key() {
    for (text, key) in [
        (
            "storage:\n  high_volume:\n    compaction_garbage_ratio: 1.5\n",
            "compaction_garbage_ratio",
        ),
        (
            "storage:\n  high_volume:\n    value_log_segment_bytes: 4096\n",
            "value_log_segment_bytes",
        ),
        (
            "storage:\n  high_volume:\n    value_log_treshold: 4096\n",
            "value_log_treshold",
        ),
    ] {
        let message = err(load_yaml(text));
        assert!(message.contains("storage.high_volume"), "{message}");
        assert!(message.contains(key), "{message}");
    }
}
