//! The configuration's key tree, derived from the config types: which keys are valid directly
//! below a given key path. [`super::unknown`] uses it to suggest the closest valid key for a
//! misspelt one.
//!
//! **Invariants**
//!
//! * The field names of a section come from its type's `Deserialize` impl (a deserializer
//!   that records the `fields` argument of `deserialize_struct`), never from a hand-written
//!   list, so a new field is known here as soon as it exists.
//! * Below a container whose keys the operator chooses (`auth.keys.<kid>`,
//!   `s3.credentials.<access_key_id>`, `usecases.<name>`, list items of `killswitches` and `rate_limits.throughput.rules`)
//!   the chosen name is skipped: its children are the item type's fields. Maps of free-form
//!   data (`sentry.tags`, `metrics.tags`, a killswitch's `scopes`) have no schema: every key
//!   there is valid.
//! * `storage` keys depend on the section's `type` (the merged value's, or the default):
//!   only the local stores (`embedded`: `path` and the fields of [`ValueLogSettings`];
//!   `filesystem`: `path`) and the tiered layout are described; the other stores' configs
//!   reject unknown fields themselves.

use figment::value::Value;
use serde::de::{self, DeserializeOwned, Visitor};

use super::{
    AuthConfig, Config, HttpConfig, LoggingConfig, MetricsConfig, RuntimeConfig, S3Section,
    SentryConfig, ServiceSection, TieredSettings, ValueLogSettings,
};
use crate::admission::{
    BandwidthConfig, DurationPolicyConfig, ExpirationConfig, Killswitch, PolicyConfig,
    RateLimitsConfig, ThroughputConfig, ThroughputRule, UsecaseConfig,
};
use crate::auth::KeyConfig;
use objectstore_s3::auth::CredentialConfig;

/// Containers whose children are names the operator chooses or list indices, and the
/// pattern of their items in [`sections`].
pub const CONTAINERS: &[(&str, &str)] = &[
    ("auth.keys", "auth.keys.<kid>"),
    ("killswitches", "killswitches[]"),
    (
        "rate_limits.throughput.rules",
        "rate_limits.throughput.rules[]",
    ),
    ("s3.credentials", "s3.credentials.<access_key_id>"),
    ("usecases", "usecases.<name>"),
];

/// The field names of the struct `T` deserializes as (empty when `T` is not a struct):
/// `T::deserialize` against a deserializer that records the `fields` argument of
/// `deserialize_struct` and then fails.
pub fn struct_fields<T: DeserializeOwned>() -> Vec<&'static str> {
    struct Recorder<'a>(&'a mut Vec<&'static str>);

    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }

    impl<'de> de::Deserializer<'de> for Recorder<'_> {
        type Error = Stop;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            self.0.extend_from_slice(fields);
            Err(Stop)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut out = Vec::new();
    let _ = T::deserialize(Recorder(&mut out));
    out
}

/// Every struct-typed section outside `storage`: its key path (`<kid>`, `<name>` for the
/// names the operator chooses, `[]` for list items) and its fields.
pub fn sections() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("", struct_fields::<Config>()),
        ("http", struct_fields::<HttpConfig>()),
        ("service", struct_fields::<ServiceSection>()),
        ("runtime", struct_fields::<RuntimeConfig>()),
        ("logging", struct_fields::<LoggingConfig>()),
        ("sentry", struct_fields::<SentryConfig>()),
        ("metrics", struct_fields::<MetricsConfig>()),
        ("auth", struct_fields::<AuthConfig>()),
        ("auth.keys.<kid>", struct_fields::<KeyConfig>()),
        ("s3", struct_fields::<S3Section>()),
        (
            "s3.credentials.<access_key_id>",
            struct_fields::<CredentialConfig>(),
        ),
        ("killswitches[]", struct_fields::<Killswitch>()),
        ("rate_limits", struct_fields::<RateLimitsConfig>()),
        (
            "rate_limits.throughput",
            struct_fields::<ThroughputConfig>(),
        ),
        (
            "rate_limits.throughput.rules[]",
            struct_fields::<ThroughputRule>(),
        ),
        ("rate_limits.bandwidth", struct_fields::<BandwidthConfig>()),
        ("usecases.<name>", struct_fields::<UsecaseConfig>()),
        (
            "usecases.<name>.expiration",
            struct_fields::<ExpirationConfig>(),
        ),
        (
            "usecases.<name>.expiration.manual",
            struct_fields::<PolicyConfig>(),
        ),
        (
            "usecases.<name>.expiration.ttl",
            struct_fields::<DurationPolicyConfig>(),
        ),
        (
            "usecases.<name>.expiration.tti",
            struct_fields::<DurationPolicyConfig>(),
        ),
    ]
}

/// The fields of the section at `pattern` (a key path of [`sections`]).
fn section(pattern: &str) -> Option<Vec<&'static str>> {
    sections()
        .into_iter()
        .find_map(|(path, fields)| (path == pattern).then_some(fields))
}

