//! `docs/configuration.md` documents exactly the configuration keys the server accepts.
//!
//! The key set is derived from the config types, not from a list: every struct's field names
//! come from its `Deserialize` impl (a deserializer that records the `fields` argument of
//! `deserialize_struct`, `config::schema::struct_fields`), walked along the tree in
//! [`sections`]. The storage section is an
//! enum tagged by `type` with a hand-written parser; its type names are read from the
//! parser's own "expected one of ..." message, so a new storage type shows up as drift too.
//!
//! When this test fails it says which keys are missing from the doc (add a row) or
//! documented but unknown (remove or rename the row), or which struct type a new section
//! needs in [`sections`].

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;

/// The fields of a derived struct (the server's own field recorder, which its unknown-key
/// suggestions use too).
fn fields<T: DeserializeOwned>() -> Vec<&'static str> {
    let out = objectstore_server::config::schema::struct_fields::<T>();
    assert!(
        !out.is_empty(),
        "{} does not deserialize as a struct",
        std::any::type_name::<T>()
    );
    out
}

/// Every struct-typed section: its key path (`<name>` for user-chosen map keys, `[]` for
/// list items) and its fields (the server's own table, which its unknown-key suggestions use
/// too; each section must deserialize as a struct).
fn sections() -> Vec<(&'static str, Vec<&'static str>)> {
    let sections = objectstore_server::config::schema::sections();
    for (path, fields) in &sections {
        assert!(!fields.is_empty(), "section `{path}` is not a struct");
    }
    sections
}

/// Containers whose children are sections with user-chosen keys or list items.
const CONTAINERS: &[(&str, &str)] = objectstore_server::config::schema::CONTAINERS;

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// The storage `type` names one level accepts, read from the parser's error for an
/// unknown type (`expected one of a, b, c`).
fn storage_types(env_var: &str) -> Vec<String> {
    let env = [(env_var.to_owned(), "no-such-type".to_owned())];
    let error = objectstore_server::config::Config::load(None, env)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let list = error
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected error for {env_var}: {error}"));
    // `a, b, c` and then free text: the words up to the first one without a comma.
    let mut names = Vec::new();
    for word in list.split_whitespace() {
        let name = word.trim_end_matches(',');
        names.push(name.trim_matches('`').to_owned());
        if !word.ends_with(',') {
            break;
        }
    }
    names
}

/// The keys of a backend config, by `type` name (nested sections as `client.x`); `None`
/// for a type this test does not know yet.
fn backend_fields(kind: &str) -> Option<Vec<String>> {
    let top: Vec<&'static str> = match kind {
        "filesystem" => vec!["path"],
        "embedded" => std::iter::once("path")
            .chain(fields::<objectstore_server::config::ValueLogSettings>())
            .collect(),
        "tiered" => fields::<objectstore_server::config::TieredSettings>(),
        #[cfg(feature = "postgres")]
        "postgres" => fields::<objectstore_service::backend::postgres::PostgresConfig>(),
        #[cfg(feature = "bigtable")]
        "bigtable" => fields::<objectstore_service::backend::bigtable::BigtableConfig>(),
        #[cfg(feature = "s3")]
        "s3" => fields::<objectstore_service::backend::cloud::S3Config>(),
        #[cfg(feature = "azure")]
        "azure" => fields::<objectstore_service::backend::cloud::AzureConfig>(),
        #[cfg(feature = "gcs")]
        "gcs" => fields::<objectstore_service::backend::cloud::GcsConfig>(),
        _ => return None,
    };
    let mut out = Vec::new();
    for field in top {
        let nested: Option<Vec<&'static str>> = match field {
            #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
            "client" => Some(fields::<objectstore_service::backend::cloud::ClientSettings>()),
            #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
            "uploads" => Some(fields::<objectstore_service::backend::cloud::UploadSettings>()),
            _ => None,
        };
        match nested {
            Some(inner) => out.extend(inner.iter().map(|f| format!("{field}.{f}"))),
            None => out.push(field.to_owned()),
        }
    }
    Some(out)
}

/// Every key the server accepts (module docs).
fn derived_keys() -> BTreeSet<String> {
    let sections = sections();
    let section_paths: BTreeSet<&str> = sections.iter().map(|(p, _)| *p).collect();
    let containers: BTreeSet<&str> = CONTAINERS.iter().map(|(c, _)| *c).collect();
    let mut keys = BTreeSet::new();
    for (path, fields) in &sections {
        for field in fields {
            let key = join(path, field);
            if key == "storage" {
                continue;
            }
            if !section_paths.contains(key.as_str()) && !containers.contains(key.as_str()) {
                keys.insert(key);
            }
        }
    }
    let mut unknown = Vec::new();
    keys.insert("storage.type".to_owned());
    for level in [
        ("storage", "OS__STORAGE__TYPE"),
        ("storage.high_volume", "OS__STORAGE__HIGH_VOLUME__TYPE"),
        ("storage.long_term", "OS__STORAGE__LONG_TERM__TYPE"),
    ] {
        keys.insert(format!("{}.type", level.0));
        for kind in storage_types(level.1) {
            match backend_fields(&kind) {
                Some(fields) => {
                    for field in fields {
                        keys.insert(format!("{}.{field}", level.0));
                    }
                }
                None => unknown.push(format!("{}.type: {kind}", level.0)),
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "storage types without an entry in `backend_fields` of tests/config_reference.rs \
         (add their config type there and document their keys in docs/configuration.md): \
         {unknown:?}"
    );
    keys
}

/// The keys documented in `docs/configuration.md`: the first column of every table row,
/// when it is a backticked key. `storage[.long_term].x` stands for both `storage.x` (a
/// standalone store) and `storage.long_term.x` (the long-term tier).
fn documented_keys() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let text = std::fs::read_to_string(path).expect("docs/configuration.md exists");
    let mut keys = BTreeSet::new();
    for key in text
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
    {
        match key.strip_prefix("storage[.long_term].") {
            Some(rest) => {
                keys.insert(format!("storage.{rest}"));
                keys.insert(format!("storage.long_term.{rest}"));
            }
            None => {
                keys.insert(key.to_owned());
            }
        }
    }
    keys
}

#[test]
fn configuration_doc_lists_every_key_and_nothing_else() {
    if !cfg!(all(
        feature = "postgres",
        feature = "s3",
        feature = "azure",
        feature = "gcs"
    )) {
        objectstore_service::testing::skip(
            "configuration_doc_lists_every_key_and_nothing_else",
            "needs every storage feature",
            "run with --all-features",
        );
        return;
    }
    let derived = derived_keys();
    let documented = documented_keys();
    let missing: Vec<_> = derived.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&derived).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/configuration.md is out of date with the config types.\n\
         Keys the server accepts but the doc does not list (add a row `| `key` | type | \
         default | env | meaning |`):\n  {}\n\
         Keys the doc lists but the server does not accept (remove or rename the row):\n  {}\n",
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        unknown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
    );
}

#[test]
fn field_recorder_sees_struct_fields() {
    let f = fields::<objectstore_server::config::HttpConfig>();
    assert!(f.contains(&"max_requests"), "{f:?}");
}

#[test]
fn deploy_example_config_loads() {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/config.yaml"
    ));
    let config = objectstore_server::config::Config::load(Some(path), Vec::new())
        .unwrap_or_else(|e| panic!("deploy/config.yaml: {e}"));
    assert_eq!(config.http_addr.port(), 8888);
    assert!(config.auth.is_enforced());
}
