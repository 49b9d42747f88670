//! Formatting that must match what Prometheus and Alertmanager (both Go programs) print, byte
//! for byte: Go's `%g`/`%v` floats, `%q` strings, RFC 3339 times, URL query escaping, regexp
//! quoting and `encoding/json`'s HTML-safe string escaping.

use std::io;

/// Go's `strconv.FormatFloat(v, 'g', prec, 64)`; `None` is the shortest representation (`%v`).
pub(crate) fn format_g(v: f64, prec: Option<usize>) -> String {
    if let Some(special) = special_float(v) {
        return special;
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let neg = v < 0.0;
    let (digits, exp10) = decimal_digits(v.abs(), prec);
    let nd = digits.len() as i64;
    let dp = exp10 + 1;
    let shortest = prec.is_none();
    let mut p = prec.map(|p| p.max(1) as i64).unwrap_or(nd);
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        if p > nd {
            p = nd;
        }
        out.push_str(&fmt_e(&digits, exp, (p - 1).max(0) as usize));
    } else {
        if p > dp {
            p = nd;
        }
        out.push_str(&fmt_f(&digits, dp, (p - dp).max(0) as usize));
    }
    out
}

/// Go's `%.Nf`.
pub(crate) fn format_f(v: f64, prec: usize) -> String {
    if let Some(special) = special_float(v) {
        return special;
    }
    format!("{v:.prec$}")
}

/// Go's `%.Ne`.
pub(crate) fn format_e(v: f64, prec: usize) -> String {
    if let Some(special) = special_float(v) {
        return special;
    }
    let neg = v < 0.0 || (v == 0.0 && v.is_sign_negative());
    let (digits, exp10) = if v == 0.0 {
        ("0".to_string(), 0)
    } else {
        decimal_digits(v.abs(), Some(prec + 1))
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&fmt_e(&digits, exp10, prec));
    out
}

/// Go spells infinities with a sign and NaN as `NaN`.
fn special_float(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".to_string())
    } else if v == f64::INFINITY {
        Some("+Inf".to_string())
    } else if v == f64::NEG_INFINITY {
        Some("-Inf".to_string())
    } else {
        None
    }
}

/// Decimal digits (no trailing zeros) and the decimal exponent of the first digit of a positive
/// finite number, either shortest round-trip or rounded to `prec` significant digits.
fn decimal_digits(v: f64, prec: Option<usize>) -> (String, i64) {
    let formatted = match prec {
        None => format!("{v:e}"),
        Some(p) => format!("{:.*e}", p.max(1) - 1, v),
    };
    let (mantissa, exp) = formatted
        .split_once('e')
        .unwrap_or((formatted.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, exp)
}

fn fmt_e(digits: &str, exp: i64, decimals: usize) -> String {
    let bytes = digits.as_bytes();
    let mut out = String::new();
    out.push(bytes.first().map(|b| *b as char).unwrap_or('0'));
    if decimals > 0 {
        out.push('.');
        for i in 1..=decimals {
            out.push(bytes.get(i).map(|b| *b as char).unwrap_or('0'));
        }
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

fn fmt_f(digits: &str, dp: i64, decimals: usize) -> String {
    let bytes = digits.as_bytes();
    let digit = |i: i64| -> char {
        if i < 0 {
            '0'
        } else {
            bytes.get(i as usize).map(|b| *b as char).unwrap_or('0')
        }
    };
    let mut out = String::new();
    if dp > 0 {
        for i in 0..dp {
            out.push(digit(i));
        }
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        for i in 0..decimals as i64 {
            out.push(digit(dp + i));
        }
    }
    out
}

/// Go's `strconv.Quote` (the `%q` verb) for the strings that occur in label values.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `time.Time` JSON form (RFC 3339 with trailing fractional zeros removed) for a time in
/// milliseconds since the epoch; `None` is Go's zero time.
pub(crate) fn rfc3339(t_ms: Option<i64>) -> String {
    const ZERO: &str = "0001-01-01T00:00:00Z";
    let Some(t_ms) = t_ms else {
        return ZERO.to_string();
    };
    let Some(dt) = chrono::DateTime::from_timestamp_millis(t_ms) else {
        return ZERO.to_string();
    };
    let base = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    let millis = t_ms.rem_euclid(1000);
    if millis == 0 {
        format!("{base}Z")
    } else {
        let mut frac = format!("{millis:03}");
        while frac.ends_with('0') {
            frac.pop();
        }
        format!("{base}.{frac}Z")
    }
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `regexp.QuoteMeta`, which Alertmanager applies to the receiver name in webhook data.
pub(crate) fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `serde_json` formatter that escapes strings the way Go's `encoding/json` does by default:
/// `<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes, and backspace and form feed as `\u0008`
/// and `\u000c` (Go 1.19, which Alertmanager 0.25 is built with).
pub(crate) struct GoJsonFormatter;

impl serde_json::ser::Formatter for GoJsonFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        use serde_json::ser::CharEscape;
        let s: String = match char_escape {
            CharEscape::Quote => "\\\"".into(),
            CharEscape::ReverseSolidus => "\\\\".into(),
            CharEscape::Solidus => "/".into(),
            CharEscape::Backspace => "\\u0008".into(),
            CharEscape::FormFeed => "\\u000c".into(),
            CharEscape::LineFeed => "\\n".into(),
            CharEscape::CarriageReturn => "\\r".into(),
            CharEscape::Tab => "\\t".into(),
            CharEscape::AsciiControl(b) => format!("\\u{b:04x}"),
        };
        writer.write_all(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_formatting_matches_go() {
        // Expected strings are what Go's fmt prints for the same values.
        assert_eq!(format_g(0.5, None), "0.5");
        assert_eq!(format_g(3.0, None), "3");
        assert_eq!(format_g(1_000_000.0, None), "1e+06");
        assert_eq!(format_g(123_456.0, None), "123456");
        assert_eq!(format_g(1_234_567.0, None), "1.234567e+06");
        assert_eq!(format_g(0.0001, None), "0.0001");
        assert_eq!(format_g(0.00001, None), "1e-05");
        assert_eq!(format_g(-2.5, None), "-2.5");
        assert_eq!(format_g(f64::NAN, None), "NaN");
        assert_eq!(format_g(f64::INFINITY, None), "+Inf");
        assert_eq!(format_g(0.5, Some(4)), "0.5");
        assert_eq!(format_g(1234.0, Some(4)), "1234");
        assert_eq!(format_g(12.5, Some(4)), "12.5");
        assert_eq!(format_g(12.3456, Some(4)), "12.35");
        assert_eq!(format_g(12_345_678.0, Some(4)), "1.235e+07");
        assert_eq!(format_g(1000.0, Some(4)), "1000");
        assert_eq!(format_g(0.0, Some(4)), "0");
        assert_eq!(format_e(1234.5, 2), "1.23e+03");
        assert_eq!(format_f(2.0 / 3.0, 2), "0.67");
    }

    #[test]
    fn times_and_escapes() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_700_000_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(Some(1_700_000_000_500)), "2023-11-14T22:13:20.5Z");
        assert_eq!(
            query_escape("up{a=\"b c\"} > 0"),
            "up%7Ba%3D%22b+c%22%7D+%3E+0"
        );
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote_meta("web.hook"), "web\\.hook");
    }
}
