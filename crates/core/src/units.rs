//! Durations and Kubernetes quantities as configuration files, policies, scenario files and
//! the Kubernetes API write them.
//!
//! Every parser returns an error sentence that names the input and shows what would be right;
//! the callers put the file, key and line in front of it.

use std::time::Duration;

const KI: u128 = 1 << 10;

/// Binary and decimal memory suffixes, largest first so that formatting picks the largest
/// exact unit.
const MEMORY_SUFFIXES: &[(&str, u128)] = &[
    ("Ei", KI * KI * KI * KI * KI * KI),
    ("Pi", KI * KI * KI * KI * KI),
    ("Ti", KI * KI * KI * KI),
    ("Gi", KI * KI * KI),
    ("Mi", KI * KI),
    ("Ki", KI),
    ("E", 1_000_000_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("T", 1_000_000_000_000),
    ("G", 1_000_000_000),
    ("M", 1_000_000),
    ("k", 1_000),
];

/// A non-negative decimal number `digits[.digits]`, kept exact as `mantissa / 10^scale`.
struct Decimal {
    mantissa: u128,
    scale: u32,
}

impl Decimal {
    /// Parses `12`, `0.5`, `.5` or `1.`; `None` for anything else (signs, exponents, blanks).
    fn parse(text: &str) -> Option<Decimal> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        // 30 digits fit in u128 with room to multiply by any suffix below.
        if int.len() + frac.len() > 30
            || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let digits = format!("{int}{frac}");
        let mantissa = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        Some(Decimal {
            mantissa,
            scale: frac.len() as u32,
        })
    }

    /// `self * factor`, rounded up to a whole number (Kubernetes rounds quantities up).
    fn times_ceil(&self, factor: u128) -> Option<u128> {
        let num = self.mantissa.checked_mul(factor)?;
        let den = 10u128.pow(self.scale);
        Some(num.div_ceil(den))
    }

    /// `self * factor` if that is a whole number.
    fn times_exact(&self, factor: u128) -> Option<u128> {
        let num = self.mantissa.checked_mul(factor)?;
        let den = 10u128.pow(self.scale);
        (num % den == 0).then_some(num / den)
    }
}

/// Parses a duration: a sequence of `<number><unit>` with units `ms`, `s`, `m` and `h`,
/// e.g. `500ms`, `30s`, `5m`, `2h`, `1m30s` or `1.5s`; `0` alone is zero.
///
/// Precision is one millisecond: `0.0001s` is an error rather than silently rounded.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!(
            "invalid duration `{text}`: {why}; expected a number and a unit (ms, s, m, h), \
             e.g. `500ms`, `30s`, `5m` or `1m30s`"
        )
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = trimmed;
    let mut total_ms: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(bad(&format!("expected a number at `{rest}`")));
        }
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_ms: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" => return Err(bad(&format!("`{number}` has no unit"))),
            other => return Err(bad(&format!("unknown unit `{other}`"))),
        };
        let value =
            Decimal::parse(number).ok_or_else(|| bad(&format!("`{number}` is not a number")))?;
        let ms = value
            .times_exact(unit_ms)
            .ok_or_else(|| bad("it is finer than a millisecond or too large"))?;
        total_ms = total_ms
            .checked_add(ms)
            .ok_or_else(|| bad("it is too large"))?;
        rest = after;
    }
    let total_ms = u64::try_from(total_ms).map_err(|_| bad("it is too large"))?;
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way [`parse_duration`] reads it: `1h2m3s`, `1m30s`, `500ms`, `0s`.
///
/// Anything below a millisecond is dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        let count = ms / size;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            ms -= count * size;
        }
    }
    out
}

