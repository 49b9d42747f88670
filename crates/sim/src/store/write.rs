//! Writes: creating an object (through admission) and replacing it or its status, with
//! resource versions, generations and the change log kept as the real API server keeps them.

use std::sync::Arc;

use serde_json::{Value, json};

use super::admission;
use super::change::ChangeType;
use super::entry::Entry;
use super::error::StoreError;
use super::{Store, key};
use crate::clock::rfc3339;
use crate::resources::{self, ResourceType};

/// Which part of an object an update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything but the status (for types with a status subresource).
    Main,
    /// Only the status.
    Status,
}

/// What the API layer checks and records on a client's write, under the store's lock and
/// after defaulting: given the stored object (`None` on create) and the one about to be
/// stored, it may refuse the write (immutable fields) or change the new object (managed
/// fields). The controllers' own writes pass [`NO_ADMIT`].
pub type Admit<'a> = &'a (dyn Fn(Option<&Value>, &mut Value) -> Result<(), StoreError> + 'a);

/// Admits every write as it is.
pub const NO_ADMIT: Admit<'static> = &|_, _| Ok(());

impl Store {
    /// Creates an object. Fills uid, timestamps, resource version and generation, and a name
    /// from `generateName`.
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        obj: Value,
        dry_run: bool,
    ) -> Result<Arc<Entry>, StoreError> {
        self.create_admitted(rt, ns, obj, dry_run, NO_ADMIT)
    }

    /// [`Store::create`] with the API layer's `admit` run on the defaulted object.
    pub fn create_admitted(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
        admit: Admit<'_>,
    ) -> Result<Arc<Entry>, StoreError> {
        if let Some(b) = super::view::base(rt) {
            let obj = super::view::store_form(rt, obj);
            let stored = self.create_admitted(b, ns, obj, dry_run, admit)?;
            return Ok(super::view::show(rt, &stored));
        }
        if !rt.writable {
            return Err(StoreError::read_only(rt));
        }
        if !obj.is_object() {
            return Err(StoreError::BadRequest(format!(
                "the body of a {} must be a JSON object",
                rt.kind
            )));
        }
        let mut inner = self.lock();
        let now = rfc3339(self.clock.now_ms());
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        let meta = obj
            .as_object_mut()
            .expect("checked above")
            .entry("metadata")
            .or_insert_with(|| json!({}));
        let name = admission::object_name(rt, meta, &mut inner.rng)?;
        if rt.namespaced {
            if let Some(body_ns) = meta.get("namespace").and_then(Value::as_str)
                && !body_ns.is_empty()
                && body_ns != ns
            {
                return Err(StoreError::BadRequest(format!(
                    "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({ns})"
                )));
            }
            meta["namespace"] = json!(ns);
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        meta["name"] = json!(name);
        let k = key(rt, ns, &name);
        let idx = resources::index_of(rt);
        if inner.tables[idx].contains_key(&k) {
            return Err(StoreError::AlreadyExists {
                kind: rt.qualified(),
                name,
            });
        }
        if rt.namespaced && rt.kind != "Namespace" && !dry_run {
            let ns_rt = resources::find("", "v1", "namespaces").expect("namespaces registered");
            if !inner.tables[resources::index_of(ns_rt)]
                .contains_key(&(String::new(), ns.to_string()))
            {
                return Err(StoreError::NotFound {
                    kind: "namespaces".into(),
                    name: ns.to_string(),
                });
            }
        }
        let uid = admission::uuid_from(&mut inner.rng);
        let meta = obj["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now));
        meta.remove("deletionTimestamp");
        if obj.get("spec").is_some() {
            obj["metadata"]["generation"] = json!(1);
        }
        crate::defaults::apply(rt, &mut obj);
        self.admit_create(&inner, rt, ns, &mut obj)?;
        admit(None, &mut obj)?;
        if dry_run {
            // Nothing is stored, so nothing has a version yet: kube-apiserver answers a dry
            // run create without one.
            let typed = admission::validate_typed(rt, &obj)?;
            return Ok(Arc::new(Entry::new(obj, 0, typed)));
        }
        let rv = inner.rv + 1;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let typed = admission::validate_typed(rt, &obj)?;
        let entry = Arc::new(Entry::new(obj, rv, typed));
        inner.rv = rv;
        inner.tables[idx].insert(k, entry.clone());
        self.record(&mut inner, rt, ChangeType::Added, entry.clone());
        Ok(entry)
    }

    /// Replaces an object (or its status). A `metadata.resourceVersion` in `obj` must match the
    /// stored one; an empty one means an unconditional update.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        part: Part,
        dry_run: bool,
    ) -> Result<Arc<Entry>, StoreError> {
        self.update_admitted(rt, ns, name, obj, part, dry_run, NO_ADMIT)
    }

    /// [`Store::update`] with the API layer's `admit` run on the defaulted object.
    #[allow(clippy::too_many_arguments)]
    pub fn update_admitted(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        mut obj: Value,
        part: Part,
        dry_run: bool,
        admit: Admit<'_>,
    ) -> Result<Arc<Entry>, StoreError> {
        if let Some(b) = super::view::base(rt) {
            let obj = super::view::store_form(rt, obj);
            let stored = self.update_admitted(b, ns, name, obj, part, dry_run, admit)?;
            return Ok(super::view::show(rt, &stored));
        }
        if !rt.writable {
            return Err(StoreError::read_only(rt));
        }
        if !obj.is_object() {
            return Err(StoreError::BadRequest(format!(
                "the body of a {} must be a JSON object",
                rt.kind
            )));
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
        if let Some(body_name) = obj.pointer("/metadata/name").and_then(Value::as_str)
            && !body_name.is_empty()
            && body_name != name
        {
            return Err(StoreError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(rv) = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && !rv.is_empty()
        {
            let want: u64 = rv.parse().map_err(|_| {
                StoreError::BadRequest(format!(
                    "invalid resourceVersion {rv:?}: must be a decimal number"
                ))
            })?;
            if want != old.resource_version() {
                return Err(StoreError::Conflict {
                    kind: rt.qualified(),
                    name: name.to_string(),
                });
            }
        }
        let old_value = old.value();
        let mut new = match part {
            Part::Status => {
                let mut v = old_value.clone();
                v["status"] = obj.get("status").cloned().unwrap_or(Value::Null);
                v
            }
            Part::Main => {
                if rt.has_status() {
                    match old_value.get("status") {
                        Some(s) => obj["status"] = s.clone(),
                        None => {
                            if let Some(m) = obj.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
                obj["apiVersion"] = json!(rt.api_version());
                obj["kind"] = json!(rt.kind);
                if !obj.get("metadata").is_some_and(Value::is_object) {
                    obj["metadata"] = json!({});
                }
                for f in [
                    "uid",
                    "creationTimestamp",
                    "namespace",
                    "name",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                ] {
                    match old_value["metadata"].get(f) {
                        Some(v) => obj["metadata"][f] = v.clone(),
                        None => {
                            if let Some(m) = obj["metadata"].as_object_mut() {
                                m.remove(f);
                            }
                        }
                    }
                }
                crate::defaults::apply(rt, &mut obj);
                let generation = old_value
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64);
                if let Some(g) = generation {
                    let changed = old_value.get("spec") != obj.get("spec");
                    obj["metadata"]["generation"] = json!(if changed { g + 1 } else { g });
                }
                obj
            }
        };
        if let Some(m) = new.as_object_mut()
            && m.get("status").is_some_and(Value::is_null)
        {
            m.remove("status");
        }
        admit(Some(old_value), &mut new)?;
        admission::validate_update(rt, old_value, &new)?;
        // Writes that change nothing keep the version, as the real API server does.
        new["metadata"]["resourceVersion"] = old_value["metadata"]["resourceVersion"].clone();
        if &new == old_value {
            admission::validate_typed(rt, &new)?;
            return Ok(old);
        }
        if dry_run {
            // Nothing is stored: the answer keeps the version the object has, so a diff
            // against it shows only what the write would change.
            let typed = admission::validate_typed(rt, &new)?;
            return Ok(Arc::new(Entry::new(new, old.resource_version(), typed)));
        }
        let rv = inner.rv + 1;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let typed = admission::validate_typed(rt, &new)?;
        let entry = Arc::new(Entry::new(new, rv, typed));
        inner.rv = rv;
        inner.tables[idx].insert(k, entry.clone());
        self.record(&mut inner, rt, ChangeType::Modified, entry.clone());
        Ok(entry)
    }
}
