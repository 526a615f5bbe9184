//! The timestamp wire format (spec sections 6.1 and 18.2.4).
//!
//! **Invariant:** instants this system stores and emits are whole seconds (fractions are
//! rounded *up*, as the newer clients do), within `1970-01-01T00:00:00Z ..=
//! 9999-12-31T23:59:59Z`, and are written `YYYY-MM-DDTHH:MM:SSZ`. Both client generations
//! parse that form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The latest instant the wire format can carry (9999-12-31T23:59:59Z).
pub const MAX_UNIX_SECS: u64 = 253_402_300_799;

/// A timestamp that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected RFC 3339 in UTC, e.g. 2026-10-16T12:00:00Z")]
pub struct InvalidTimestamp(pub String);

/// Rounds an instant up to the next whole second (unchanged if already whole).
pub fn ceil_to_second(t: SystemTime) -> SystemTime {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
    UNIX_EPOCH + Duration::from_secs(secs.min(MAX_UNIX_SECS))
}

/// The current time, rounded up to a whole second.
pub fn now() -> SystemTime {
    ceil_to_second(SystemTime::now())
}

/// Formats as `YYYY-MM-DDTHH:MM:SSZ`, clamped to the representable range.
pub fn format(t: SystemTime) -> String {
    let clamped = t.clamp(UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(MAX_UNIX_SECS));
    humantime::format_rfc3339_seconds(ceil_to_second(clamped)).to_string()
}

/// Parses RFC 3339 in UTC: `Z` or `+00:00`, with or without fractional digits; the result is
/// rounded up to a whole second.
pub fn parse(s: &str) -> Result<SystemTime, InvalidTimestamp> {
    let bad = || InvalidTimestamp(s.to_owned());
    let utc = if let Some(base) = s.strip_suffix("+00:00") {
        format!("{base}Z")
    } else if s.ends_with('Z') || s.ends_with('z') {
        format!("{}Z", &s[..s.len() - 1])
    } else {
        return Err(bad());
    };
    if !utc
        .as_bytes()
        .get(10)
        .is_some_and(|b| *b == b'T' || *b == b't')
    {
        return Err(bad());
    }
    let t = humantime::parse_rfc3339(&utc.replacen('t', "T", 1)).map_err(|_| bad())?;
    Ok(ceil_to_second(t))
}

/// Seconds since the epoch (0 for earlier instants).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The instant `secs` seconds after the epoch.
pub fn from_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds() {
        let t = from_unix_secs(1_700_000_000);
        assert_eq!(format(t), "2023-11-14T22:13:20Z");
        assert_eq!(
            format(t + Duration::from_millis(300)),
            "2023-11-14T22:13:21Z"
        );
    }

    #[test]
    fn parses_client_forms() {
        let t = from_unix_secs(1_700_000_000);
        assert_eq!(parse("2023-11-14T22:13:20Z").unwrap(), t);
        assert_eq!(parse("2023-11-14T22:13:20+00:00").unwrap(), t);
        assert_eq!(parse("2023-11-14T22:13:19.250000+00:00").unwrap(), t);
        assert_eq!(parse("2023-11-14T22:13:20.000000Z").unwrap(), t);
        for bad in [
            "2023-11-14T22:13:20+01:00",
            "2023-11-14 22:13:20Z",
            "yesterday",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