/// Parses a Kubernetes CPU quantity into millicores: `100m`, `1`, `0.5`, `"8"`.
///
/// As Kubernetes does, a fraction of a millicore is rounded up (`0.0001` is `1m`).
pub fn parse_cpu(text: &str) -> Result<u64, String> {
    let bad = |why: &str| {
        format!(
            "invalid cpu quantity `{text}`: {why}; expected cores (`1`, `0.5`) or millicores (`100m`)"
        )
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    let (number, factor) = match trimmed.strip_suffix('m') {
        Some(number) => (number, 1),
        None => (trimmed, 1_000),
    };
    if number.starts_with('-') {
        return Err(bad("it is negative"));
    }
    let value =
        Decimal::parse(number).ok_or_else(|| bad("it is not a number with an optional `m`"))?;
    let millis = value
        .times_ceil(factor)
        .ok_or_else(|| bad("it is too large"))?;
    u64::try_from(millis).map_err(|_| bad("it is too large"))
}

/// Formats millicores as Kubernetes writes them: whole cores as `2`, the rest as `100m`.
pub fn format_cpu(millis: u64) -> String {
    if millis.is_multiple_of(1_000) {
        (millis / 1_000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Parses a Kubernetes memory quantity into bytes: plain bytes (`1048576`), binary suffixes
/// `Ki Mi Gi Ti Pi Ei` (`256Mi`, `1.5Gi`) or decimal suffixes `k M G T P E` (`500M`).
///
/// A fraction of a byte is rounded up, as Kubernetes does. `m` (millibytes) is refused: in a
/// memory field it is almost always a mistake for `Mi`.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let bad = |why: &str| {
        format!(
            "invalid memory quantity `{text}`: {why}; expected bytes with an optional suffix \
             Ki, Mi, Gi, Ti (or k, M, G, T), e.g. `256Mi` or `1Gi`"
        )
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    if trimmed.starts_with('-') {
        return Err(bad("it is negative"));
    }
    let suffix_start = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(suffix_start);
    let factor = if suffix.is_empty() {
        1
    } else {
        match MEMORY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
            Some((_, factor)) => *factor,
            None => {
                let hint = match suffix {
                    "m" => " (`m` means millibytes; did you mean `Mi`?)".to_string(),
                    "K" | "KB" | "kb" | "KiB" => " (did you mean `Ki`?)".to_string(),
                    s if s.ends_with("iB") || s.ends_with('B') => {
                        format!(" (did you mean `{}`?)", s.trim_end_matches('B'))
                    }
                    _ => String::new(),
                };
                return Err(bad(&format!("unknown suffix `{suffix}`{hint}")));
            }
        }
    };
    let value = Decimal::parse(number).ok_or_else(|| bad("it does not start with a number"))?;
    let bytes = value
        .times_ceil(factor)
        .ok_or_else(|| bad("it is too large"))?;
    u64::try_from(bytes).map_err(|_| bad("it is too large"))
}

/// Formats bytes as Kubernetes writes them, with the largest binary suffix that divides them
/// exactly: `256Mi`, `1Gi`, `1536Mi`; plain bytes otherwise.
pub fn format_memory(bytes: u64) -> String {
    let bytes_wide = u128::from(bytes);
    if bytes_wide > 0 {
        for (suffix, factor) in MEMORY_SUFFIXES.iter().filter(|(s, _)| s.ends_with('i')) {
            if bytes_wide % factor == 0 {
                return format!("{}{suffix}", bytes_wide / factor);
            }
        }
    }
    bytes.to_string()
}

/// Parses a memory growth rate into bytes per minute: a memory quantity, a slash and `s`,
/// `min` or `h`, e.g. `20Mi/min`, `512Ki/s` or `1Gi/h`.
///
/// Per-hour rates are rounded up to a whole byte per minute.
pub fn parse_memory_rate(text: &str) -> Result<u64, String> {
    let bad = |why: String| {
        format!(
            "invalid memory rate `{text}`: {why}; expected e.g. `20Mi/min`, `512Ki/s` or `1Gi/h`"
        )
    };
    let (quantity, per) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| bad("it has no `/<unit>`".to_string()))?;
    let bytes = u128::from(parse_memory(quantity).map_err(bad)?);
    let per_minute = match per.trim() {
        "s" | "sec" => bytes.checked_mul(60),
        "min" => Some(bytes),
        "h" => Some(bytes.div_ceil(60)),
        other => return Err(bad(format!("unknown time unit `{other}`"))),
    };
    per_minute
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| bad("it is too large".to_string()))
}

