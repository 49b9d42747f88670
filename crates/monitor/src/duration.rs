//! Prometheus durations (`model.Duration`): `1m`, `1h30m`, `500ms`, `2d`, as used for `for:`,
//! `interval:` and the Alertmanager route timers.

use std::time::Duration;

/// A duration string that is not a Prometheus duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (expected a number and a unit, e.g. 30s, 5m, 1h30m)")]
pub struct DurationError {
    /// The text that failed to parse.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// Units in the order Prometheus requires them, largest first, with their size in ms.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration such as `5m` or `1h30m`; `0` is accepted as zero.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    if input.is_empty() {
        return Err(err("empty duration string"));
    }
    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while pos < bytes.len() {
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if start == pos {
            return Err(err("expected a number"));
        }
        let number: u64 = input[start..pos]
            .parse()
            .map_err(|_| err("number too large"))?;
        let rest = &input[pos..];
        let unit = if rest.starts_with("ms") {
            "ms"
        } else {
            match rest.chars().next() {
                Some(c) if "ywdhms".contains(c) => &rest[..1],
                Some(_) => return Err(err("unknown unit")),
                None => return Err(err("missing unit")),
            }
        };
        let index = UNITS
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(|| err("unknown unit"))?;
        if index < next_unit {
            return Err(err("units must appear once each, largest first"));
        }
        next_unit = index + 1;
        pos += unit.len();
        total = number
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| err("duration too large"))?;
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration the way Prometheus prints `model.Duration` (`1h30m`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Milliseconds in a duration, saturating rather than overflowing.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(
            parse_duration("1m30s500ms").unwrap(),
            Duration::from_millis(90_500)
        );
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        for bad in ["", "5", "m", "5x", "30s1m", "1m1m", "-1m", "1.5m"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
    }
}
