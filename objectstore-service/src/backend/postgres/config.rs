//! [`PostgresConfig`]: how the PostgreSQL backend connects, and the secret-keeping URL type.
//!
//! **Invariant:** the connection URL (which may carry a password, in the user-info part or as
//! a `password=` query parameter) is never formatted with `Debug` or into an error: Debug
//! output shows [`PostgresUrl::redacted`], and connection errors pass through
//! [`PostgresUrl::scrub`] before they are returned.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The connection URL of the cluster: secret, `Debug` shows it with the password replaced.
///
/// Any URL `sqlx` accepts: `postgres://user:password@host:port/database?sslmode=require`.
/// TLS (rustls, the webpki roots) follows `sslmode` (`disable`, `prefer` (the default),
/// `require`, `verify-ca`, `verify-full`); `sslrootcert=/path/ca.pem` adds a CA.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, for connecting only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password (user-info and `password=` query parameters) replaced by
    /// `***`; a string that is not a URL at all is shown as `<redacted>`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            return "<redacted>".into();
        };
        let rest_start = scheme_end + 3;
        let rest = &url[rest_start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        let mut out = String::with_capacity(url.len());
        out.push_str(&url[..rest_start]);
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        let tail = &rest[authority_len..];
        match tail.split_once('?') {
            None => out.push_str(tail),
            Some((path, query)) => {
                out.push_str(path);
                out.push('?');
                let (query, fragment) = match query.split_once('#') {
                    Some((q, f)) => (q, Some(f)),
                    None => (query, None),
                };
                let params: Vec<String> = query
                    .split('&')
                    .map(|param| match param.split_once('=') {
                        Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                            format!("{key}=***")
                        }
                        _ => param.to_owned(),
                    })
                    .collect();
                out.push_str(&params.join("&"));
                if let Some(fragment) = fragment {
                    out.push('#');
                    out.push_str(fragment);
                }
            }
        }
        out
    }

    /// The secrets this URL carries (raw and percent-decoded), longest first.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        let url = &self.0;
        if let Some(scheme_end) = url.find("://") {
            let rest = &url[scheme_end + 3..];
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                secrets.push(password.to_owned());
            }
        }
        for param in url.split(['?', '&', '#']) {
            if let Some((key, value)) = param.split_once('=')
                && key.eq_ignore_ascii_case("password")
            {
                secrets.push(value.to_owned());
            }
        }
        let decoded: Vec<String> = secrets.iter().filter_map(|s| percent_decode(s)).collect();
        secrets.extend(decoded);
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        secrets
    }

    /// `text` with every secret of this URL replaced by `***`, and the whole URL by its
    /// redacted form.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(&self.0, &self.redacted());
        for secret in self.secrets() {
            out = out.replace(&secret, "***");
        }
        out
    }
}

/// Decodes `%XX` escapes; `None` when nothing changes or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A connection failure whose text passed through [`PostgresUrl::scrub`].
#[derive(Debug)]
pub(crate) struct Scrubbed(String);

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Scrubbed {}

/// The error chain of `e` as one line, with the URL's secrets removed.
pub(crate) fn scrubbed(url: &PostgresUrl, e: &(dyn std::error::Error + 'static)) -> Scrubbed {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    Scrubbed(url.scrub(&text))
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&self.redacted())
            .finish()
    }
}

/// Configuration of [`super::PostgresBackend`]. Every field but `url` has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The connection URL (secret, see [`PostgresUrl`]). Required.
    pub url: PostgresUrl,
    /// Upper bound of the connection pool. Default 16.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// Connections the pool keeps open even when idle. Default 0.
    #[serde(default)]
    pub min_connections: u32,
    /// How long getting a connection may take, including opening a new one (then the call
    /// fails with a retryable backend error). Humantime (`10s`) or seconds. Default 10 s.
    #[serde(
        default = "defaults::connect_timeout",
        deserialize_with = "crate::backend::duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// Idle connections above `min_connections` are closed after this long. Humantime or
    /// seconds. Default 10 min.
    #[serde(
        default = "defaults::idle_timeout",
        deserialize_with = "crate::backend::duration::deserialize"
    )]
    pub idle_timeout: Duration,
    /// Prefix of every table name (`{prefix}objects`, `{prefix}change_log`, ...), so several
    /// stores (or tests) can share one database. Lowercase ASCII letters, digits and `_`,
    /// starting with a letter or `_`, at most 40 characters. Default `objectstore_`.
    #[serde(default = "defaults::table_prefix")]
    pub table_prefix: String,
}

