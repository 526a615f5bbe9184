//! Request extractors shared by the endpoints: validated object addresses, request bodies
//! as payload streams, and header helpers.
//!
//! **Invariants**
//!
//! * Path parameters are percent-decoded exactly once (by the router) and must be UTF-8;
//!   `%2F` and `/` in a key are the same, `+` stays `+`.
//! * A value of [`ContextPath`] or [`ObjectPath`] holds a validated usecase, scope list and
//!   key (no `..`, no empty segments), and the request has passed [`admit`].
//! * Request bodies are never buffered: [`payload`] hands the body to the storage engine as
//!   a stream and counts its bytes.

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams};
use http::request::Parts;
use http::{HeaderMap, header};
use objectstore_service::stream::PayloadStream;
use objectstore_types::range::ByteRange;
use objectstore_types::{
    Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase, conditional,
};

use crate::access::admit;
use crate::error::ApiError;
use crate::state::AppState;

/// The usecase and scopes of a collection route (`/{usecase}/{scopes}`).
#[derive(Debug, Clone)]
pub(crate) struct ContextPath(pub ObjectContext);

/// The full address of an object route (`/{usecase}/{scopes}/{*key}`).
#[derive(Debug, Clone)]
pub(crate) struct ObjectPath(pub ObjectId);

/// Decoded path parameters by name.
struct Params {
    usecase: Option<String>,
    scopes: Option<String>,
    key: Option<String>,
}

async fn params(parts: &mut Parts, state: &AppState) -> Result<Params, ApiError> {
    let raw = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::InvalidPath(e.body_text()))?;
    let mut p = Params {
        usecase: None,
        scopes: None,
        key: None,
    };
    for (name, value) in &raw {
        match name {
            "usecase" => p.usecase = Some(value.to_owned()),
            "scopes" => p.scopes = Some(value.to_owned()),
            "key" => p.key = Some(value.to_owned()),
            _ => {}
        }
    }
    Ok(p)
}

impl Params {
    /// The usecase and scopes parameters; a route without them is a bug.
    fn context(&self) -> Result<(&str, &str), ApiError> {
        match (&self.usecase, &self.scopes) {
            (Some(usecase), Some(scopes)) => Ok((usecase, scopes)),
            _ => Err(ApiError::Internal(
                "route lacks the usecase or scopes parameter".into(),
            )),
        }
    }
}

fn context(usecase: &str, scopes: &str) -> Result<ObjectContext, ApiError> {
    let usecase = Usecase::new(usecase).map_err(|e| ApiError::InvalidPath(e.to_string()))?;
    let scopes = Scopes::parse(scopes).map_err(|e| ApiError::InvalidPath(e.to_string()))?;
    Ok(ObjectContext { usecase, scopes })
}

impl ContextPath {
    /// Validates the decoded parameters of a collection route and admits the request.
    pub(crate) fn from_params(
        state: &AppState,
        usecase: &str,
        scopes: &str,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let context = context(usecase, scopes)?;
        admit(state, &context, headers)?;
        Ok(Self(context))
    }
}

impl FromRequestParts<AppState> for ContextPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = params(parts, state).await?;
        let (usecase, scopes) = p.context()?;
        Self::from_params(state, usecase, scopes, &parts.headers)
    }
}

impl ObjectPath {
    /// Validates the decoded parameters of an object route and admits the request.
    pub(crate) fn from_params(
        state: &AppState,
        usecase: &str,
        scopes: &str,
        key: String,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let context = context(usecase, scopes)?;
        let key = ObjectKey::new(key).map_err(|e| ApiError::InvalidPath(e.to_string()))?;
        admit(state, &context, headers)?;
        Ok(Self(ObjectId::new(context, key)))
    }
}

impl FromRequestParts<AppState> for ObjectPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let mut p = params(parts, state).await?;
        let key = p
            .key
            .take()
            .ok_or_else(|| ApiError::Internal("route lacks the key parameter".into()))?;
        let (usecase, scopes) = p.context()?;
        Self::from_params(state, usecase, scopes, key, &parts.headers)
    }
}

