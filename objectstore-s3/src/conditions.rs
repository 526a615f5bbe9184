//! Conditional reads (`If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since` on GET and HEAD; the `x-amz-copy-source-if-*` conditions of copies),
//! evaluated against an object's ETag and `Last-Modified` (RFC 9110 section 13.2.2; the
//! entity-tag lists by [`objectstore_types::conditional::evaluate`], as on the objectstore
//! API):
//!
//! 1. `If-Match` present and no strong match → 412. Else, when `If-Match` is absent,
//!    `If-Unmodified-Since` earlier than `Last-Modified` → 412.
//! 2. `If-None-Match` present and a weak match (or `*`) → 304 (412 for copy sources).
//!    Else, when `If-None-Match` is absent, `If-Modified-Since` not earlier than
//!    `Last-Modified` → 304 (412 for copy sources).
//! 3. Otherwise the request proceeds.
//!
//! Times compare in whole seconds (HTTP dates have no fractions; stored creation times are
//! whole seconds). A missing object is 404 whatever the conditions say.
//!
//! Conditional *writes* (`If-None-Match: *` and `If-Match: <etag>` on `PutObject` and
//! `CompleteMultipartUpload`, `If-Match` on `DeleteObject`) become an engine
//! [`Precondition`] ([`write_precondition`]), judged by the engine atomically at the commit
//! point; a refusal is 412 `PreconditionFailed`, a concurrent change that won while the
//! precondition still held is 409 `ConditionalRequestConflict` (retry). As in S3,
//! `If-None-Match` accepts only `*`; `If-Match: *` and weak ETags are refused
//! (`NotImplemented`; a weak ETag can never match strongly).

use std::time::SystemTime;

use objectstore_service::backend::Precondition;
use objectstore_types::conditional;
use s3s::dto::{ETag, ETagCondition, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::errors::not_implemented;

/// The engine precondition of a write's `If-Match` / `If-None-Match` (module docs).
pub fn write_precondition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<Option<Precondition>> {
    match (if_match, if_none_match) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(not_implemented(
            "If-Match and If-None-Match on one write are not supported",
        )),
        (None, Some(ETagCondition::Any)) => Ok(Some(Precondition::Absent)),
        (None, Some(ETagCondition::ETag(_))) => {
            Err(not_implemented("If-None-Match on a write accepts only `*`"))
        }
        (Some(ETagCondition::ETag(ETag::Strong(etag))), None) => {
            Ok(Some(Precondition::ETagMatches(etag.clone())))
        }
        (Some(ETagCondition::ETag(ETag::Weak(_))), None) => Err(S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "a weak ETag never matches If-Match on a write",
        )),
        (Some(ETagCondition::Any), None) => Err(not_implemented(
            "If-Match: * on a write is not supported; use an ETag",
        )),
    }
}

/// The four conditions of a request (any may be absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a ETagCondition>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a ETagCondition>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a Timestamp>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// What the conditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the request.
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

fn secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn timestamp_secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// A condition as the header value it was parsed from, for
/// [`objectstore_types::conditional::evaluate`] (the one evaluation of entity-tag lists).
fn header_value(condition: &ETagCondition) -> String {
    match condition {
        ETagCondition::Any => "*".to_owned(),
        ETagCondition::ETag(ETag::Strong(tag)) => format!("\"{tag}\""),
        ETagCondition::ETag(ETag::Weak(tag)) => format!("W/\"{tag}\""),
    }
}

/// The entity-tag verdict of `if_match` / `if_none_match` (at most one given) on `etag`.
fn tag_verdict(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    etag: &ETag,
) -> Verdict {
    let (m, n) = (if_match.map(header_value), if_none_match.map(header_value));
    let (m, n): (Vec<&str>, Vec<&str>) = (
        m.as_deref().into_iter().collect(),
        n.as_deref().into_iter().collect(),
    );
    match conditional::evaluate(&m, &n, Some(etag.value())) {
        conditional::Precondition::Proceed => Verdict::Proceed,
        conditional::Precondition::NotModified => Verdict::NotModified,
        conditional::Precondition::Failed => Verdict::PreconditionFailed,
    }
}

impl Conditions<'_> {
    /// The verdict for an object with this ETag and `Last-Modified` (module docs).
    pub fn evaluate(&self, etag: &ETag, last_modified: SystemTime) -> Verdict {
        let modified = secs(last_modified);
        match self.if_match {
            Some(c) if tag_verdict(Some(c), None, etag) == Verdict::PreconditionFailed => {
                return Verdict::PreconditionFailed;
            }
            Some(_) => {}
            None => {
                if self
                    .if_unmodified_since
                    .is_some_and(|t| modified > timestamp_secs(t))
                {
                    return Verdict::PreconditionFailed;
                }
            }
        }
        match self.if_none_match {
            Some(c) if tag_verdict(None, Some(c), etag) == Verdict::NotModified => {
                return Verdict::NotModified;
            }
            Some(_) => {}
            None => {
                if self
                    .if_modified_since
                    .is_some_and(|t| modified <= timestamp_secs(t))
                {
                    return Verdict::NotModified;
                }
            }
        }
        Verdict::Proceed
    }

    /// For GET and HEAD: `Ok` to proceed, else the 304 or 412 error.
    pub fn check_read(&self, etag: &ETag, last_modified: SystemTime) -> S3Result<()> {
        match self.evaluate(etag, last_modified) {
            Verdict::Proceed => Ok(()),
            Verdict::NotModified => Err(not_modified(etag, last_modified)),
            Verdict::PreconditionFailed => Err(S3Error::new(S3ErrorCode::PreconditionFailed)),
        }
    }

    /// For copy sources: every failed condition is a 412.
    pub fn check_copy_source(&self, etag: &ETag, last_modified: SystemTime) -> S3Result<()> {
        match self.evaluate(etag, last_modified) {
            Verdict::Proceed => Ok(()),
            Verdict::NotModified | Verdict::PreconditionFailed => Err(S3Error::with_message(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            )),
        }
    }
}

