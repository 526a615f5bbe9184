//! Expiration policies and their wire syntax (docs/http-api.md §6.5, §6.9).
//!
//! * Input: `manual`, `ttl:<duration>` or `tti:<duration>`, where the duration is any
//!   humantime expression (`1 days 3600 seconds`, `30d`, `1h 30m`, `500ms`, ...).
//! * Output: `ttl:`/`tti:` followed by `d h m s` components, largest first, zero components
//!   omitted, `0s` for zero, sub-second remainders truncated. Python 0.2.10 accepts only these
//!   units, so nothing else is ever emitted.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest TTL/TTI accepted (about 1000 years); longer values are a client mistake.
pub const MAX_EXPIRATION: Duration = Duration::from_secs(1000 * 366 * 86_400);

/// How an object expires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "secs")]
pub enum ExpirationPolicy {
    /// Never expires on its own.
    #[default]
    Manual,
    /// Expires this long after it was written.
    #[serde(with = "secs")]
    TimeToLive(Duration),
    /// Expires this long after it was last read (debounced, see [`tti_debounce`]).
    #[serde(with = "secs")]
    TimeToIdle(Duration),
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// A policy or duration that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid expiration policy {0:?}: {1}")]
pub struct InvalidExpiration(pub String, pub String);

impl ExpirationPolicy {
    /// The duration of a ttl/tti policy.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            Self::Manual => None,
            Self::TimeToLive(d) | Self::TimeToIdle(d) => Some(*d),
        }
    }

    /// Whether this is [`ExpirationPolicy::Manual`].
    pub fn is_manual(&self) -> bool {
        matches!(self, Self::Manual)
    }
}

/// Debounce window for TTI bumps: `min(tti / 4, 24h)`. A read rewrites the deadline only when
/// the stored one is earlier than `(access + tti) - debounce`.
pub fn tti_debounce(tti: Duration) -> Duration {
    (tti / 4).min(Duration::from_secs(86_400))
}

impl FromStr for ExpirationPolicy {
    type Err = InvalidExpiration;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("manual") {
            return Ok(Self::Manual);
        }
        let err = |why: &str| InvalidExpiration(s.to_owned(), why.to_owned());
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| err("expected `manual`, `ttl:<duration>` or `tti:<duration>`"))?;
        let duration = parse_duration(rest).map_err(|why| err(&why))?;
        match kind.to_ascii_lowercase().as_str() {
            "ttl" => Ok(Self::TimeToLive(duration)),
            "tti" => Ok(Self::TimeToIdle(duration)),
            _ => Err(err(
                "expected `manual`, `ttl:<duration>` or `tti:<duration>`",
            )),
        }
    }
}

impl fmt::Display for ExpirationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Manual => f.write_str("manual"),
            Self::TimeToLive(d) => write!(f, "ttl:{}", format_duration(*d)),
            Self::TimeToIdle(d) => write!(f, "tti:{}", format_duration(*d)),
        }
    }
}

/// Parses a humantime duration (`1 days 3600 seconds`, `30d`, `1h 30m`), bounded by
/// [`MAX_EXPIRATION`]. The error text says what is wrong.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("the duration is empty".into());
    }
    let d = humantime::parse_duration(s).map_err(|e| format!("bad duration: {e}"))?;
    if d > MAX_EXPIRATION {
        return Err("the duration is longer than 1000 years".into());
    }
    Ok(d)
}

/// Formats a duration as `d h m s` components (`1d 2h`, `30s`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut parts = Vec::with_capacity(4);
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        let n = secs / size;
        secs %= size;
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_what_both_clients_send() {
        use ExpirationPolicy::*;
        let day = Duration::from_secs(86_400);
        for (wire, want) in [
            ("manual", Manual),
            ("ttl:1 days", TimeToLive(day)),
            (
                "tti:1 days 3600 seconds",
                TimeToIdle(day + Duration::from_secs(3600)),
            ),
            ("ttl:1d 1h", TimeToLive(day + Duration::from_secs(3600))),
            ("ttl:30s", TimeToLive(Duration::from_secs(30))),
            ("ttl:1day", TimeToLive(day)),
            ("tti:1h 30m", TimeToIdle(Duration::from_secs(5400))),
            ("ttl:0s", TimeToLive(Duration::ZERO)),
        ] {
            assert_eq!(wire.parse::<ExpirationPolicy>().unwrap(), want, "{wire}");
        }
        for bad in [
            "",
            "ttl:",
            "ttl",
            "forever:1d",
            "ttl:abc",
            "ttl:-1s",
            "ttl:100000000d",
        ] {
            assert!(bad.parse::<ExpirationPolicy>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emits_dhms_only() {
        let cases = [
            (30, "30s"),
            (60, "1m"),
            (5400, "1h 30m"),
            (86_400, "1d"),
            (2 * 86_400 + 3 * 3600 + 4, "2d 3h 4s"),
            (400 * 86_400 + 4711, "400d 1h 18m 31s"),
            (0, "0s"),
        ];
        for (secs, want) in cases {
            assert_eq!(format_duration(Duration::from_secs(secs)), want);
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s");
        assert_eq!(
            ExpirationPolicy::TimeToIdle(Duration::from_secs(7 * 86_400)).to_string(),
            "tti:7d"
        );
    }

    #[test]
    fn debounce_is_quarter_capped_at_a_day() {
        assert_eq!(
            tti_debounce(Duration::from_secs(400)),
            Duration::from_secs(100)
        );
        assert_eq!(
            tti_debounce(Duration::from_secs(30 * 86_400)),
            Duration::from_secs(86_400)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, rng_seed: proptest::test_runner::RngSeed::Fixed(11), ..ProptestConfig::default() })]

        #[test]
        fn policy_round_trips(secs in 0u64..(999 * 365 * 86_400), ttl in any::<bool>()) {
            let d = Duration::from_secs(secs);
            let p = if ttl { ExpirationPolicy::TimeToLive(d) } else { ExpirationPolicy::TimeToIdle(d) };
            prop_assert_eq!(p.to_string().parse::<ExpirationPolicy>().unwrap(), p);
        }
    }
}
