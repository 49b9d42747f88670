//! The garbage collector: objects whose controller owner is gone are deleted (background
//! propagation).

use std::collections::HashSet;

use crate::resources::RESOURCE_TYPES;
use crate::store::{DeleteOptions, Store};

/// How long events live, as the API server's default `--event-ttl`.
const EVENT_TTL_MS: i64 = 60 * 60 * 1000;

/// Deletes orphaned dependents of the types that have owners here, and expired events.
pub fn sync(store: &Store, now: i64) {
    let events = crate::resources::find("", "v1", "events").expect("registered");
    for e in store.list(events, None).0 {
        let last = e
            .value()
            .get("lastTimestamp")
            .and_then(|t| t.as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis());
        if last.is_some_and(|t| now - t > EVENT_TTL_MS) {
            let _ = store.delete(events, e.namespace(), e.name(), &DeleteOptions::default());
        }
    }
    let owners = ["ReplicaSet", "Pod", "ControllerRevision"];
    let mut uids: HashSet<String> = HashSet::new();
    for rt in RESOURCE_TYPES
        .iter()
        .filter(|rt| rt.writable && rt.group == "apps" || rt.kind == "Pod")
    {
        for e in store.list(rt, None).0 {
            if let Some(u) = e.value().pointer("/metadata/uid").and_then(|v| v.as_str()) {
                uids.insert(u.to_string());
            }
        }
    }
    for rt in RESOURCE_TYPES
        .iter()
        .filter(|rt| owners.contains(&rt.kind) && rt.group != "events.k8s.io")
    {
        for e in store.list(rt, None).0 {
            let Some(refs) = e
                .value()
                .pointer("/metadata/ownerReferences")
                .and_then(|v| v.as_array())
            else {
                continue;
            };
            let owned_by_gone = refs
                .iter()
                .filter(|r| r.get("controller").and_then(|c| c.as_bool()) == Some(true))
                .any(|r| {
                    r.get("uid")
                        .and_then(|u| u.as_str())
                        .is_some_and(|u| !uids.contains(u))
                });
            if owned_by_gone {
                let _ = store.delete(rt, e.namespace(), e.name(), &DeleteOptions::default());
            }
        }
    }
}