/// A 304 that still carries the validators (RFC 9110 section 15.4.5).
fn not_modified(etag: &ETag, last_modified: SystemTime) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = etag.to_http_header() {
        headers.insert(http::header::ETAG, v);
    }
    let mut date = Vec::new();
    if Timestamp::from(last_modified)
        .format(s3s::dto::TimestampFormat::HttpDate, &mut date)
        .is_ok()
        && let Ok(v) = http::HeaderValue::from_bytes(&date)
    {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn ts(secs: u64) -> Timestamp {
        Timestamp::from(at(secs))
    }

    #[test]
    fn rfc_precedence() {
        let etag = ETag::Strong("abc-0".into());
        let other = ETagCondition::ETag(ETag::Strong("zzz".into()));
        let same = ETagCondition::ETag(etag.clone());
        let weak_same = ETagCondition::ETag(ETag::Weak("abc-0".into()));
        let modified = at(1000);
        let (before, after) = (ts(999), ts(1000));
        let v = |c: Conditions<'_>| c.evaluate(&etag, modified);

        assert_eq!(v(Conditions::default()), Verdict::Proceed);
        assert_eq!(
            v(Conditions {
                if_match: Some(&same),
                ..Default::default()
            }),
            Verdict::Proceed
        );
        assert_eq!(
            v(Conditions {
                if_match: Some(&other),
                ..Default::default()
            }),
            Verdict::PreconditionFailed
        );
        assert_eq!(
            v(Conditions {
                if_match: Some(&weak_same),
                ..Default::default()
            }),
            Verdict::PreconditionFailed,
            "If-Match compares strongly"
        );
        assert_eq!(
            v(Conditions {
                if_match: Some(&ETagCondition::Any),
                ..Default::default()
            }),
            Verdict::Proceed
        );
        assert_eq!(
            v(Conditions {
                if_unmodified_since: Some(&before),
                ..Default::default()
            }),
            Verdict::PreconditionFailed
        );
        assert_eq!(
            v(Conditions {
                if_unmodified_since: Some(&after),
                ..Default::default()
            }),
            Verdict::Proceed
        );
        // If-Match wins over If-Unmodified-Since.
        assert_eq!(
            v(Conditions {
                if_match: Some(&same),
                if_unmodified_since: Some(&before),
                ..Default::default()
            }),
            Verdict::Proceed
        );
        assert_eq!(
            v(Conditions {
                if_none_match: Some(&same),
                ..Default::default()
            }),
            Verdict::NotModified
        );
        assert_eq!(
            v(Conditions {
                if_none_match: Some(&weak_same),
                ..Default::default()
            }),
            Verdict::NotModified,
            "If-None-Match compares weakly"
        );
        assert_eq!(
            v(Conditions {
                if_none_match: Some(&other),
                ..Default::default()
            }),
            Verdict::Proceed
        );
        assert_eq!(
            v(Conditions {
                if_modified_since: Some(&after),
                ..Default::default()
            }),
            Verdict::NotModified
        );
        assert_eq!(
            v(Conditions {
                if_modified_since: Some(&before),
                ..Default::default()
            }),
            Verdict::Proceed
        );
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            v(Conditions {
                if_none_match: Some(&other),
                if_modified_since: Some(&after),
                ..Default::default()
            }),
            Verdict::Proceed
        );
        // A failed If-Match is a 412 even when If-None-Match would say 304.
        assert_eq!(
            v(Conditions {
                if_match: Some(&other),
                if_none_match: Some(&same),
                ..Default::default()
            }),
            Verdict::PreconditionFailed
        );
    }

    #[test]
    fn copy_sources_fail_with_412_only() {
        let etag = ETag::Strong("abc-0".into());
        let same = ETagCondition::ETag(etag.clone());
        let c = Conditions {
            if_none_match: Some(&same),
            ..Default::default()
        };
        let err = c.check_copy_source(&etag, at(5)).unwrap_err();
        assert_eq!(*err.code(), S3ErrorCode::PreconditionFailed);
        let err = c.check_read(&etag, at(5)).unwrap_err();
        assert_eq!(*err.code(), S3ErrorCode::NotModified);
        assert!(err.headers().unwrap().contains_key(http::header::ETAG));
    }
}
