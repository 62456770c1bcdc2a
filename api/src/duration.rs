//! Durations on the command line, in Go's syntax as kubectl, Istio and client-go accept them:
//! a sequence of decimal numbers, each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), such
//! as `300ms`, `1.5h` or `1h30m`. A plain number is read as seconds, which Go does not accept
//! but the flags of Isthmus always have.

use std::time::Duration;

/// Why a duration does not parse. The message names the value and shows the syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a duration: {reason} (examples: 500ms, 30s, 5m, 1h30m)")]
pub struct DurationError {
    /// The text given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

fn fail(value: &str, reason: impl Into<String>) -> DurationError {
    DurationError {
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Nanoseconds per unit, longest unit names first so `ms` is not read as `m`.
const UNITS: [(&str, f64); 7] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Parses a non-negative duration (see the module documentation for the syntax).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(fail(text, "empty"));
    }
    if s.starts_with('-') {
        return Err(fail(text, "negative"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = s.parse().map_err(|_| fail(text, "not a number"))?;
        return to_duration(text, secs * 1e9);
    }
    let mut rest = s;
    let mut nanos = 0.0_f64;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(end);
        if number.is_empty() || number == "." {
            return Err(fail(text, format!("expected a number before {tail:?}")));
        }
        let n: f64 = number
            .parse()
            .map_err(|_| fail(text, format!("{number:?} is not a number")))?;
        let Some((unit, scale)) = UNITS.iter().find(|(u, _)| tail.starts_with(u)) else {
            let unit: String = tail.chars().take_while(|c| !c.is_ascii_digit()).collect();
            return Err(if unit.is_empty() {
                fail(text, format!("missing unit after {number}"))
            } else {
                fail(
                    text,
                    format!("unknown unit {unit:?} (use ns, us, ms, s, m or h)"),
                )
            });
        };
        nanos += n * scale;
        rest = &tail[unit.len()..];
    }
    to_duration(text, nanos)
}

fn to_duration(text: &str, nanos: f64) -> Result<Duration, DurationError> {
    // Go's limit: about 290 years in nanoseconds.
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return Err(fail(text, "too long"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// The same as [`parse`], with the error as a string, for `clap`'s `value_parser`.
pub fn parse_flag(text: &str) -> Result<Duration, String> {
    parse(text).map_err(|e| e.to_string())
}

/// Formats a duration the way Go prints it (`1h30m0s`, `1.5s`, `250ms`, `0s`).
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (scale, unit) = if nanos < 1_000 {
            (1, "ns")
        } else if nanos < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let total_secs = d.as_secs();
    let (h, m) = (total_secs / 3600, (total_secs % 3600) / 60);
    let secs_nanos = nanos - u128::from(h * 3600 + m * 60) * 1_000_000_000;
    let secs = fraction(secs_nanos, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

/// `value / scale` as a decimal without trailing zeros.
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rem = value % scale;
    if rem == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_parses() {
        let cases = [
            ("0", 0),
            ("0s", 0),
            ("7", 7_000_000_000),
            ("1.5", 1_500_000_000),
            ("300ms", 300_000_000),
            ("1.5h", 5_400_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("2h45m10.5s", 9_910_500_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("42ns", 42),
            ("+5m", 300_000_000_000),
            (" 30s ", 30_000_000_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse(text).unwrap(), Duration::from_nanos(nanos), "{text}");
        }
    }

    #[test]
    fn bad_durations_name_the_value_and_the_problem() {
        for (text, reason) in [
            ("", "empty"),
            ("-5s", "negative"),
            ("3 days", "unknown unit"),
            ("5d", "unknown unit \"d\""),
            ("abc", "expected a number"),
            ("1h30", "missing unit"),
            ("1..5s", "is not a number"),
            ("99999999999h", "too long"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(reason), "{text}: {e}");
            assert!(e.contains(&format!("{:?}", text)), "{text}: {e}");
        }
    }

    #[test]
    fn formats_as_go_prints() {
        let cases = [
            (0, "0s"),
            (42, "42ns"),
            (1_500, "1.5µs"),
            (250_000_000, "250ms"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (5_400_000_000_000, "1h30m0s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format(Duration::from_nanos(nanos)), text);
            assert_eq!(parse(text).unwrap(), Duration::from_nanos(nanos), "{text}");
        }
    }
}
