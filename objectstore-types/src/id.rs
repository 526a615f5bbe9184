//! Object identity: usecase, scopes, key, and the [`ObjectId`] built from them.
//!
//! **Invariant:** every value of these types is valid by construction. The only ways to build
//! one are the validating constructors ([`Usecase::new`], [`Scope::new`], [`Scopes::parse`],
//! [`ObjectKey::new`]) and [`ObjectId::from_storage_path`], which re-validates. Backends may
//! therefore use [`ObjectId::as_storage_path`] as a row key or object name without further
//! checks: it never contains `..`, an empty segment or a control character.
//!
//! ```
//! use objectstore_types::{ObjectKey, Scopes};
//!
//! assert!(ObjectKey::new("nested/path/segments").is_ok());
//! assert!(ObjectKey::new("../etc/passwd").is_err());
//! assert!(ObjectKey::new("a//b").is_err());
//!
//! let scopes = Scopes::parse("org=17;project=42").unwrap();
//! assert_eq!(scopes.as_api_path(), "org=17;project=42");
//! assert_eq!(Scopes::parse("_").unwrap().as_api_path(), "_");
//! assert!(Scopes::parse("org=1.5").is_err());
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted object key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 1024;
/// Longest accepted usecase name, in bytes.
pub const MAX_USECASE_LEN: usize = 256;
/// Longest accepted scope name or value, in bytes.
pub const MAX_SCOPE_PART_LEN: usize = 256;
/// Most scopes accepted on one object.
pub const MAX_SCOPES: usize = 16;

/// The segment separating scopes from the key in a storage path.
const OBJECTS_SEGMENT: &str = "objects";

/// Why a usecase, scope or key was rejected. The text is meant for the user who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidId {
    /// The usecase name is unusable.
    #[error("invalid usecase {0:?}: {1}")]
    Usecase(String, &'static str),
    /// The scopes segment is malformed.
    #[error("invalid scopes {0:?}: {1}")]
    Scopes(String, String),
    /// The object key is unusable.
    #[error("invalid object key {0:?}: {1}")]
    Key(String, &'static str),
}

/// Whether `text` holds a control character (`char::is_control`), checked byte by byte
/// when it is ASCII (every request validates a usecase and a key).
fn has_control(text: &str) -> bool {
    if text.is_ascii() {
        text.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        text.chars().any(char::is_control)
    }
}

/// A top-level namespace: the application that owns the objects.
///
/// Accepted: 1 to 256 bytes, no `/`, `\` or control characters, not `.` or `..`. (The
/// reference server accepts any segment; newer clients restrict themselves to
/// `[A-Za-z0-9_-]{3,64}`, which is a subset of this.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Usecase(String);

impl Usecase {
    /// Validates and wraps a usecase name.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidId> {
        let name = name.into();
        let problem = if name.is_empty() {
            Some("must not be empty")
        } else if name.len() > MAX_USECASE_LEN {
            Some("must be at most 256 bytes")
        } else if name == "." || name == ".." {
            Some("must not be `.` or `..`")
        } else if name.contains(['/', '\\']) {
            Some("must not contain `/` or `\\`")
        } else if has_control(&name) {
            Some("must not contain control characters")
        } else {
            None
        };
        match problem {
            Some(why) => Err(InvalidId::Usecase(name, why)),
            None => Ok(Self(name)),
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Usecase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Usecase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `c` may appear in a scope name or value (docs/http-api.md §2.2).
fn is_scope_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '(' | ')' | '$' | '!' | '+' | '\'')
}

/// One `name=value` pair of the scope list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    name: String,
    value: String,
}

