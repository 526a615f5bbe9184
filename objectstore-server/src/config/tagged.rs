//! Loading a section tagged by `type` (the storage levels) into a serde-derived enum, with
//! the section's defaults and with errors that name the full key.
//!
//! For one section (`storage`, `storage.high_volume`, `storage.long_term`):
//!
//! 1. The section must be a table (or absent: empty). `type` is taken out, lowercased, and
//!    defaults to the section's default type.
//! 2. Defaults that depend on the position: the default type's `path`
//!    ([`Section::with_path`]).
//! 3. The type must be one the enum declares; the names come from the enum's own derive
//!    ([`type_names`]), so every variant is listed in the error and nothing else is.
//! 4. The enum is deserialized with `type` put back. A variant whose payload is [`NotBuilt`]
//!    fails with the cargo feature to build with (named like the type); any other error is
//!    a field error of that section.

use std::fmt;

use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The payload of a backend whose cargo feature this build lacks. It never deserializes, so
/// such a variant is never built: loading reports the feature to build with instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotBuilt(());

/// The error text of deserializing [`NotBuilt`], recognized by [`Section::parse_among`].
const NOT_BUILT: &str = "backend not compiled into this build";

impl<'de> Deserialize<'de> for NotBuilt {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom(NOT_BUILT))
    }
}

/// One section of the configuration: its key path, its type and its other fields.
#[derive(Debug)]
pub(super) struct Section {
    key: String,
    kind: String,
    default_kind: String,
    fields: Map<String, Value>,
}

impl Section {
    /// Step 1 for `value` at `key`.
    pub(super) fn new(key: &str, value: Option<Value>, default_kind: &str) -> Result<Self, String> {
        let mut fields = match value {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(format!("`{key}` must be a table, found {other}")),
        };
        let kind = match fields.remove("type") {
            None | Some(Value::Null) => default_kind.to_owned(),
            Some(Value::String(s)) => s.to_ascii_lowercase(),
            Some(other) => return Err(format!("`{key}.type` must be a string, found {other}")),
        };
        Ok(Self {
            key: key.to_owned(),
            kind,
            default_kind: default_kind.to_owned(),
            fields,
        })
    }

    /// The section's `type`.
    pub(super) fn kind(&self) -> &str {
        &self.kind
    }

    /// Takes the sub-section `name` out of this one (step 1 for it).
    pub(super) fn take(&mut self, name: &str, default_kind: &str) -> Result<Self, String> {
        let value = self.fields.remove(name);
        Self::new(&format!("{}.{name}", self.key), value, default_kind)
    }

    /// Drops the field `name` (a part that does not apply to this section's type).
    pub(super) fn drop_key(&mut self, name: &str) {
        self.fields.remove(name);
    }

    /// Step 2: `path` is `default` when missing and the type is the section's default.
    pub(super) fn with_path(mut self, default: &str) -> Self {
        let missing = matches!(self.fields.get("path"), None | Some(Value::Null));
        if self.kind == self.default_kind && missing {
            self.fields
                .insert("path".into(), Value::String(default.into()));
        }
        self
    }

    /// Steps 3 and 4 into the tagged enum `T`.
    pub(super) fn parse<T: DeserializeOwned>(self) -> Result<T, String> {
        self.parse_among(&[])
    }

    /// Steps 3 and 4, where `others` are further types of this section that the caller
    /// handles itself (listed first in the unknown-type error).
    pub(super) fn parse_among<T: DeserializeOwned>(self, others: &[&str]) -> Result<T, String> {
        let Self {
            key,
            kind,
            mut fields,
            ..
        } = self;
        let names: Vec<&str> = others.iter().chain(type_names::<T>()).copied().collect();
        if !names.contains(&kind.as_str()) {
            return Err(format!(
                "`{key}.type`: unknown type `{kind}`, expected one of {}",
                names.join(", ")
            ));
        }
        fields.insert("type".into(), Value::String(kind.clone()));
        serde_json::from_value(Value::Object(fields)).map_err(|e| {
            if e.to_string() == NOT_BUILT {
                format!(
                    "`{key}.type: {kind}` is not available in this build: rebuild the server \
                     with the cargo feature `{kind}` (`cargo build -p objectstore-server \
                     --features {kind}`)"
                )
            } else {
                format!("`{key}` ({kind} config): {e}")
            }
        })
    }

    /// The remaining fields as the plain struct `T`; errors name the section and `what`.
    pub(super) fn rest<T: DeserializeOwned>(self, what: &str) -> Result<T, String> {
        serde_json::from_value(Value::Object(self.fields))
            .map_err(|e| format!("`{}` ({what}): {e}", self.key))
    }
}

/// The `type` names of the tagged enum `T`, in declaration order: `T` is asked to
/// deserialize a table whose type is no name at all, and its derive answers with the
/// names it expected.
pub(super) fn type_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let probe = MapDeserializer::<_, Expected>::new(std::iter::once(("type", "")));
    match T::deserialize(probe) {
        Err(Expected(Some(names))) => names,
        _ => &[],
    }
}

/// The error of [`type_names`]' probe: the variant names, when that is what failed.
#[derive(Debug)]
struct Expected(Option<&'static [&'static str]>);

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probing the variant names")
    }
}

impl std::error::Error for Expected {}

impl de::Error for Expected {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Self(None)
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        Self(Some(expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HighVolumeConfig, LongTermConfig};

    #[test]
    fn every_declared_type_is_named_built_or_not() {
        assert_eq!(
            type_names::<HighVolumeConfig>(),
            ["embedded", "postgres", "bigtable"]
        );
        assert_eq!(
            type_names::<LongTermConfig>(),
            ["filesystem", "s3", "azure", "gcs"]
        );
    }
}
