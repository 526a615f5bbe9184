//! Byte sizes on the command line (`1KiB`, `16k`, `256MiB`, `1048576`) and in output.
//!
//! Suffixes are binary: `k`/`KiB` = 1024, `m`/`MiB` = 1024², `g`/`GiB` = 1024³
//! (case-insensitive; `KB`/`MB`/`GB` are read as binary too, there is no decimal variant).

/// Parses a byte size; `None` when the text is not a non-negative integer with a known suffix
/// or when the value overflows `u64`.
///
/// ```
/// use objectstore_bench::size::parse_size;
/// assert_eq!(parse_size("1KiB"), Some(1024));
/// assert_eq!(parse_size("100k"), Some(102_400));
/// assert_eq!(parse_size("256MiB"), Some(268_435_456));
/// assert_eq!(parse_size("42"), Some(42));
/// assert_eq!(parse_size("1.5k"), None);
/// ```
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(unit)
}

/// Formats a size compactly for workload names: the largest binary unit that divides it.
///
/// ```
/// use objectstore_bench::size::format_size;
/// assert_eq!(format_size(1024), "1KiB");
/// assert_eq!(format_size(102_400), "100KiB");
/// assert_eq!(format_size(268_435_456), "256MiB");
/// assert_eq!(format_size(1000), "1000B");
/// ```
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

/// Formats a rate in bytes per second as MiB/s with two decimals.
pub fn format_rate(bytes_per_s: f64) -> String {
    format!("{:.2} MiB/s", bytes_per_s / (1u64 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes_and_rejects_garbage() {
        assert_eq!(parse_size("16KiB"), Some(16 * 1024));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size(" 8 MiB "), Some(8 << 20));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("10 parsecs"), None);
        assert_eq!(parse_size("99999999999999999999g"), None);
    }

    #[test]
    fn format_round_trips_through_parse() {
        for bytes in [
            1,
            1000,
            1024,
            16 * 1024,
            100 * 1024,
            64 << 20,
            256 << 20,
            3 << 30,
        ] {
            assert_eq!(parse_size(&format_size(bytes)), Some(bytes));
        }
    }
}
