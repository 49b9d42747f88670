//! The messages whose JSON form differs from an object of their fields: times, durations,
//! quantities, int-or-strings, embedded objects and managed fields.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::schema::Special;
use super::wire::{Reader, Wire, put_bytes, put_varint_field};

/// The JSON of a special message; `None` when Go's JSON would be `null` (a zero time, an empty
/// embedded object).
pub fn decode(kind: Special, buf: &[u8]) -> Result<Option<Value>, String> {
    let mut ints = [0i64; 3];
    let mut text: [Option<&[u8]>; 4] = [None; 4];
    let mut verbs = Vec::new();
    let mut r = Reader::new(buf);
    while let Some((tag, wire)) = r.field()? {
        match (tag, wire) {
            (1..=3, Wire::Varint(v)) => ints[tag as usize - 1] = v as i64,
            (1..=3, Wire::Bytes(b)) if kind == Special::Verbs => verbs.push(utf8(b)?),
            (1..=3, Wire::Bytes(b)) => text[tag as usize] = Some(b),
            (1..=3, w) => {
                return Err(format!(
                    "field {tag} of {kind:?} has wire type {}",
                    w.describe()
                ));
            }
            _ => {}
        }
    }
    Ok(match kind {
        // Go's zero time, which its JSON writes as null.
        Special::Time if buf.is_empty() => Some(Value::Null),
        Special::Time => Some(json!(rfc3339(ints[0], 0, SecondsFormat::Secs)?)),
        Special::MicroTime if buf.is_empty() => Some(Value::Null),
        Special::MicroTime => {
            let micros = ints[1].clamp(0, 999_999_999) / 1000 * 1000;
            Some(json!(rfc3339(
                ints[0],
                micros as u32,
                SecondsFormat::Micros
            )?))
        }
        Special::Duration => Some(json!(go_duration(ints[0]))),
        Special::Quantity => Some(json!(text[1].map(utf8).transpose()?.unwrap_or("0"))),
        Special::IntOrString if ints[0] == 1 => Some(json!(text[3].map(utf8).transpose()?)),
        Special::IntOrString => Some(json!(ints[1] as i32)),
        Special::RawExtension => match text[1] {
            None | Some([]) => None,
            Some(raw) => Some(super::embedded_to_json(raw)?),
        },
        Special::FieldsV1 => match text[1] {
            None | Some([]) => None,
            Some(raw) => Some(
                serde_json::from_slice(raw)
                    .map_err(|e| format!("FieldsV1 raw is not JSON: {e}"))?,
            ),
        },
        Special::Verbs => Some(json!(verbs)),
    })
}

/// The protobuf Go writes for the zero value of a special message held by value; `None` when
/// it writes nothing.
pub fn zero(kind: Special) -> Option<Vec<u8>> {
    Some(match kind {
        // A zero time is an empty message; so are an empty RawExtension and FieldsV1.
        Special::Time | Special::MicroTime | Special::RawExtension | Special::FieldsV1 => vec![],
        Special::Duration => vec![0x08, 0x00],
        Special::Quantity => vec![0x0a, 0x01, b'0'],
        Special::IntOrString => vec![0x08, 0x00, 0x10, 0x00, 0x1a, 0x00],
        Special::Verbs => return None,
    })
}

/// The protobuf of a special message from its JSON, written as Go writes it.
pub fn encode(kind: Special, v: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let expected = |what: &str| format!("expected {what} for {kind:?}, got {}", kind_of(v));
    match kind {
        Special::Time | Special::MicroTime => {
            let s = v.as_str().ok_or_else(|| expected("an RFC 3339 string"))?;
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))?;
            put_varint_field(&mut out, 1, t.timestamp() as u64);
            let nanos = if kind == Special::Time {
                0
            } else {
                t.timestamp_subsec_nanos() / 1000 * 1000
            };
            put_varint_field(&mut out, 2, u64::from(nanos));
        }
        Special::Duration => {
            let s = v.as_str().ok_or_else(|| expected("a duration string"))?;
            put_varint_field(&mut out, 1, parse_go_duration(s)? as u64);
        }
        Special::Quantity => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(expected("a quantity string")),
            };
            put_bytes(&mut out, 1, s.as_bytes());
        }
        Special::IntOrString => {
            let (ty, int, s) = match v {
                Value::String(s) => (1, 0, s.as_str()),
                Value::Number(n) => {
                    let i = n
                        .as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or_else(|| format!("{n} is not a 32-bit integer"))?;
                    (0, i, "")
                }
                _ => return Err(expected("a number or a string")),
            };
            put_varint_field(&mut out, 1, ty);
            put_varint_field(&mut out, 2, int as i64 as u64);
            put_bytes(&mut out, 3, s.as_bytes());
        }
        Special::RawExtension | Special::FieldsV1 => {
            let raw = serde_json::to_vec(v).map_err(|e| e.to_string())?;
            put_bytes(&mut out, 1, &raw);
        }
        Special::Verbs => {
            for verb in v.as_array().ok_or_else(|| expected("an array"))? {
                let verb = verb
                    .as_str()
                    .ok_or_else(|| expected("an array of strings"))?;
                put_bytes(&mut out, 1, verb.as_bytes());
            }
        }
    }
    Ok(out)
}

fn utf8(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|_| "a string is not valid UTF-8".to_string())
}

/// The JSON type of a value, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Bytes as the base64 string Go's JSON writes.
pub fn base64_encode(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The bytes of a base64 string.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("{s:?} is not base64: {e}"))
}

fn rfc3339(seconds: i64, nanos: u32, format: SecondsFormat) -> Result<String, String> {
    DateTime::<Utc>::from_timestamp(seconds, nanos)
        .map(|t| t.to_rfc3339_opts(format, true))
        .ok_or_else(|| format!("time {seconds}s is out of range"))
}

/// A duration in nanoseconds as Go's `time.Duration.String` writes it (`1h2m3.5s`, `1.5ms`).
pub fn go_duration(d: i64) -> String {
    fn frac(v: u64, prec: usize) -> String {
        if v == 0 {
            return String::new();
        }
        let digits = format!("{v:0prec$}");
        format!(".{}", digits.trim_end_matches('0'))
    }
    let mut u = d.unsigned_abs();
    let text = if u == 0 {
        return "0s".into();
    } else if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let scale = 10u64.pow(prec as u32);
        format!("{}{}{unit}", u / scale, frac(u % scale, prec))
    } else {
        let mut s = format!("{}s", frac(u % 1_000_000_000, 9));
        u /= 1_000_000_000;
        s = format!("{}{s}", u % 60);
        u /= 60;
        if u > 0 {
            s = format!("{}m{s}", u % 60);
            u /= 60;
            if u > 0 {
                s = format!("{u}h{s}");
            }
        }
        s
    };
    if d < 0 { format!("-{text}") } else { text }
}

/// Nanoseconds of a Go duration string (`1h30m`, `1.5s`, `300ms`, `0`).
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a duration (like \"1h30m\" or \"1.5s\")");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos: i64 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (int, frac) = rest[..num_len]
            .split_once('.')
            .unwrap_or((&rest[..num_len], ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: i64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let whole = if int.is_empty() {
            0
        } else {
            int.parse::<i64>().map_err(|_| bad())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(bad)?;
        let mut unit = scale;
        for digit in frac.bytes() {
            unit /= 10;
            part += i64::from(digit - b'0') * unit;
        }
        nanos = nanos.checked_add(part).ok_or_else(bad)?;
    }
    Ok(if neg { -nanos } else { nanos })
}
