//! The Event table: first and last seen, the object it is about, source and message, for
//! both `v1` and `events.k8s.io/v1` events.

use serde_json::{Value, json};

use super::format::{human_duration, parse_ms, str_at};
use super::{Column, I, S};

/// The columns of `kubectl get events`.
pub(super) const COLUMNS: &[Column] = &[
    ("Last Seen", S, 0),
    ("Type", S, 0),
    ("Reason", S, 0),
    ("Object", S, 0),
    ("Subobject", S, 1),
    ("Source", S, 1),
    ("Message", S, 0),
    ("First Seen", S, 1),
    ("Count", I, 1),
    ("Name", S, 1),
];

pub(super) fn cells(o: &Value, now: i64) -> Vec<Value> {
    let first = ["/firstTimestamp", "/deprecatedFirstTimestamp", "/eventTime"]
        .iter()
        .find_map(|p| o.pointer(p).and_then(Value::as_str).and_then(parse_ms));
    let last = [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/deprecatedLastTimestamp",
    ]
    .iter()
    .find_map(|p| o.pointer(p).and_then(Value::as_str).and_then(parse_ms))
    .or(first);
    let since =
        |t: Option<i64>| t.map_or_else(|| "<unknown>".to_string(), |t| human_duration(now - t));
    let regarding = o
        .get("involvedObject")
        .or_else(|| o.get("regarding"))
        .unwrap_or(&Value::Null);
    let kind = str_at(regarding, "/kind").to_lowercase();
    let target = match str_at(regarding, "/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let count = o
        .pointer("/series/count")
        .or_else(|| o.get("count"))
        .or_else(|| o.get("deprecatedCount"))
        .and_then(Value::as_i64)
        .filter(|c| *c > 0)
        .unwrap_or(1);
    let component = [
        "/source/component",
        "/deprecatedSource/component",
        "/reportingController",
        "/reportingComponent",
    ]
    .iter()
    .map(|p| str_at(o, p))
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let host = [
        "/source/host",
        "/deprecatedSource/host",
        "/reportingInstance",
    ]
    .iter()
    .map(|p| str_at(o, p))
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    let message = o
        .get("message")
        .or_else(|| o.get("note"))
        .and_then(Value::as_str)
        .unwrap_or("");
    vec![
        json!(since(last)),
        json!(str_at(o, "/type")),
        json!(str_at(o, "/reason")),
        json!(target),
        json!(str_at(regarding, "/fieldPath")),
        json!(source),
        json!(message.trim()),
        json!(since(first)),
        json!(count),
        json!(str_at(o, "/metadata/name")),
    ]
}