/// Formats bytes per minute as `20Mi/min`.
pub fn format_memory_rate(bytes_per_minute: u64) -> String {
    format!("{}/min", format_memory(bytes_per_minute))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: u64 = 1024 * 1024;

    #[test]
    fn durations_parse_in_every_unit_and_combination() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("1h2m3s4ms"),
            Ok(Duration::from_millis(3_723_004))
        );
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 10s "), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        let err = parse_duration("30").unwrap_err();
        assert!(err.contains("`30` has no unit"), "{err}");
        let err = parse_duration("3x").unwrap_err();
        assert!(err.contains("unknown unit `x`"), "{err}");
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("1..5s").is_err());
        assert!(
            parse_duration("0.0001s")
                .unwrap_err()
                .contains("millisecond")
        );
        assert!(parse_duration("99999999999999999999999h").is_err());
    }

    #[test]
    fn durations_format_back_to_what_they_parse_from() {
        for text in ["500ms", "30s", "5m", "2h", "1m30s", "1h2m3s4ms", "0s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(format_duration(parsed), text);
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn cpu_parses_cores_and_millicores() {
        assert_eq!(parse_cpu("100m"), Ok(100));
        assert_eq!(parse_cpu("1"), Ok(1000));
        assert_eq!(parse_cpu("0.5"), Ok(500));
        assert_eq!(parse_cpu("8"), Ok(8000));
        assert_eq!(parse_cpu("2.25"), Ok(2250));
        assert_eq!(parse_cpu("0.0001"), Ok(1));
        assert!(parse_cpu("").is_err());
        assert!(parse_cpu("-1").is_err());
        assert!(parse_cpu("1 core").is_err());
        assert!(parse_cpu("100Mi").unwrap_err().contains("`100Mi`"));
    }

    #[test]
    fn cpu_formats_like_kubernetes() {
        assert_eq!(format_cpu(100), "100m");
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(format_cpu(1500), "1500m");
        assert_eq!(format_cpu(0), "0");
    }

    #[test]
    fn memory_parses_binary_decimal_and_plain_bytes() {
        assert_eq!(parse_memory("256Mi"), Ok(256 * MI));
        assert_eq!(parse_memory("1Gi"), Ok(1024 * MI));
        assert_eq!(parse_memory("300Mi"), Ok(300 * MI));
        assert_eq!(parse_memory("32Gi"), Ok(32 * 1024 * MI));
        assert_eq!(parse_memory("1.5Gi"), Ok(1536 * MI));
        assert_eq!(parse_memory("2Ki"), Ok(2048));
        assert_eq!(parse_memory("1Ti"), Ok(1024 * 1024 * MI));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("500M"), Ok(500_000_000));
        assert_eq!(parse_memory("2G"), Ok(2_000_000_000));
        assert_eq!(parse_memory("1T"), Ok(1_000_000_000_000));
        assert_eq!(parse_memory("134217728"), Ok(128 * MI));
    }

    #[test]
    fn bad_memory_gets_a_hint() {
        assert!(
            parse_memory("256m")
                .unwrap_err()
                .contains("did you mean `Mi`")
        );
        assert!(
            parse_memory("256MB")
                .unwrap_err()
                .contains("did you mean `M`")
        );
        assert!(
            parse_memory("256MiB")
                .unwrap_err()
                .contains("did you mean `Mi`")
        );
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("").is_err());
        assert!(parse_memory("-1Gi").is_err());
        assert!(parse_memory("99999999Ei").is_err());
    }

    #[test]
    fn memory_formats_with_the_largest_exact_suffix() {
        assert_eq!(format_memory(256 * MI), "256Mi");
        assert_eq!(format_memory(1024 * MI), "1Gi");
        assert_eq!(format_memory(1536 * MI), "1536Mi");
        assert_eq!(format_memory(2048), "2Ki");
        assert_eq!(format_memory(1000), "1000");
        assert_eq!(format_memory(0), "0");
        for text in ["64Mi", "32Gi", "300Mi", "1Ti", "1500"] {
            assert_eq!(format_memory(parse_memory(text).unwrap()), text);
        }
    }

    #[test]
    fn memory_rates_are_per_minute() {
        assert_eq!(parse_memory_rate("20Mi/min"), Ok(20 * MI));
        assert_eq!(parse_memory_rate("1Mi/s"), Ok(60 * MI));
        assert_eq!(parse_memory_rate("60Mi/h"), Ok(MI));
        assert!(
            parse_memory_rate("20Mi")
                .unwrap_err()
                .contains("no `/<unit>`")
        );
        assert!(
            parse_memory_rate("20Mi/day")
                .unwrap_err()
                .contains("unknown time unit `day`")
        );
        assert!(parse_memory_rate("20Mo/min").is_err());
        assert_eq!(format_memory_rate(20 * MI), "20Mi/min");
    }
}
