//! Deletions: graceful for pods on a node (marked, then removed by the kubelet), at once for
//! everything else, with owner references of orphaned dependents removed.

use std::sync::Arc;

use serde_json::{Value, json};

use super::change::ChangeType;
use super::entry::Entry;
use super::error::StoreError;
use super::write::Part;
use super::{Store, key};
use crate::clock::rfc3339;
use crate::resources::{self, RESOURCE_TYPES, ResourceType};

/// Propagation policy of a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Dependents are garbage-collected afterwards (the default).
    #[default]
    Background,
    /// Treated like background: dependents are collected right after.
    Foreground,
    /// Dependents lose their owner reference and stay.
    Orphan,
}

/// Options of a deletion.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Only delete if the object still has this uid.
    pub uid: Option<String>,
    /// Only delete if the object is still at this version.
    pub resource_version: Option<u64>,
    /// Grace period for pods; `Some(0)` removes at once.
    pub grace_period_seconds: Option<i64>,
    /// What happens to dependents.
    pub propagation: Propagation,
    /// Validate and answer without changing anything.
    pub dry_run: bool,
}

impl Store {
    /// Deletes an object. Pods bound to a node with a grace period are only marked
    /// (`deletionTimestamp`); the kubelet removes them once their containers stopped.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Arc<Entry>, StoreError> {
        if let Some(b) = super::view::base(rt) {
            let gone = self.delete(b, ns, name, opts)?;
            return Ok(super::view::show(rt, &gone));
        }
        if !rt.writable {
            return Err(StoreError::read_only(rt));
        }
        let mut inner = self.lock();
        let idx = resources::index_of(rt);
        let k = key(rt, ns, name);
        let Some(old) = inner.tables[idx].get(&k).cloned() else {
            return Err(StoreError::NotFound {
                kind: rt.qualified(),
                name: name.to_string(),
            });
        };
        if opts.uid.as_deref().is_some_and(|u| {
            old.value().pointer("/metadata/uid").and_then(Value::as_str) != Some(u)
        }) || opts
            .resource_version
            .is_some_and(|rv| rv != old.resource_version())
        {
            return Err(StoreError::Conflict {
                kind: rt.qualified(),
                name: name.to_string(),
            });
        }
        if rt.group.is_empty() && rt.kind == "Namespace" {
            return self.terminate_namespace(&mut inner, rt, old, opts.dry_run);
        }
        let graceful = rt.kind == "Pod"
            && opts.grace_period_seconds != Some(0)
            && old
                .value()
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
        let rv = inner.rv + 1;
        let mut value = old.value().clone();
        value["metadata"]["resourceVersion"] = json!(rv.to_string());
        if graceful {
            if value.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(old);
            }
            let grace = opts.grace_period_seconds.unwrap_or_else(|| {
                value
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30)
            });
            let at = self.clock.now_ms() + grace * 1000;
            value["metadata"]["deletionTimestamp"] = json!(rfc3339(at));
            value["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        }
        if opts.dry_run {
            // Nothing is stored, so the answer carries the version the object has.
            value["metadata"]["resourceVersion"] = json!(old.resource_version().to_string());
            return Ok(Arc::new(Entry::new(value, old.resource_version(), None)));
        }
        let entry = Arc::new(Entry::new(value, rv, None));
        inner.rv = rv;
        if graceful {
            inner.tables[idx].insert(k, entry.clone());
            self.record(&mut inner, rt, ChangeType::Modified, entry.clone());
        } else {
            inner.tables[idx].remove(&k);
            self.record(&mut inner, rt, ChangeType::Deleted, entry.clone());
            if opts.propagation == Propagation::Orphan {
                let uid = entry
                    .value()
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                drop(inner);
                self.orphan_dependents(&uid);
            }
        }
        Ok(entry)
    }

    /// Deleting a namespace: the immortal ones are refused (403), the others are marked
    /// (`deletionTimestamp`, phase `Terminating`, the `kubernetes` finalizer) for the namespace
    /// controller, which deletes their content and then removes them.
    fn terminate_namespace(
        &self,
        inner: &mut super::Inner,
        rt: &'static ResourceType,
        old: Arc<Entry>,
        dry_run: bool,
    ) -> Result<Arc<Entry>, StoreError> {
        let name = old.name().to_string();
        if super::IMMORTAL_NAMESPACES.contains(&name.as_str()) {
            return Err(StoreError::Forbidden {
                resource: "namespaces".into(),
                name,
                why: "this namespace may not be deleted".into(),
                causes: Vec::new(),
            });
        }
        if old.value().pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let rv = inner.rv + 1;
        let mut value = old.value().clone();
        value["metadata"]["resourceVersion"] = json!(rv.to_string());
        value["metadata"]["deletionTimestamp"] = json!(rfc3339(self.clock.now_ms()));
        value["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if value.pointer("/spec/finalizers").is_none() {
            value["spec"] = json!({"finalizers": ["kubernetes"]});
        }
        value["status"]["phase"] = json!("Terminating");
        let entry = Arc::new(Entry::new(value, rv, None));
        if dry_run {
            return Ok(entry);
        }
        inner.rv = rv;
        inner.tables[resources::index_of(rt)].insert(key(rt, "", &name), entry.clone());
        self.record(inner, rt, ChangeType::Modified, entry.clone());
        Ok(entry)
    }

    /// Removes an object at once, whatever its grace period (the kubelet's final step).
    pub fn remove(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Option<Arc<Entry>> {
        let mut inner = self.lock();
        let idx = resources::index_of(rt);
        let old = inner.tables[idx].remove(&key(rt, ns, name))?;
        inner.rv += 1;
        let rv = inner.rv;
        let mut value = old.value().clone();
        value["metadata"]["resourceVersion"] = json!(rv.to_string());
        let entry = Arc::new(Entry::new(value, rv, None));
        self.record(&mut inner, rt, ChangeType::Deleted, entry.clone());
        Some(entry)
    }

    fn orphan_dependents(&self, owner_uid: &str) {
        for rt in RESOURCE_TYPES
            .iter()
            .filter(|rt| rt.writable && super::view::base(rt).is_none())
        {
            let (items, _) = self.list(rt, None);
            for e in items {
                let Some(refs) = e
                    .value()
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                else {
                    continue;
                };
                if !refs
                    .iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                {
                    continue;
                }
                let mut v = e.value().clone();
                let kept: Vec<Value> = refs
                    .iter()
                    .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
                    .cloned()
                    .collect();
                v["metadata"]["ownerReferences"] = json!(kept);
                v["metadata"]["resourceVersion"] = json!("");
                let _ = self.update(rt, e.namespace(), e.name(), v, Part::Main, false);
            }
        }
    }
}