/// The parsed `Range` header of a GET (`None`: absent or not a single byte range, which the
/// contract ignores, docs/http-api.md §5.1); malformed is a 400. An extractor so that the handler
/// need not clone the request's whole header map for one header.
#[derive(Debug)]
pub(crate) struct RequestedRange(pub Option<ByteRange>);

impl<S: Send + Sync> FromRequestParts<S> for RequestedRange {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match header_str(&parts.headers, &header::RANGE)? {
            Some(value) => ByteRange::parse(value).map(Self).map_err(ApiError::client),
            None => Ok(Self(None)),
        }
    }
}

/// The `If-Match` and `If-None-Match` headers of a read (every line of each), evaluated
/// against the object's ETag once it is known ([`Conditions::evaluate`]). An extractor for
/// the same reason as [`RequestedRange`]; a request without either allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    if_match: Vec<String>,
    if_none_match: Vec<String>,
}

impl Conditions {
    /// Whether the request carries no condition.
    pub(crate) fn is_empty(&self) -> bool {
        self.if_match.is_empty() && self.if_none_match.is_empty()
    }

    /// What the conditions make of a read of an existing object with this ETag.
    pub(crate) fn evaluate(&self, etag: Option<&str>) -> conditional::Precondition {
        let if_match: Vec<&str> = self.if_match.iter().map(String::as_str).collect();
        let if_none_match: Vec<&str> = self.if_none_match.iter().map(String::as_str).collect();
        conditional::evaluate(&if_match, &if_none_match, etag)
    }
}

fn header_lines(headers: &HeaderMap, name: &header::HeaderName) -> Result<Vec<String>, ApiError> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::client(format!("the {name} header must be visible ASCII")))
        })
        .collect()
}

impl<S: Send + Sync> FromRequestParts<S> for Conditions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self {
            if_match: header_lines(&parts.headers, &header::IF_MATCH)?,
            if_none_match: header_lines(&parts.headers, &header::IF_NONE_MATCH)?,
        })
    }
}

/// The request body as a payload stream, its bytes charged to `context`'s bandwidth.
/// Body errors (client went away, malformed chunked encoding) surface as stream errors,
/// which the storage engine reports as [`objectstore_service::Error::ClientStream`]; so
/// does a body idle for `http.body_timeout` ([`crate::idle`]).
pub(crate) fn payload(state: &AppState, context: &ObjectContext, body: Body) -> PayloadStream {
    crate::body::request_payload(body, state.admission.meter_for(context))
}

/// Parses the client metadata of an insert and checks the usecase's expiration rules.
pub(crate) fn insert_metadata(
    state: &AppState,
    context: &ObjectContext,
    headers: &HeaderMap,
) -> Result<Metadata, ApiError> {
    let metadata = Metadata::from_headers(headers).map_err(ApiError::client)?;
    state
        .admission
        .check_policy(context, &metadata.expiration_policy)?;
    Ok(metadata)
}

/// The value of a header as text; a non-ASCII value is a client error naming the header.
/// `name` is a `&str` or, cheaper to look up (nothing to parse), a `&HeaderName`.
pub(crate) fn header_str<N>(headers: &HeaderMap, name: N) -> Result<Option<&str>, ApiError>
where
    N: header::AsHeaderName + std::fmt::Display + Copy,
{
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::client(format!(
            "the {name} header must appear once"
        )));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| ApiError::client(format!("the {name} header must be visible ASCII")))
}

/// Parses a header of plain ASCII decimal digits.
pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(text) = header_str(headers, name)? else {
        return Ok(None);
    };
    parse_digits(text)
        .map(Some)
        .ok_or_else(|| ApiError::client(format!("the {name} header must be a decimal number")))
}

/// Parses a non-empty string of ASCII digits into a `u64`.
pub(crate) fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The request's `Content-Length`, required (parts and resumable chunks).
pub(crate) fn required_content_length(headers: &HeaderMap) -> Result<u64, ApiError> {
    header_u64(headers, header::CONTENT_LENGTH.as_str())?
        .ok_or_else(|| ApiError::client("Content-Length header is required"))
}