mod defaults {
    use std::time::Duration;

    pub fn max_connections() -> u32 {
        16
    }

    pub fn connect_timeout() -> Duration {
        Duration::from_secs(10)
    }

    pub fn idle_timeout() -> Duration {
        Duration::from_secs(600)
    }

    pub fn table_prefix() -> String {
        "objectstore_".into()
    }
}

impl PostgresConfig {
    /// The defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: PostgresUrl::new(url),
            max_connections: defaults::max_connections(),
            min_connections: 0,
            connect_timeout: defaults::connect_timeout(),
            idle_timeout: defaults::idle_timeout(),
            table_prefix: defaults::table_prefix(),
        }
    }

    /// Rejects settings that cannot work, with a message naming the field.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |why: String| Err(Error::InvalidRequest(format!("postgres config: {why}")));
        let prefix = &self.table_prefix;
        let valid_prefix = prefix.len() <= 40
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && prefix
                .bytes()
                .next()
                .is_none_or(|b| b.is_ascii_lowercase() || b == b'_');
        if !valid_prefix {
            return invalid(format!(
                "table_prefix {prefix:?} must be lowercase letters, digits and `_`, not start \
                 with a digit, and have at most 40 characters"
            ));
        }
        if self.max_connections == 0 {
            return invalid("max_connections must be at least 1".into());
        }
        if self.min_connections > self.max_connections {
            return invalid("min_connections exceeds max_connections".into());
        }
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let cases = [
            (
                "postgres://app:hunter2@db.example:5432/store?sslmode=require",
                "postgres://app:***@db.example:5432/store?sslmode=require",
            ),
            (
                "postgresql://app@db/store?password=hunter2&sslmode=verify-full",
                "postgresql://app@db/store?password=***&sslmode=verify-full",
            ),
            (
                "postgres://app:p%40ss%3Aw0rd@db/store",
                "postgres://app:***@db/store",
            ),
            ("postgres://db/store", "postgres://db/store"),
            ("host=db password=hunter2", "<redacted>"),
        ];
        for (url, want) in cases {
            let url = PostgresUrl::new(url);
            assert_eq!(url.redacted(), want);
            assert!(!format!("{url:?}").contains("hunter2"));
        }
        let url = PostgresUrl::new("postgres://app:p%40ss%3Aw0rd@db/store");
        assert_eq!(
            url.scrub("auth failed for p@ss:w0rd (p%40ss%3Aw0rd)"),
            "auth failed for *** (***)"
        );
    }

    #[test]
    fn config_defaults_and_validation() {
        let config: PostgresConfig = serde_json::from_str(
            r#"{"url": "postgres://app:hunter2@db/store", "connect_timeout": "2s 500ms"}"#,
        )
        .unwrap();
        assert_eq!(config.connect_timeout, Duration::from_millis(2500));
        assert_eq!(config.max_connections, 16);
        assert_eq!(config.min_connections, 0);
        assert_eq!(config.idle_timeout, Duration::from_secs(600));
        assert_eq!(config.table_prefix, "objectstore_");
        assert!(config.validate().is_ok());
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("app:***@db"), "{debug}");

        let config: PostgresConfig =
            serde_json::from_str(r#"{"url": "postgres://db/x", "idle_timeout": 30}"#).unwrap();
        assert_eq!(config.idle_timeout, Duration::from_secs(30));
        assert!(serde_json::from_str::<PostgresConfig>(r#"{"url": "x", "typo": 1}"#).is_err());

        for prefix in ["Upper_", "1abc", "semi;colon", "quote\"", &"x".repeat(41)] {
            let config = PostgresConfig {
                table_prefix: prefix.to_owned(),
                ..PostgresConfig::new("postgres://db/x")
            };
            assert!(
                matches!(config.validate(), Err(Error::InvalidRequest(_))),
                "{prefix:?} accepted"
            );
        }
        for prefix in ["", "_", "a1_", "objectstore_"] {
            let config = PostgresConfig {
                table_prefix: prefix.to_owned(),
                ..PostgresConfig::new("postgres://db/x")
            };
            assert!(config.validate().is_ok(), "{prefix:?} rejected");
        }
    }
}
