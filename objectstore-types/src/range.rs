//! Byte ranges (docs/http-api.md §5): parsing the `Range` header and resolving it against the
//! stored size.
//!
//! Parsing yields `Ok(None)` for a header that must be ignored (several ranges), an error for
//! a malformed one (400), and a [`ByteRange`] otherwise. [`ByteRange::resolve`] turns it into
//! the concrete [`ContentRange`] or reports it unsatisfiable (416).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A requested range, not yet resolved against an object size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ByteRange {
    /// `bytes=A-B`: bytes A..=B (A <= B).
    Bounded(u64, u64),
    /// `bytes=A-`: from A to the end.
    From(u64),
    /// `bytes=-N`: the last N bytes (N > 0).
    Suffix(u64),
}

/// A `Range` header that is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Range header {0:?}: {1}")]
pub struct InvalidRange(pub String, pub &'static str);

/// A range resolved against an object of `total` bytes: bytes `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRange {
    /// First byte, inclusive.
    pub start: u64,
    /// Last byte, inclusive.
    pub end: u64,
    /// Size of the whole object.
    pub total: u64,
}

impl ContentRange {
    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false: a resolved range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for ContentRange {
    /// The `content-range` header value: `bytes S-E/T`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}/{}", self.start, self.end, self.total)
    }
}

fn number(s: &str, header: &str) -> Result<u64, InvalidRange> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidRange(
            header.into(),
            "positions must be decimal numbers",
        ));
    }
    s.parse()
        .map_err(|_| InvalidRange(header.into(), "position is too large"))
}

impl ByteRange {
    /// Parses a `Range` header value. `Ok(None)`: several ranges, ignore the header.
    pub fn parse(header: &str) -> Result<Option<Self>, InvalidRange> {
        let bad = |why| InvalidRange(header.into(), why);
        let (unit, spec) = header
            .split_once('=')
            .ok_or_else(|| bad("expected bytes=<start>-<end>"))?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return Err(bad("only the `bytes` unit is supported"));
        }
        if spec.contains(',') {
            return Ok(None);
        }
        let (start, end) = spec
            .split_once('-')
            .ok_or_else(|| bad("expected <start>-<end>"))?;
        let range = match (start.is_empty(), end.is_empty()) {
            (true, true) => return Err(bad("expected <start>-<end>")),
            (true, false) => match number(end, header)? {
                0 => return Err(bad("a suffix range needs at least one byte")),
                n => Self::Suffix(n),
            },
            (false, true) => Self::From(number(start, header)?),
            (false, false) => {
                let (a, b) = (number(start, header)?, number(end, header)?);
                if a > b {
                    return Err(bad("start is after end"));
                }
                Self::Bounded(a, b)
            }
        };
        Ok(Some(range))
    }

    /// Resolves against an object of `total` bytes; `None` means unsatisfiable (416).
    pub fn resolve(&self, total: u64) -> Option<ContentRange> {
        if total == 0 {
            return None;
        }
        let (start, end) = match *self {
            Self::Bounded(a, b) => (a, b.min(total - 1)),
            Self::From(a) => (a, total - 1),
            Self::Suffix(n) => (total.saturating_sub(n), total - 1),
        };
        (start < total).then_some(ContentRange { start, end, total })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn spec_examples() {
        let r = |h: &str| {
            ByteRange::parse(h)
                .unwrap()
                .unwrap()
                .resolve(22)
                .map(|c| c.to_string())
        };
        assert_eq!(r("bytes=0-4").as_deref(), Some("bytes 0-4/22"));
        assert_eq!(r("bytes=-9").as_deref(), Some("bytes 13-21/22"));
        assert_eq!(r("bytes=7-").as_deref(), Some("bytes 7-21/22"));
        assert_eq!(r("BYTES=0-100").as_deref(), Some("bytes 0-21/22"));
        assert_eq!(r("bytes=100-200"), None);
        assert_eq!(r("bytes=-100").as_deref(), Some("bytes 0-21/22"));
        assert_eq!(ByteRange::From(0).resolve(0), None);
    }

    #[test]
    fn malformed_and_ignored() {
        for bad in [
            "items=0-1",
            "bytes=5-1",
            "bytes=-0",
            "bytes=-",
            "bytes=a-b",
            "bytes=1",
            "0-1",
            "bytes= 1-2",
            "bytes=+1-2",
        ] {
            assert!(ByteRange::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ByteRange::parse("bytes=0-1,3-4").unwrap(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, rng_seed: proptest::test_runner::RngSeed::Fixed(5), ..ProptestConfig::default() })]

        #[test]
        fn resolved_ranges_are_inside_the_object(a in 0u64..1000, b in 0u64..1000, total in 0u64..500, kind in 0..3) {
            let range = match kind { 0 => ByteRange::Bounded(a.min(b), a.max(b)), 1 => ByteRange::From(a), _ => ByteRange::Suffix(a + 1) };
            if let Some(c) = range.resolve(total) {
                prop_assert!(c.start <= c.end && c.end < total && c.total == total);
            }
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,20}") {
            let _ = ByteRange::parse(&s);
        }
    }
}
