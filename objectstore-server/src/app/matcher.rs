//! The hand-written match of the object routes that carry almost all traffic:
//! [`OBJECT`](crate::paths::OBJECT) (GET, HEAD, PUT, PATCH, DELETE) and
//! [`COLLECTION`](crate::paths::COLLECTION) with and without its trailing `/` (POST).
//!
//! **Invariant:** [`match_route`] claims a request only when axum's router would send it to
//! the same route and method with the same decoded path parameters; everything else
//! (other routes, other methods and their 405, paths of unusual shape, parameters whose
//! percent-escapes are not UTF-8 and their 400) is left to the router. It claims
//! `/v1/objects/{usecase}/{scopes}[/]` and `/v1/objects/{usecase}/{scopes}/{key}` where
//! `usecase` and `scopes` are non-empty and hold no `/`, and `key` is non-empty and does not
//! start with `/` (so no empty segment precedes it). The test module checks the
//! invariant against the router itself.
//!
//! Matching allocates nothing: a [`Matched`] holds byte ranges of the request path, decoded
//! when the handler needs them (percent-decoding as axum does: `%XX` escapes, `+` kept).

use std::borrow::Cow;
use std::ops::Range;

use http::Method;
use percent_encoding::percent_decode_str;

/// The path prefix of both routes.
const PREFIX: &str = "/v1/objects/";

/// Which handler a matched request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// GET on an object.
    Get,
    /// HEAD on an object.
    Head,
    /// PUT on an object.
    Put,
    /// PATCH on an object.
    Patch,
    /// DELETE on an object.
    Delete,
    /// POST on a collection.
    Post,
}

impl Endpoint {
    /// Whether this endpoint is on the collection route (else on the object route).
    pub(crate) fn is_collection(self) -> bool {
        self == Self::Post
    }
}

/// A claimed request: its endpoint and where the path parameters are in the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matched {
    pub endpoint: Endpoint,
    usecase: Range<usize>,
    scopes: Range<usize>,
    /// Empty on the collection route.
    key: Range<usize>,
}

impl Matched {
    /// The decoded usecase of `path` (the path this match was made on).
    pub(crate) fn usecase<'p>(&self, path: &'p str) -> Cow<'p, str> {
        decode(&path[self.usecase.clone()])
    }

    /// The decoded scopes segment of `path`.
    pub(crate) fn scopes<'p>(&self, path: &'p str) -> Cow<'p, str> {
        decode(&path[self.scopes.clone()])
    }

    /// The decoded key of `path` (empty on the collection route).
    pub(crate) fn key<'p>(&self, path: &'p str) -> Cow<'p, str> {
        decode(&path[self.key.clone()])
    }
}

/// Percent-decodes a parameter already known to decode to UTF-8.
fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    percent_decode_str(raw)
        .decode_utf8()
        .unwrap_or(Cow::Borrowed(raw))
}

/// Whether `raw` percent-decodes to UTF-8 (axum answers 400 otherwise; the router does that).
fn decodes(raw: &str) -> bool {
    if !raw.contains('%') {
        return true;
    }
    percent_decode_str(raw).decode_utf8().is_ok()
}

/// The endpoint for `method` on `path`, when the module docs' shapes claim it.
pub(crate) fn match_route(method: &Method, path: &str) -> Option<Matched> {
    let rest = path.strip_prefix(PREFIX)?;
    let (usecase, rest) = rest.split_once('/')?;
    let (scopes, key) = match rest.split_once('/') {
        Some((scopes, key)) => (scopes, Some(key)),
        None => (rest, None),
    };
    if usecase.is_empty() || scopes.is_empty() {
        return None;
    }
    let endpoint = match key {
        // `/{usecase}/{scopes}` and `/{usecase}/{scopes}/`: the collection.
        None | Some("") => (*method == Method::POST).then_some(Endpoint::Post)?,
        Some(key) if key.starts_with('/') => return None,
        Some(_) => match *method {
            Method::GET => Endpoint::Get,
            Method::HEAD => Endpoint::Head,
            Method::PUT => Endpoint::Put,
            Method::PATCH => Endpoint::Patch,
            Method::DELETE => Endpoint::Delete,
            _ => return None,
        },
    };
    let key = key.unwrap_or("");
    if !(decodes(usecase) && decodes(scopes) && decodes(key)) {
        return None;
    }
    let start = PREFIX.len();
    let usecase_range = start..start + usecase.len();
    let scopes_start = usecase_range.end + 1;
    let scopes_range = scopes_start..scopes_start + scopes.len();
    let key_range = if key.is_empty() {
        scopes_range.end..scopes_range.end
    } else {
        let key_start = scopes_range.end + 1;
        key_start..key_start + key.len()
    };
    Some(Matched {
        endpoint,
        usecase: usecase_range,
        scopes: scopes_range,
        key: key_range,
    })
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
