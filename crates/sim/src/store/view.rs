//! Resource types served as views of another's objects: `events.k8s.io/v1` Events are the
//! `core/v1` Events, converted on every read, write and watch, as the API server stores both
//! in one place.

use std::sync::Arc;

use serde_json::Value;

use super::change::Change;
use super::entry::Entry;
use crate::resources::{self, ResourceType};

/// The stored type a view shows, if `rt` is a view.
pub(super) fn base(rt: &'static ResourceType) -> Option<&'static ResourceType> {
    (rt.group == "events.k8s.io" && rt.plural == "events")
        .then(|| resources::find("", "v1", "events").expect("core events registered"))
}

/// A stored object as the view `rt` shows it.
pub(super) fn show(rt: &ResourceType, entry: &Entry) -> Arc<Entry> {
    let _ = rt;
    let v = crate::events::to_events_v1(entry.value());
    Arc::new(Entry::new(v, entry.resource_version(), None))
}

/// An object written through the view `rt`, as it is stored.
pub(super) fn store_form(rt: &ResourceType, obj: Value) -> Value {
    let _ = rt;
    crate::events::to_core(&obj)
}

/// A change of the log as a watch of `rt` sees it: itself, converted for a view of its type,
/// or nothing for a change of another type.
pub fn seen_as(rt: &'static ResourceType, change: &Change) -> Option<Arc<Change>> {
    if std::ptr::eq(change.rt, rt) {
        return Some(Arc::new(change.clone()));
    }
    let b = base(rt)?;
    std::ptr::eq(change.rt, b).then(|| {
        Arc::new(Change {
            rt,
            kind: change.kind,
            entry: show(rt, &change.entry),
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::Clock;
    use crate::store::{ChangeType, Store};

    #[test]
    fn events_written_through_either_api_are_read_and_watched_through_both() {
        let store = Store::new(Clock::new(0), 1);
        let ns = resources::find("", "v1", "namespaces").unwrap();
        store
            .create(ns, "", json!({"metadata": {"name": "shop"}}), false)
            .unwrap();
        let core = resources::find("", "v1", "events").unwrap();
        let v1 = resources::find("events.k8s.io", "v1", "events").unwrap();
        let from = store.resource_version();
        store
            .create(core, "shop", json!({"metadata": {"name": "a"}, "involvedObject": {"kind": "Pod", "name": "web"}, "message": "hi", "reason": "Started", "type": "Normal"}), false)
            .unwrap();
        let created = store
            .create(v1, "shop", json!({"metadata": {"name": "b"}, "regarding": {"kind": "Pod", "name": "web"}, "note": "there", "reason": "Killing", "type": "Normal", "reportingController": "kubelet", "reportingInstance": "node-a", "action": "Kill"}), false)
            .unwrap();
        assert_eq!(created.value()["apiVersion"], "events.k8s.io/v1");
        assert_eq!(
            store.get(core, "shop", "b").unwrap().value()["message"],
            "there"
        );
        assert_eq!(store.get(v1, "shop", "a").unwrap().value()["note"], "hi");
        let (items, _) = store.list(v1, Some("shop"));
        assert_eq!(items.len(), 2);
        let (backlog, _) = store.watch(v1, Some(from)).unwrap();
        assert_eq!(backlog.len(), 2);
        assert!(
            backlog
                .iter()
                .all(|c| std::ptr::eq(c.rt, v1) && c.kind == ChangeType::Added)
        );
        assert_eq!(backlog[0].entry.value()["regarding"]["name"], "web");
        store.delete(v1, "shop", "a", &Default::default()).unwrap();
        assert!(store.get(core, "shop", "a").is_none());
    }
}