impl Scope {
    /// Validates a scope: name and value are 1 to 256 characters of
    /// `A-Z a-z 0-9 _ - ( ) $ ! + '`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Result<Self, InvalidId> {
        let (name, value) = (name.into(), value.into());
        for (what, part) in [("name", &name), ("value", &value)] {
            let why = if part.is_empty() {
                format!("scope {what} must not be empty")
            } else if part.len() > MAX_SCOPE_PART_LEN {
                format!("scope {what} must be at most {MAX_SCOPE_PART_LEN} bytes")
            } else if let Some(bad) = part.chars().find(|c| !is_scope_char(*c)) {
                format!(
                    "scope {what} {part:?} contains {bad:?}; allowed are A-Z a-z 0-9 and _ - ( ) $ ! + '"
                )
            } else {
                continue;
            };
            return Err(InvalidId::Scopes(format!("{name}={value}"), why));
        }
        Ok(Self { name, value })
    }

    /// The scope's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scope's value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// The ordered list of scopes an object lives under. Order is significant: `a=1;b=2` and
/// `b=2;a=1` are different namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// No scopes at all (written `_` in a path).
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// Parses the matrix syntax of a path segment (already percent-decoded):
    /// `name1=value1;name2=value2`, or `_` for none. Each element is split at its first `=`.
    pub fn parse(segment: &str) -> Result<Self, InvalidId> {
        if segment == "_" {
            return Ok(Self::empty());
        }
        if segment.is_empty() {
            return Err(InvalidId::Scopes(
                segment.into(),
                "must not be empty; use `_` for no scopes".into(),
            ));
        }
        let mut scopes = Vec::new();
        for element in segment.split(';') {
            let Some((name, value)) = element.split_once('=') else {
                return Err(InvalidId::Scopes(
                    segment.into(),
                    format!("element {element:?} is not of the form name=value"),
                ));
            };
            scopes.push(Scope::new(name, value)?);
        }
        Self::from_vec(scopes)
    }

    /// Builds scopes from already validated pairs.
    pub fn from_vec(scopes: Vec<Scope>) -> Result<Self, InvalidId> {
        if scopes.len() > MAX_SCOPES {
            return Err(InvalidId::Scopes(
                Self(scopes).as_api_path(),
                format!("at most {MAX_SCOPES} scopes are allowed"),
            ));
        }
        Ok(Self(scopes))
    }

    /// The scopes in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.0.iter()
    }

    /// Whether there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of the first scope with this name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value.as_str())
    }

    /// The path-segment form: `a=1;b=2`, or `_` when empty.
    pub fn as_api_path(&self) -> String {
        if self.0.is_empty() {
            return "_".into();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| format!("{}={}", s.name, s.value))
            .collect();
        parts.join(";")
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// An object key: 1 to 1024 bytes of UTF-8, no control characters, and split on `/` no
/// segment that is empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates and wraps a key.
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidId> {
        let key = key.into();
        match Self::problem(&key, MAX_KEY_LEN) {
            Some(why) => Err(InvalidId::Key(key, why)),
            None => Ok(Self(key)),
        }
    }

    /// A fresh server-generated key: a UUID v4 in canonical lowercase form.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    fn problem(key: &str, max_len: usize) -> Option<&'static str> {
        if key.is_empty() {
            Some("must not be empty")
        } else if key.len() > max_len {
            Some("must be at most 1024 bytes")
        } else if has_control(key) {
            Some("must not contain control characters")
        } else {
            // One pass over the segments; an empty one is reported before a dot segment.
            let mut dots = false;
            for segment in key.split('/') {
                if segment.is_empty() {
                    return Some("must not start or end with `/` or contain `//`");
                }
                dots |= segment == "." || segment == "..";
            }
            dots.then_some("must not contain `.` or `..` segments")
        }
    }

    /// The key of a distinct long-term revision of this key: `{key}/{revision}`.
    ///
    /// Revision keys may exceed [`MAX_KEY_LEN`] by the revision's length; they are internal
    /// and never accepted from a client.
    pub fn with_revision(&self, revision: &uuid::Uuid) -> Self {
        Self(format!("{}/{}", self.0, revision))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ObjectKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        match Self::problem(&key, MAX_KEY_LEN + 64) {
            Some(why) => Err(serde::de::Error::custom(InvalidId::Key(key, why))),
            None => Ok(Self(key)),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an object lives: its usecase and scopes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectContext {
    /// The owning application.
    pub usecase: Usecase,
    /// The ordered scopes inside the usecase.
    pub scopes: Scopes,
}

/// The full address of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId {
    /// Usecase and scopes.
    pub context: ObjectContext,
    /// The key inside the context.
    pub key: ObjectKey,
}

impl ObjectId {
    /// Combines a context and a key.
    pub fn new(context: ObjectContext, key: ObjectKey) -> Self {
        Self { context, key }
    }

    /// The usecase.
    pub fn usecase(&self) -> &Usecase {
        &self.context.usecase
    }

    /// The scopes.
    pub fn scopes(&self) -> &Scopes {
        &self.context.scopes
    }

    /// The key.
    pub fn key(&self) -> &ObjectKey {
        &self.key
    }

    /// The same context with a fresh long-term revision key `{key}/{uuid_v7}`.
    pub fn new_revision(&self) -> Self {
        Self {
            context: self.context.clone(),
            key: self.key.with_revision(&uuid::Uuid::now_v7()),
        }
    }

    /// The backend-neutral path of the object:
    /// `{usecase}/{name1}.{value1}/…/objects/{key}` (`{usecase}/objects/{key}` without scopes).
    ///
    /// Unambiguous: usecases contain no `/`, scope parts contain neither `.` nor `/`, and the
    /// `objects` segment cannot be a scope (it has no `.`).
    pub fn as_storage_path(&self) -> String {
        let mut path = String::with_capacity(64 + self.key.0.len());
        path.push_str(self.context.usecase.as_str());
        for scope in &self.context.scopes {
            path.push('/');
            path.push_str(&scope.name);
            path.push('.');
            path.push_str(&scope.value);
        }
        path.push('/');
        path.push_str(OBJECTS_SEGMENT);
        path.push('/');
        path.push_str(&self.key.0);
        path
    }

    /// Parses a path produced by [`ObjectId::as_storage_path`], validating every part.
    pub fn from_storage_path(path: &str) -> Option<Self> {
        let (usecase, rest) = path.split_once('/')?;
        let mut scopes = Vec::new();
        let mut rest = rest;
        loop {
            let (segment, tail) = rest.split_once('/')?;
            if segment == OBJECTS_SEGMENT {
                rest = tail;
                break;
            }
            let (name, value) = segment.split_once('.')?;
            scopes.push(Scope::new(name, value).ok()?);
            rest = tail;
        }
        let key = match ObjectKey::problem(rest, MAX_KEY_LEN + 64) {
            None => ObjectKey(rest.to_owned()),
            Some(_) => return None,
        };
        Some(Self {
            context: ObjectContext {
                usecase: Usecase::new(usecase).ok()?,
                scopes: Scopes::from_vec(scopes).ok()?,
            },
            key,
        })
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_storage_path())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn id(usecase: &str, scopes: &str, key: &str) -> ObjectId {
        ObjectId::new(
            ObjectContext {
                usecase: Usecase::new(usecase).unwrap(),
                scopes: Scopes::parse(scopes).unwrap(),
            },
            ObjectKey::new(key).unwrap(),
        )
    }

    #[test]
    fn storage_path_layout() {
        assert_eq!(id("u", "_", "k").as_storage_path(), "u/objects/k");
        assert_eq!(
            id("u", "org=1;project=2", "a/b").as_storage_path(),
            "u/org.1/project.2/objects/a/b"
        );
    }

    #[test]
    fn spec_keys_are_accepted() {
        // The keys every client must round-trip (docs/http-api.md §2.3), shared with the HTTP
        // suites.
        let roundtrip: Vec<String> =
            serde_json::from_str(include_str!("../../tests/roundtrip-keys.json")).unwrap();
        assert!(roundtrip.iter().any(|k| k == "looks%20encoded"));
        for key in roundtrip
            .iter()
            .map(String::as_str)
            .chain(["...", ".hidden"])
        {
            ObjectKey::new(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn bad_keys_are_rejected_with_reason() {
        for (key, why) in [
            ("", "empty"),
            ("..", "`..`"),
            ("a/../b", "`..`"),
            ("./a", "`..`"),
            ("/abs", "`//`"),
            ("trailing/", "`//`"),
            ("a//b", "`//`"),
            ("nul\0byte", "control"),
            ("new\nline", "control"),
        ] {
            let err = ObjectKey::new(key).unwrap_err().to_string();
            assert!(err.contains(why), "{key:?}: {err}");
        }
        assert!(ObjectKey::new("k".repeat(1025)).is_err());
        assert!(ObjectKey::new("k".repeat(1024)).is_ok());
    }

    #[test]
    fn scopes_reject_bad_syntax() {
        for bad in [
            "", "org", "org=", "=1", "org=1;", "a.b=1", "a=1/2", "a=é", "a=b c",
        ] {
            assert!(Scopes::parse(bad).is_err(), "{bad:?} accepted");
        }
        let s = Scopes::parse("a=b=c").unwrap_err();
        assert!(s.to_string().contains('='), "{s}");
        // Duplicates are kept, lookups use the first.
        let dup = Scopes::parse("a=1;a=2").unwrap();
        assert_eq!(dup.get("a"), Some("1"));
    }

    #[test]
    fn usecase_rules() {
        for bad in ["", ".", "..", "a/b", "a\\b", "x\u{7}"] {
            assert!(Usecase::new(bad).is_err(), "{bad:?} accepted");
        }
        Usecase::new("attachments").unwrap();
        Usecase::new("test.name").unwrap();
    }

    #[test]
    fn revision_round_trips_through_storage_path() {
        let base = id("u", "org=1", "my/key");
        let rev = base.new_revision();
        assert!(rev.key.as_str().starts_with("my/key/"));
        assert_ne!(rev, base.new_revision());
        assert_eq!(
            ObjectId::from_storage_path(&rev.as_storage_path()),
            Some(rev)
        );
    }

    fn scope_part() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_()$!+'-]{1,12}"
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

        #[test]
        fn storage_path_round_trips(
            usecase in "[A-Za-z0-9_.-]{1,20}",
            scopes in proptest::collection::vec((scope_part(), scope_part()), 0..4),
            key in "[^\u{0}-\u{1f}\u{7f}-\u{9f}/]{1,10}(/[^\u{0}-\u{1f}\u{7f}-\u{9f}/]{1,10}){0,3}",
        ) {
            let Ok(usecase) = Usecase::new(usecase) else { return Ok(()) };
            let Ok(key) = ObjectKey::new(key) else { return Ok(()) };
            let scopes = Scopes::from_vec(
                scopes.into_iter().map(|(n, v)| Scope::new(n, v).unwrap()).collect(),
            ).unwrap();
            let id = ObjectId::new(ObjectContext { usecase, scopes }, key);
            prop_assert_eq!(ObjectId::from_storage_path(&id.as_storage_path()), Some(id));
        }

        #[test]
        fn scopes_api_path_round_trips(scopes in proptest::collection::vec((scope_part(), scope_part()), 0..5)) {
            let scopes = Scopes::from_vec(
                scopes.into_iter().map(|(n, v)| Scope::new(n, v).unwrap()).collect(),
            ).unwrap();
            prop_assert_eq!(Scopes::parse(&scopes.as_api_path()).unwrap(), scopes);
        }

        #[test]
        fn the_control_check_is_char_is_control(text in "[\u{0}-\u{ff}a-z/.]{0,24}") {
            prop_assert_eq!(has_control(&text), text.chars().any(char::is_control));
        }

        #[test]
        fn accepted_keys_never_escape(key in "\\PC{0,40}") {
            if let Ok(k) = ObjectKey::new(key) {
                prop_assert!(!k.as_str().split('/').any(|s| s.is_empty() || s == "." || s == ".."));
                prop_assert!(!k.as_str().chars().any(char::is_control));
            }
        }
    }
}