/// The `type` of the storage section at `path` in the merged configuration (`default`
/// when unset), lowercase.
pub(super) fn storage_kind(merged: &Value, path: &[&str], default: &str) -> String {
    let mut value = Some(merged);
    for segment in path.iter().chain(&["type"]) {
        value = value
            .and_then(|v| v.as_dict())
            .and_then(|d| d.get(*segment));
    }
    value
        .and_then(Value::as_str)
        .map_or_else(|| default.to_owned(), str::to_ascii_lowercase)
}

/// The valid keys directly below `parent` (concrete key segments); `None` when every key is
/// valid there (free-form maps, undescribed sections).
pub(super) fn children(merged: &Value, parent: &[&str]) -> Option<Vec<&'static str>> {
    match parent {
        ["storage"] => {
            return match storage_kind(merged, &["storage"], "tiered").as_str() {
                "tiered" => {
                    let mut keys = vec!["type", "high_volume", "long_term"];
                    keys.extend(struct_fields::<TieredSettings>());
                    Some(keys)
                }
                "filesystem" => Some(vec!["type", "path", "high_volume", "long_term"]),
                _ => None,
            };
        }
        ["storage", tier @ ("high_volume" | "long_term")] => {
            let default = if *tier == "high_volume" {
                "embedded"
            } else {
                "filesystem"
            };
            return match storage_kind(merged, parent, default).as_str() {
                "embedded" => {
                    let mut keys = vec!["type", "path"];
                    keys.extend(struct_fields::<ValueLogSettings>());
                    Some(keys)
                }
                "filesystem" => Some(vec!["type", "path"]),
                _ => None,
            };
        }
        ["storage", ..] => return None,
        _ => {}
    }
    let mut pattern = String::new();
    for segment in parent {
        pattern = match CONTAINERS.iter().find(|(c, _)| *c == pattern) {
            Some((_, item)) => (*item).to_owned(),
            None if pattern.is_empty() => (*segment).to_owned(),
            None => format!("{pattern}.{segment}"),
        };
    }
    section(&pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(yaml: &str) -> Value {
        use figment::providers::{Format, Yaml};
        figment::Figment::from(Yaml::string(yaml))
            .extract()
            .unwrap()
    }

    #[test]
    fn sections_come_from_the_types() {
        let empty = merged("{}");
        let root = children(&empty, &[]).unwrap();
        assert!(
            root.contains(&"http_addr") && root.contains(&"logging"),
            "{root:?}"
        );
        let http = children(&empty, &["http"]).unwrap();
        assert!(http.contains(&"min_body_rate"), "{http:?}");
        let key = children(&empty, &["auth", "keys", "relay"]).unwrap();
        assert_eq!(key, vec!["key_files", "max_permissions"]);
        let rule = children(&empty, &["rate_limits", "throughput", "rules", "3"]).unwrap();
        assert!(rule.contains(&"rps"), "{rule:?}");
        let ttl = children(&empty, &["usecases", "attachments", "expiration", "ttl"]).unwrap();
        assert!(ttl.contains(&"max"), "{ttl:?}");
        let s3 = children(&empty, &["s3"]).unwrap();
        assert!(s3.contains(&"max_xml_body"), "{s3:?}");
        let credential = children(&empty, &["s3", "credentials", "AKIDEXAMPLE"]).unwrap();
        assert!(
            credential.contains(&"secret_access_key_file"),
            "{credential:?}"
        );
    }

    #[test]
    fn user_data_maps_have_no_schema() {
        let empty = merged("{}");
        assert_eq!(children(&empty, &["sentry", "tags"]), None);
        assert_eq!(children(&empty, &["killswitches", "0", "scopes"]), None);
        assert_eq!(children(&empty, &["auth", "keys"]), None);
    }

    #[test]
    fn storage_keys_follow_the_type() {
        let tiered = merged("storage: {high_volume: {type: postgres}}");
        let top = children(&tiered, &["storage"]).unwrap();
        assert!(top.contains(&"lease_duration") && top.contains(&"long_term"));
        assert_eq!(children(&tiered, &["storage", "high_volume"]), None);
        assert_eq!(
            children(&tiered, &["storage", "long_term"]),
            Some(vec!["type", "path"])
        );
        let standalone = merged("storage: {type: Filesystem, path: /x}");
        assert!(
            children(&standalone, &["storage"])
                .unwrap()
                .contains(&"path")
        );
    }

    #[test]
    fn embedded_keys_are_path_and_the_value_log_settings() {
        let keys = children(&merged("{}"), &["storage", "high_volume"]).unwrap();
        for key in [
            "type",
            "path",
            "value_log_threshold",
            "compaction_garbage_ratio",
        ] {
            assert!(keys.contains(&key), "{key}: {keys:?}");
        }
        let filesystem = children(&merged("{}"), &["storage", "long_term"]).unwrap();
        assert_eq!(filesystem, vec!["type", "path"]);
    }
}
