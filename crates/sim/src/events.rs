//! The event recorder: `core/v1` Events with the reasons and messages the real components use,
//! aggregated like client-go's recorder (same object, reason, message and source within ten
//! minutes: one Event whose `count` and `lastTimestamp` move).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::resources;
use crate::store::{Part, Store, name_suffix};

/// How long an aggregated event keeps counting before a new one starts.
const AGGREGATION_WINDOW_MS: i64 = 10 * 60 * 1000;

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// `apiVersion` of the object.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// `spec.containers{name}` for container events.
    pub field_path: Option<String>,
}

impl ObjectRef {
    /// A reference to a stored object given as JSON.
    pub fn of(value: &Value) -> Self {
        let s = |p: &str| {
            value
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ObjectRef {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            uid: s("/metadata/uid"),
            field_path: None,
        }
    }

    /// The same object, narrowed to one container.
    pub fn container(mut self, name: &str) -> Self {
        self.field_path = Some(format!("spec.containers{{{name}}}"));
        self
    }
}

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Informational.
    Normal,
    /// Something went wrong.
    Warning,
}

impl EventType {
    fn as_str(&self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// The component that reports: `kubelet` with its host, `deployment-controller`, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// Component name.
    pub component: &'static str,
    /// Node name for kubelet events.
    pub host: Option<String>,
}

impl Source {
    /// A control-plane component.
    pub fn controller(component: &'static str) -> Self {
        Source {
            component,
            host: None,
        }
    }

    /// The kubelet of a node.
    pub fn kubelet(node: &str) -> Self {
        Source {
            component: "kubelet",
            host: Some(node.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AggregationKey {
    object: ObjectRef,
    reason: String,
    message: String,
    source: Source,
    kind: EventType,
}

#[derive(Debug, Clone)]
struct Recorded {
    name: String,
    namespace: String,
    count: i64,
    first_ms: i64,
    last_ms: i64,
}

/// Records events into the store.
#[derive(Debug, Default)]
pub struct Recorder {
    seen: HashMap<AggregationKey, Recorded>,
    /// Every event written, with its last occurrence, for expiry.
    written: HashMap<(String, String), i64>,
}

impl Recorder {
    /// A recorder with nothing seen yet.
    pub fn new() -> Self {
        Recorder::default()
    }

    /// Records one occurrence.
    pub fn record(
        &mut self,
        store: &Store,
        object: &ObjectRef,
        kind: EventType,
        reason: &str,
        message: &str,
        source: Source,
    ) {
        let now = store.clock().now_ms();
        let key = AggregationKey {
            object: object.clone(),
            reason: reason.to_string(),
            message: message.to_string(),
            source: source.clone(),
            kind,
        };
        let rt = resources::find("", "v1", "events").expect("events registered");
        if let Some(prev) = self.seen.get_mut(&key)
            && now - prev.first_ms < AGGREGATION_WINDOW_MS
            && let Some(entry) = store.get(rt, &prev.namespace, &prev.name)
        {
            prev.count += 1;
            prev.last_ms = now;
            self.written
                .insert((prev.namespace.clone(), prev.name.clone()), now);
            let mut v = entry.value().clone();
            v["count"] = json!(prev.count);
            v["lastTimestamp"] = json!(rfc3339(now));
            v["metadata"]["resourceVersion"] = json!("");
            let _ = store.update(rt, &prev.namespace, &prev.name, v, Part::Main, false);
            return;
        }
        // Events of cluster-scoped objects live in `default`, as the real recorder puts them.
        let namespace = if object.namespace.is_empty() {
            "default".to_string()
        } else {
            object.namespace.clone()
        };
        let name = format!("{}.{:x}{}", object.name, now, name_suffix(store));
        let mut involved = json!({
            "apiVersion": object.api_version,
            "kind": object.kind,
            "name": object.name,
            "uid": object.uid,
        });
        if !object.namespace.is_empty() {
            involved["namespace"] = json!(object.namespace);
        }
        if let Some(fp) = &object.field_path {
            involved["fieldPath"] = json!(fp);
        }
        let mut src = json!({"component": source.component});
        if let Some(h) = &source.host {
            src["host"] = json!(h);
        }
        let event = json!({
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": src,
            "firstTimestamp": rfc3339(now),
            "lastTimestamp": rfc3339(now),
            "count": 1,
            "type": kind.as_str(),
            "eventTime": null,
            "reportingComponent": source.component,
            "reportingInstance": source.host.clone().unwrap_or_default(),
        });
        if store.create(rt, &namespace, event, false).is_ok() {
            self.written.insert((namespace.clone(), name.clone()), now);
            self.seen.insert(
                key,
                Recorded {
                    name,
                    namespace,
                    count: 1,
                    first_ms: now,
                    last_ms: now,
                },
            );
        }
    }

    /// Deletes the events this recorder wrote whose last occurrence is older than the API
    /// server's default `--event-ttl` of one hour, and forgets aggregation state that can no
    /// longer aggregate.
    pub fn expire(&mut self, store: &Store, now: i64) {
        const EVENT_TTL_MS: i64 = 60 * 60 * 1000;
        let rt = resources::find("", "v1", "events").expect("events registered");
        self.written.retain(|(ns, name), last| {
            if now - *last > EVENT_TTL_MS {
                let _ = store.delete(rt, ns, name, &crate::store::DeleteOptions::default());
                false
            } else {
                true
            }
        });
        self.seen
            .retain(|_, r| now - r.first_ms < AGGREGATION_WINDOW_MS);
    }
}

/// The fields of a `core/v1` Event and their names in `events.k8s.io/v1`, as the API server
/// converts between the two.
const FIELD_NAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("message", "note"),
    ("reason", "reason"),
    ("type", "type"),
    ("action", "action"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// A `core/v1` Event as `events.k8s.io/v1` serves it.
pub fn to_events_v1(core: &Value) -> Value {
    convert(core, "events.k8s.io/v1", false)
}

/// An `events.k8s.io/v1` Event as `core/v1` stores it.
pub fn to_core(v1: &Value) -> Value {
    convert(v1, "v1", true)
}

fn convert(from: &Value, api_version: &str, to_core: bool) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), json!("Event"));
    out.insert("apiVersion".into(), json!(api_version));
    if let Some(m) = from.get("metadata") {
        out.insert("metadata".into(), m.clone());
    }
    for &(core, v1) in FIELD_NAMES {
        let (src, dst) = if to_core { (v1, core) } else { (core, v1) };
        match from.get(src) {
            Some(v) if !v.is_null() => {
                out.insert(dst.into(), v.clone());
            }
            // `eventTime` is always there, null for events the old API recorded.
            _ if dst == "eventTime" => {
                out.insert(dst.into(), Value::Null);
            }
            _ => {}
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_and_events_v1_convert_both_ways() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "shop"},
            "reason": "Started", "message": "Started container web", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z", "count": 2,
            "eventTime": null, "reportingComponent": "kubelet", "reportingInstance": "node-a",
        });
        let v1 = to_events_v1(&core);
        assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v1["regarding"]["name"], "web");
        assert_eq!(v1["note"], "Started container web");
        assert_eq!(v1["reportingController"], "kubelet");
        assert_eq!(v1["reportingInstance"], "node-a");
        assert_eq!(v1["deprecatedSource"]["host"], "node-a");
        assert_eq!(v1["deprecatedCount"], 2);
        assert_eq!(v1["deprecatedLastTimestamp"], "2026-01-01T00:01:00Z");
        assert!(v1["eventTime"].is_null() && v1.get("involvedObject").is_none());
        assert_eq!(to_core(&v1), core);
    }
}
