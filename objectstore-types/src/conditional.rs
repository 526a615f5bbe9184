//! Conditional reads on entity tags (RFC 9110 sections 8.8.3 and 13.1.1-2): `If-Match` and
//! `If-None-Match` against an object's [`Metadata::etag`](crate::Metadata::etag).
//!
//! [`evaluate`] applies the RFC's order: `If-Match` first (strong comparison; a mismatch
//! answers 412), then `If-None-Match` (weak comparison; a match answers 304 on GET and
//! HEAD). `*` matches any existing object, an object without an etag included; a listed tag
//! never matches an object without one. Tags are compared without their quotes; a bare
//! token (some S3 tools send `If-Match: abc` unquoted) counts as a strong tag. An absent
//! object is the caller's business (the object APIs answer 404 before evaluating).

/// What a conditional read does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No condition, or every condition holds: answer normally.
    Proceed,
    /// `If-None-Match` matched: 304 Not Modified (GET and HEAD).
    NotModified,
    /// `If-Match` did not match: 412 Precondition Failed.
    Failed,
}

/// One element of an entity-tag list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag<'a> {
    Any,
    Strong(&'a str),
    Weak(&'a str),
}

/// The elements of the header values (comma-separated lists; several header lines
/// combine). Empty elements are skipped.
fn tags<'a>(values: &[&'a str]) -> Vec<Tag<'a>> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t == "*" {
                Tag::Any
            } else if let Some(weak) = t.strip_prefix("W/") {
                Tag::Weak(weak.trim_matches('"'))
            } else {
                Tag::Strong(t.trim_matches('"'))
            }
        })
        .collect()
}

/// Evaluates the conditions of a read of an existing object whose etag is `etag`
/// (unquoted). `if_match` and `if_none_match` are the raw values of every header line of
/// that name (empty: header absent).
pub fn evaluate(if_match: &[&str], if_none_match: &[&str], etag: Option<&str>) -> Precondition {
    if !if_match.is_empty() {
        let matched = tags(if_match).iter().any(|tag| match tag {
            Tag::Any => true,
            // Strong comparison: a weak tag never matches.
            Tag::Strong(t) => etag == Some(*t),
            Tag::Weak(_) => false,
        });
        if !matched {
            return Precondition::Failed;
        }
    }
    if !if_none_match.is_empty() {
        let matched = tags(if_none_match).iter().any(|tag| match tag {
            Tag::Any => true,
            Tag::Strong(t) | Tag::Weak(t) => etag == Some(*t),
        });
        if matched {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Option<&str> = Some("9e107d9d372bb6826bd81d3542a419d6");

    #[test]
    fn no_condition_proceeds() {
        assert_eq!(evaluate(&[], &[], E), Precondition::Proceed);
        assert_eq!(evaluate(&[], &[], None), Precondition::Proceed);
    }

    #[test]
    fn if_match_is_strong() {
        let quoted = "\"9e107d9d372bb6826bd81d3542a419d6\"";
        assert_eq!(evaluate(&[quoted], &[], E), Precondition::Proceed);
        assert_eq!(
            evaluate(&["9e107d9d372bb6826bd81d3542a419d6"], &[], E),
            Precondition::Proceed
        );
        assert_eq!(
            evaluate(&["\"other\", \"9e107d9d372bb6826bd81d3542a419d6\""], &[], E),
            Precondition::Proceed
        );
        assert_eq!(evaluate(&["\"other\""], &[], E), Precondition::Failed);
        let weak = "W/\"9e107d9d372bb6826bd81d3542a419d6\"";
        assert_eq!(evaluate(&[weak], &[], E), Precondition::Failed);
        assert_eq!(evaluate(&["*"], &[], E), Precondition::Proceed);
        assert_eq!(evaluate(&["*"], &[], None), Precondition::Proceed);
        assert_eq!(evaluate(&[quoted], &[], None), Precondition::Failed);
    }

    #[test]
    fn if_none_match_is_weak() {
        let weak = "W/\"9e107d9d372bb6826bd81d3542a419d6\"";
        assert_eq!(evaluate(&[], &[weak], E), Precondition::NotModified);
        assert_eq!(
            evaluate(&[], &["\"a\"", "\"9e107d9d372bb6826bd81d3542a419d6\""], E),
            Precondition::NotModified
        );
        assert_eq!(evaluate(&[], &["\"a\""], E), Precondition::Proceed);
        assert_eq!(evaluate(&[], &["*"], E), Precondition::NotModified);
        assert_eq!(evaluate(&[], &["*"], None), Precondition::NotModified);
        assert_eq!(evaluate(&[], &["\"a\""], None), Precondition::Proceed);
    }

    #[test]
    fn if_match_is_evaluated_first() {
        assert_eq!(evaluate(&["\"a\""], &["*"], E), Precondition::Failed);
        let tag = "\"9e107d9d372bb6826bd81d3542a419d6\"";
        assert_eq!(evaluate(&[tag], &[tag], E), Precondition::NotModified);
    }
}
