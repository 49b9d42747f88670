//! The object store behind the simulated API server: every object as JSON, a resource version
//! counter shared by all types, a bounded change log for watches, and typed views for the
//! controllers.
//!
//! Objects are kept as `serde_json::Value` so the API serves exactly what was written
//! (including fields the typed structs do not know); each stored version also caches its
//! serialized bytes and a typed copy, so a list of thousands of pods neither re-serializes nor
//! re-parses objects that did not change.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::clock::{Clock, rfc3339};
use crate::resources::{self, RESOURCE_TYPES, ResourceType};

/// How many changes the log keeps for watches that resume from a resource version.
const CHANGE_LOG_CAPACITY: usize = 10_000;

/// One stored version of an object. The serialized form is what is kept; the JSON tree and
/// the typed view are built on first use, so thousands of pods and tens of thousands of events
/// cost little more than their bytes.
pub struct Entry {
    json: Bytes,
    rv: u64,
    name: Box<str>,
    namespace: Box<str>,
    value: OnceLock<Value>,
    typed: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("rv", &self.rv)
            .field("json", &String::from_utf8_lossy(&self.json))
            .finish()
    }
}

impl Entry {
    fn new(value: Value, rv: u64, typed: Option<Arc<dyn Any + Send + Sync>>) -> Self {
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into();
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into();
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let cache = OnceLock::new();
        if let Some(t) = typed {
            let _ = cache.set(t);
        }
        Entry {
            json,
            rv,
            name,
            namespace,
            value: OnceLock::new(),
            typed: cache,
        }
    }

    /// The object as JSON.
    pub fn value(&self) -> &Value {
        self.value
            .get_or_init(|| serde_json::from_slice(&self.json).unwrap_or(Value::Null))
    }

    /// Its resource version.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The object serialized.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The object as a k8s-openapi type, parsed once per version.
    ///
    /// Panics if the stored JSON does not parse as `K`; the store validates objects on write
    /// with the same types, so this is a programming error.
    pub fn typed<K: DeserializeOwned + Send + Sync + 'static>(&self) -> Arc<K> {
        let any = self.typed.get_or_init(|| {
            let k: K = serde_json::from_slice(&self.json).unwrap_or_else(|e| {
                panic!(
                    "stored object does not parse as {}: {e}",
                    std::any::type_name::<K>()
                )
            });
            Arc::new(k)
        });
        any.clone().downcast::<K>().unwrap_or_else(|_| {
            panic!(
                "stored object was first read as another type than {}",
                std::any::type_name::<K>()
            )
        })
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.namespace` (empty for cluster-scoped objects).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed.
    Deleted,
}

impl ChangeType {
    /// The watch event type string.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// The changes a watch replays, and the receiver for the ones to come.
pub type WatchStart = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>);

/// One entry of the change log, as watches deliver it.
#[derive(Debug, Clone)]
pub struct Change {
    /// Resource type.
    pub rt: &'static ResourceType,
    /// What happened.
    pub kind: ChangeType,
    /// The object after the change (for deletions: its last state, with the deletion's version).
    pub entry: Arc<Entry>,
}

/// Why a store operation failed; the API layer turns these into `Status` objects.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum StoreError {
    /// 404.
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        /// Resource plural (as the API reports it).
        kind: String,
        /// Object name.
        name: String,
    },
    /// 409 on create.
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists {
        /// Resource plural.
        kind: String,
        /// Object name.
        name: String,
    },
    /// 409 on a stale resourceVersion or failed precondition.
    #[error(
        "Operation cannot be fulfilled on {kind} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// Resource plural.
        kind: String,
        /// Object name.
        name: String,
    },
    /// 422.
    #[error("{kind} \"{name}\" is invalid: {message}")]
    Invalid {
        /// Kind.
        kind: String,
        /// Object name.
        name: String,
        /// What is wrong, `field: reason`.
        message: String,
    },
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 410 on a watch from a compacted version.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone {
        /// Version asked for.
        requested: u64,
        /// Oldest version still known.
        oldest: u64,
    },
    /// 429 when an eviction would violate a disruption budget.
    #[error("{0}")]
    TooManyRequests(String),
    /// 405 on writes to read-only resources.
    #[error("{0}")]
    MethodNotAllowed(String),
}

impl StoreError {
    /// HTTP status code of the error.
    pub fn code(&self) -> u16 {
        match self {
            StoreError::NotFound { .. } => 404,
            StoreError::AlreadyExists { .. } | StoreError::Conflict { .. } => 409,
            StoreError::Invalid { .. } => 422,
            StoreError::BadRequest(_) => 400,
            StoreError::Gone { .. } => 410,
            StoreError::TooManyRequests(_) => 429,
            StoreError::MethodNotAllowed(_) => 405,
        }
    }

    /// Kubernetes `Status.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "NotFound",
            StoreError::AlreadyExists { .. } => "AlreadyExists",
            StoreError::Conflict { .. } => "Conflict",
            StoreError::Invalid { .. } => "Invalid",
            StoreError::BadRequest(_) => "BadRequest",
            StoreError::Gone { .. } => "Expired",
            StoreError::TooManyRequests(_) => "TooManyRequests",
            StoreError::MethodNotAllowed(_) => "MethodNotAllowed",
        }
    }
}

