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
