//! Packaging: the JSON object found in the model's text, and its fields read leniently
//! (a confidence written as `"0.8"` is a number) but never guessed.

use serde_json::Value;

/// The JSON object in a model's text: the text itself, or inside a markdown fence, or the
/// first balanced `{...}` within prose.
pub fn extract_json(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        return Ok(v);
    }
    let start = trimmed.find('{').ok_or_else(|| {
        "the answer contains no JSON object; reply with one JSON object only".to_string()
    })?;
    let bytes = trimmed.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return serde_json::from_str(&trimmed[start..=i])
                        .map_err(|e| format!("the answer is not valid JSON: {e}"));
                }
            }
            _ => {}
        }
    }
    Err("the answer's JSON object is incomplete (cut off?); reply with the whole object".into())
}

pub(super) fn field<'v>(
    obj: &'v serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'v Value, String> {
    obj.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("{path}{key}: missing"))
}

pub(super) fn text_field(
    obj: &serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<String, String> {
    match field(obj, path, key)? {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        other => Err(format!(
            "{path}{key}: expected a non-empty string, got {other}"
        )),
    }
}

pub(super) fn opt_text(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A confidence: a number from 0 to 1, or such a number written as a string.
pub(super) fn confidence(
    obj: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<(f64, bool), String> {
    let v = field(obj, path, "confidence")?;
    let (x, coerced) = match v {
        Value::Number(n) => (n.as_f64().unwrap_or(f64::NAN), false),
        Value::String(s) => (
            s.trim().parse::<f64>().map_err(|_| {
                format!("{path}confidence: expected a number from 0 to 1, got the string {s:?}")
            })?,
            true,
        ),
        other => {
            return Err(format!(
                "{path}confidence: expected a number from 0 to 1, got {other}"
            ));
        }
    };
    if !(0.0..=1.0).contains(&x) {
        return Err(format!("{path}confidence: {x} is not between 0 and 1"));
    }
    Ok((x, coerced))
}

pub(super) fn integer<T: TryFrom<i64>>(
    obj: &serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<T>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{path}{key}: expected an integer, got {v}")),
    }
}