/// Which part of an object an update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything but the status (for types with a status subresource).
    Main,
    /// Only the status.
    Status,
}

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

type Key = (String, String);

struct Inner {
    rv: u64,
    tables: Vec<BTreeMap<Key, Arc<Entry>>>,
    log: VecDeque<Arc<Change>>,
    /// Versions at or below this one have left the log.
    compacted: u64,
    /// Version of the last change per resource type.
    kind_rv: Vec<u64>,
    rng: ChaCha8Rng,
}

/// The object store. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Change>>,
    clock: Clock,
}

impl Store {
    /// An empty store whose timestamps come from `clock` and uids from `seed`.
    pub fn new(clock: Clock, seed: u64) -> Self {
        let (tx, _) = broadcast::channel(CHANGE_LOG_CAPACITY);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                tables: RESOURCE_TYPES.iter().map(|_| BTreeMap::new()).collect(),
                log: VecDeque::new(),
                compacted: 1,
                kind_rv: vec![0; RESOURCE_TYPES.len()],
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6b75_6265),
            }),
            tx,
            clock,
        }
    }

    /// The clock the store stamps objects with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Objects stored per kind and changes in the watch log, for benchmarks and diagnostics.
    pub fn stats(&self) -> (Vec<(&'static str, usize)>, usize) {
        let inner = self.lock();
        let per_kind = RESOURCE_TYPES
            .iter()
            .zip(inner.tables.iter())
            .filter(|(_, t)| !t.is_empty())
            .map(|(rt, t)| (rt.kind, t.len()))
            .collect();
        (per_kind, inner.log.len())
    }

    /// The resource version of the last change to objects of type `K` (0 if none), so a
    /// controller can skip a pass when nothing it reads has changed.
    pub fn kind_version<K: k8s_openapi::Resource>(&self) -> u64 {
        self.lock().kind_rv[resources::index_of(resources::of::<K>())]
    }

    /// Current resource version of the whole store.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// One object.
    pub fn get(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Option<Arc<Entry>> {
        let inner = self.lock();
        inner.tables[resources::index_of(rt)]
            .get(&key(rt, ns, name))
            .cloned()
    }

    /// Objects of a type, in one namespace or all, sorted by namespace and name, with the
    /// store's resource version at the time of the list.
    pub fn list(&self, rt: &'static ResourceType, ns: Option<&str>) -> (Vec<Arc<Entry>>, u64) {
        let inner = self.lock();
        let table = &inner.tables[resources::index_of(rt)];
        let items = match ns.filter(|_| rt.namespaced) {
            Some(ns) => table
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, e)| e.clone())
                .collect(),
            None => table.values().cloned().collect(),
        };
        (items, inner.rv)
    }

    /// Creates an object. Fills uid, timestamps, resource version and generation, and a name
    /// from `generateName`.
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Arc<Entry>, StoreError> {
        if !rt.writable {
            return Err(StoreError::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource {}",
                rt.plural
            )));
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
        if !meta.is_object() {
            return Err(invalid(rt, "", "metadata: must be an object"));
        }
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            let prefix = meta
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if prefix.is_empty() {
                return Err(invalid(
                    rt,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            name = format!("{prefix}{}", random_suffix(&mut inner.rng));
        }
        validate_name(rt, &name)?;
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
                kind: rt.plural.to_string(),
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
        let uid = uuid_from(&mut inner.rng);
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
        let rv = inner.rv + 1;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let typed = validate_typed(rt, &obj)?;
        let entry = Arc::new(Entry::new(obj, rv, typed));
        if dry_run {
            return Ok(entry);
        }
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
        mut obj: Value,
        part: Part,
        dry_run: bool,
    ) -> Result<Arc<Entry>, StoreError> {
        if !rt.writable {
            return Err(StoreError::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource {}",
                rt.plural
            )));
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
                kind: rt.plural.to_string(),
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
            if want != old.rv {
                return Err(StoreError::Conflict {
                    kind: rt.plural.to_string(),
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
        // Writes that change nothing keep the version, as the real API server does.
        new["metadata"]["resourceVersion"] = old_value["metadata"]["resourceVersion"].clone();
        if &new == old_value {
            validate_typed(rt, &new)?;
            return Ok(old);
        }
        let rv = inner.rv + 1;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let typed = validate_typed(rt, &new)?;
        let entry = Arc::new(Entry::new(new, rv, typed));
        if dry_run {
            return Ok(entry);
        }
        inner.rv = rv;
        inner.tables[idx].insert(k, entry.clone());
        self.record(&mut inner, rt, ChangeType::Modified, entry.clone());
        Ok(entry)
    }

    /// Deletes an object. Pods bound to a node with a grace period are only marked
    /// (`deletionTimestamp`); the kubelet removes them once their containers stopped.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Arc<Entry>, StoreError> {
        if !rt.writable {
            return Err(StoreError::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource {}",
                rt.plural
            )));
        }
        let mut inner = self.lock();
        let idx = resources::index_of(rt);
        let k = key(rt, ns, name);
        let Some(old) = inner.tables[idx].get(&k).cloned() else {
            return Err(StoreError::NotFound {
                kind: rt.plural.to_string(),
                name: name.to_string(),
            });
        };
        if opts.uid.as_deref().is_some_and(|u| {
            old.value().pointer("/metadata/uid").and_then(Value::as_str) != Some(u)
        }) || opts.resource_version.is_some_and(|rv| rv != old.rv)
        {
            return Err(StoreError::Conflict {
                kind: rt.plural.to_string(),
                name: name.to_string(),
            });
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
        let entry = Arc::new(Entry::new(value, rv, None));
        if opts.dry_run {
            return Ok(entry);
        }
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
        for rt in RESOURCE_TYPES.iter().filter(|rt| rt.writable) {
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

    fn record(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        kind: ChangeType,
        entry: Arc<Entry>,
    ) {
        inner.kind_rv[resources::index_of(rt)] = entry.rv;
        let change = Arc::new(Change { rt, kind, entry });
        if inner.log.len() == CHANGE_LOG_CAPACITY
            && let Some(old) = inner.log.pop_front()
        {
            inner.compacted = old.entry.rv;
        }
        inner.log.push_back(change.clone());
        let _ = self.tx.send(change);
    }

    /// Starts a watch of one type from `since` (exclusive): the changes already logged after
    /// it, and a receiver for the ones to come, with no gap between the two.
    /// `None` means from now.
    pub fn watch(
        &self,
        rt: &'static ResourceType,
        since: Option<u64>,
    ) -> Result<WatchStart, StoreError> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let backlog = match since {
            None => Vec::new(),
            Some(rv) if rv < inner.compacted => {
                return Err(StoreError::Gone {
                    requested: rv,
                    oldest: inner.compacted,
                });
            }
            Some(rv) => inner
                .log
                .iter()
                .filter(|c| c.entry.rv > rv && std::ptr::eq(c.rt, rt))
                .cloned()
                .collect(),
        };
        Ok((backlog, rx))
    }

    // ---- typed access for the controllers ----

    /// One object as a k8s-openapi type.
    pub fn get_typed<K>(&self, ns: &str, name: &str) -> Option<Arc<K>>
    where
        K: k8s_openapi::Resource + DeserializeOwned + Send + Sync + 'static,
    {
        self.get(resources::of::<K>(), ns, name)
            .map(|e| e.typed::<K>())
    }

    /// Objects of a type as k8s-openapi values.
    pub fn list_typed<K>(&self, ns: Option<&str>) -> Vec<Arc<K>>
    where
        K: k8s_openapi::Resource + DeserializeOwned + Send + Sync + 'static,
    {
        self.list(resources::of::<K>(), ns)
            .0
            .iter()
            .map(|e| e.typed::<K>())
            .collect()
    }

    /// Creates a typed object in its namespace (from its metadata).
    pub fn create_typed<K>(&self, obj: &K) -> Result<Arc<Entry>, StoreError>
    where
        K: k8s_openapi::Resource + Serialize,
    {
        let v = serde_json::to_value(obj).map_err(|e| StoreError::BadRequest(e.to_string()))?;
        let ns = v
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.create(resources::of::<K>(), &ns, v, false)
    }

    /// Writes a typed object (spec and metadata, or status), unconditionally unless it carries
    /// a resource version.
    pub fn write_typed<K>(&self, obj: &K, part: Part) -> Result<Arc<Entry>, StoreError>
    where
        K: k8s_openapi::Resource + Serialize,
    {
        let v = serde_json::to_value(obj).map_err(|e| StoreError::BadRequest(e.to_string()))?;
        let ns = v
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let name = v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let rt = resources::of::<K>();
        let part = if rt.has_status() { part } else { Part::Main };
        self.update(rt, &ns, &name, v, part, false)
    }
}

fn key(rt: &ResourceType, ns: &str, name: &str) -> Key {
    if rt.namespaced {
        (ns.to_string(), name.to_string())
    } else {
        (String::new(), name.to_string())
    }
}

fn invalid(rt: &ResourceType, name: &str, message: &str) -> StoreError {
    StoreError::Invalid {
        kind: rt.kind.to_string(),
        name: name.to_string(),
        message: message.to_string(),
    }
}

fn validate_name(rt: &ResourceType, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(invalid(
            rt,
            name,
            &format!(
                "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ))
    }
}

/// Checks that an object parses as its k8s-openapi type, so malformed fields are a 422 at
/// write time rather than a surprise in a controller.
/// The typed view kept with a stored version.
type Typed = Option<Arc<dyn Any + Send + Sync>>;

/// Checks that an object parses as its k8s-openapi type, so malformed fields are a 422 at
/// write time rather than a surprise in a controller; the parsed value becomes the entry's
/// typed view (events excepted: nothing reads them typed, and there are many).
fn validate_typed(rt: &ResourceType, obj: &Value) -> Result<Typed, StoreError> {
    use k8s_openapi::api::{
        apps::v1 as apps, coordination::v1 as coord, core::v1 as core, policy::v1 as policy,
    };
    fn check<K: DeserializeOwned + Send + Sync + 'static>(
        rt: &ResourceType,
        obj: &Value,
    ) -> Result<Typed, StoreError> {
        K::deserialize(obj)
            .map(|k| Some(Arc::new(k) as Arc<dyn Any + Send + Sync>))
            .map_err(|e| {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                invalid(rt, name, &e.to_string())
            })
    }
    let typed = match (rt.group, rt.kind) {
        ("", "Pod") => check::<core::Pod>(rt, obj)?,
        ("", "Node") => check::<core::Node>(rt, obj)?,
        ("", "Namespace") => check::<core::Namespace>(rt, obj)?,
        ("", "Service") => check::<core::Service>(rt, obj)?,
        ("", "Endpoints") => check::<core::Endpoints>(rt, obj)?,
        ("", "ConfigMap") => check::<core::ConfigMap>(rt, obj)?,
        ("", "Secret") => check::<core::Secret>(rt, obj)?,
        ("", "Event") => check::<core::Event>(rt, obj).map(|_| None)?,
        ("apps", "Deployment") => check::<apps::Deployment>(rt, obj)?,
        ("apps", "ReplicaSet") => check::<apps::ReplicaSet>(rt, obj)?,
        ("apps", "StatefulSet") => check::<apps::StatefulSet>(rt, obj)?,
        ("apps", "DaemonSet") => check::<apps::DaemonSet>(rt, obj)?,
        ("apps", "ControllerRevision") => check::<apps::ControllerRevision>(rt, obj)?,
        ("policy", "PodDisruptionBudget") => check::<policy::PodDisruptionBudget>(rt, obj)?,
        ("coordination.k8s.io", "Lease") => check::<coord::Lease>(rt, obj)?,
        _ => None,
    };
    crate::validation::validate(rt, obj)?;
    Ok(typed)
}

fn random_suffix(rng: &mut ChaCha8Rng) -> String {
    // The same alphabet the API server uses for generateName: no vowels, no look-alikes.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn uuid_from(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0xf,
        b[7],
        8 | (b[8] & 0x3),
        b[8] >> 4,
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Random suffix for names the controllers generate (ReplicaSet pod names and the like).
pub fn name_suffix(store: &Store) -> String {
    random_suffix(&mut store.lock().rng)
}
