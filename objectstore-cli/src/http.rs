//! The HTTP side of the client: URLs in the layout of docs/http-api.md §2.5, credentials, and the
//! translation of error responses into [`ClientError`]s carrying the server's message.
//!
//! URLs are `{base}/v1/{route}/{usecase}/{scopes}/{key}`; the key is split on `/` and each
//! segment percent-encoded like the official Rust client does, so every key the server
//! accepts round-trips. A fresh token is minted for every request when a private key is
//! configured, so long uploads never outlive their token.

use std::time::Duration;

use objectstore_auth::SigningKey;
use objectstore_types::{Permission, Scopes};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::blocking::{Client, RequestBuilder, Response};

use crate::args::{Connection, TOKEN_LIFETIME};
use crate::error::{ClientError, Exit, Result};

/// The `url` crate's path-segment set (what the official Rust client escapes).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%')
    .add(b'\\');

/// Query values: everything but unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query value.
pub(crate) fn query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY).to_string()
}

/// The encoded path of `key` (segments split on `/`, each escaped).
pub(crate) fn key_path(key: &str) -> String {
    key.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// How requests are authenticated.
enum Credentials {
    None,
    Token(String),
    Mint { kid: String, key: Box<SigningKey> },
}

/// A connection to one usecase and scopes of a server.
pub(crate) struct Api {
    http: Client,
    base: String,
    usecase: String,
    scopes: Scopes,
    credentials: Credentials,
}

impl Api {
    /// Builds the client from the command line. Fails (exit 2/4) on a bad URL or key file.
    pub(crate) fn new(connection: &Connection, usecase: &str, scopes: Scopes) -> Result<Self> {
        let base = connection.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::usage(format!(
                "--url {:?} must start with http:// or https://",
                connection.url
            )));
        }
        if usecase.is_empty() {
            return Err(ClientError::usage("--usecase must not be empty"));
        }
        let token = connection
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let credentials = match (token, &connection.kid, &connection.private_key) {
            (Some(token), _, _) => Credentials::Token(token.to_owned()),
            (None, Some(kid), Some(file)) => {
                let key = objectstore_auth::tools::read_private_key(file)
                    .map_err(|e| ClientError::new(Exit::Auth, e.to_string()))?;
                Credentials::Mint {
                    kid: kid.clone(),
                    key: Box::new(key),
                }
            }
            (None, None, Some(_)) => {
                return Err(ClientError::usage("--private-key needs --kid"));
            }
            (None, Some(_), None) => {
                return Err(ClientError::usage("--kid needs --private-key"));
            }
            (None, None, None) => Credentials::None,
        };
        let http = Client::builder()
            .user_agent(concat!("objectstore-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(None)
            .build()
            .map_err(|e| ClientError::other(format!("cannot create the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            usecase: usecase.to_owned(),
            scopes,
            credentials,
        })
    }

    /// `usecase/scopes` for messages.
    pub(crate) fn namespace(&self) -> String {
        format!("{}/{}", self.usecase, self.scopes.as_api_path())
    }

    /// The base URL without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `{base}/v1/{route}/{usecase}/{scopes}/{key}`; without a key the collection URL
    /// (ending in `/`).
    pub(crate) fn url(&self, route: &str, key: Option<&str>) -> String {
        format!(
            "{}/v1/{route}/{}/{}/{}",
            self.base,
            utf8_percent_encode(&self.usecase, SEGMENT),
            self.scopes.as_api_path(),
            key.map(key_path).unwrap_or_default()
        )
    }

    /// The object URL of `key`.
    pub(crate) fn object_url(&self, key: &str) -> String {
        self.url("objects", Some(key))
    }

    /// A request with credentials.
    pub(crate) fn request(&self, method: reqwest::Method, url: &str) -> Result<RequestBuilder> {
        let builder = self.http.request(method, url);
        Ok(match &self.credentials {
            Credentials::None => builder,
            Credentials::Token(token) => builder.header("x-os-auth", format!("Bearer {token}")),
            Credentials::Mint { kid, key } => {
                let token = objectstore_auth::tools::token(
                    kid,
                    key,
                    &self.usecase,
                    &self.scopes.as_api_path(),
                    &Permission::ALL,
                    TOKEN_LIFETIME,
                )
                .map_err(|e| ClientError::new(Exit::Auth, e.to_string()))?;
                builder.header("x-os-auth", format!("Bearer {token}"))
            }
        })
    }

    /// Sends `request`; a status ≥ 400 becomes a [`ClientError`] with the server's message.
    pub(crate) fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send()?;
        let status = response.status();
        if status.as_u16() < 400 {
            return Ok(response);
        }
        Err(error_from_response(response))
    }
}

/// Reads a JSON response body (leading whitespace allowed, as in multipart completion).
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
    what: &str,
) -> Result<T> {
    let text = response
        .text()
        .map_err(|e| ClientError::from(e).context(format!("reading the {what} response")))?;
    serde_json::from_str(text.trim())
        .map_err(|e| ClientError::other(format!("malformed {what} response: {e}: {text:?}")))
}

/// Reads an error response: the JSON `detail` and `causes` (docs/http-api.md §3.2), else the plain
/// text body, else the status reason.
fn error_from_response(response: Response) -> ClientError {
    use std::io::Read as _;

    let status = response.status();
    let mut body = String::new();
    let _ = response.take(64 * 1024).read_to_string(&mut body);
    let detail = match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(json) if json.get("detail").is_some() => {
            let mut parts = vec![json["detail"].as_str().unwrap_or_default().to_owned()];
            if let Some(causes) = json.get("causes").and_then(|c| c.as_array()) {
                parts.extend(causes.iter().filter_map(|c| c.as_str()).map(str::to_owned));
            }
            parts.join(": ")
        }
        _ => body.trim().to_owned(),
    };
    let reason = status.canonical_reason().unwrap_or("error");
    let message = if detail.is_empty() {
        format!("server answered {} {reason}", status.as_u16())
    } else {
        format!("server answered {} {reason}: {detail}", status.as_u16())
    };
    // A missing token is a 400 (docs/http-api.md §11.2), but for a script it is an auth problem.
    let exit = if status.as_u16() == 400 && detail.starts_with("auth error") {
        Exit::Auth
    } else {
        Exit::from_status(status.as_u16())
    };
    ClientError {
        exit,
        status: Some(status.as_u16()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_per_segment() {
        assert_eq!(key_path("a/b c/100%"), "a/b%20c/100%25");
        assert_eq!(key_path("semi;colon=x"), "semi;colon=x");
        assert_eq!(key_path("q?#"), "q%3F%23");
        assert_eq!(query_value("a+b/c="), "a%2Bb%2Fc%3D");
    }
}
