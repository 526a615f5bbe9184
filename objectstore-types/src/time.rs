//! The timestamp wire format (docs/http-api.md §6.1 and §6.6).
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
    format_into(t, &mut [0; FORMATTED_LEN]).to_owned()
}

/// The length of the wire form `YYYY-MM-DDTHH:MM:SSZ`.
pub const FORMATTED_LEN: usize = 20;

/// [`format()`] into a buffer on the stack (response headers: no `String` per timestamp).
pub fn format_into(t: SystemTime, out: &mut [u8; FORMATTED_LEN]) -> &str {
    let clamped = t.clamp(UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(MAX_UNIX_SECS));
    let secs = unix_secs(ceil_to_second(clamped));
    let (year, month, day) = civil_date(secs / 86_400);
    let of_day = secs % 86_400;
    let fields = [
        (0, 4, year),
        (5, 2, month),
        (8, 2, day),
        (11, 2, of_day / 3600),
        (14, 2, of_day / 60 % 60),
        (17, 2, of_day % 60),
    ];
    *out = *b"0000-00-00T00:00:00Z";
    for (start, width, mut value) in fields {
        for digit in out[start..start + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    // Only ASCII digits and separators were written.
    std::str::from_utf8(out).unwrap_or_default()
}

/// The proleptic Gregorian (year, month, day) of the day `days` after 1970-01-01.
///
/// Counts in 400-year eras of 146,097 days starting on a 1 March, so that the leap day is
/// the last day of a year: the day of the era gives the year of the era (dropping the
/// leap days of 4-, 100- and 400-year cycles), the day of that year gives a month counted
/// from March (months of 153 days per 5, alternating 31 and 30), and January and February
/// belong to the next calendar year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719,468 counted from 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let (month, next_year) = if march_month < 10 {
        (march_month + 3, 0)
    } else {
        (march_month - 9, 1)
    };
    (era * 400 + year_of_era + next_year, month, day)
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
    fn formats_the_ends_of_the_range_and_leap_days() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (MAX_UNIX_SECS, "9999-12-31T23:59:59Z"),
            (MAX_UNIX_SECS + 1, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(format(from_unix_secs(secs)), text, "{secs}");
        }
    }

    proptest::proptest! {
        #[test]
        fn formats_as_humantime_does(secs in 0..=MAX_UNIX_SECS, nanos in 0u32..1_000_000_000) {
            let t = from_unix_secs(secs) + Duration::from_nanos(u64::from(nanos));
            let expected = humantime::format_rfc3339_seconds(ceil_to_second(t)).to_string();
            proptest::prop_assert_eq!(format(t), expected);
        }
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
