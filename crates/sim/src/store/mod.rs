//! The object store behind the simulated API server: every object as JSON, a resource version
//! counter shared by all types, a bounded change log for watches, and typed views for the
//! controllers.
//!
//! Objects are kept as `serde_json::Value` so the API serves exactly what was written
//! (including fields the typed structs do not know); each stored version also caches its
//! serialized bytes and a typed copy, so a list of thousands of pods neither re-serializes nor
//! re-parses objects that did not change.
//!
//! Storage is this module: [`Entry`] for one version, reads here, writes in `write` and
//! `delete`, the change log and watches in `change`, typed access in `typed`. What an object
//! must be to be stored (names, uids, validation) is `admission`, which knows nothing of
//! storage; its [`Invalid`] becomes a [`StoreError`].

mod admission;
mod change;
mod cluster;
mod delete;
mod entry;
mod error;
mod typed;
mod view;
mod write;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::resources::{self, RESOURCE_TYPES, ResourceType};

pub use admission::{Invalid, check_immutable, unknown_fields, validate};
pub use change::{Change, ChangeType, WatchStart};
pub use cluster::{
    IMMORTAL_NAMESPACES, KUBERNETES_SERVICE_IP, namespace_terminating, preferred_offset, qualified,
    terminating,
};
pub use delete::{DeleteOptions, Propagation};
pub use entry::Entry;
pub use error::StoreError;
pub use view::seen_as;
pub use write::{Admit, NO_ADMIT, Part};

use change::CHANGE_LOG_CAPACITY;

/// Namespace (empty for cluster-scoped types) and name.
type Key = (String, String);

/// What the lock guards.
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
        if let Some(b) = view::base(rt) {
            return self.get(b, ns, name).map(|e| view::show(rt, &e));
        }
        let inner = self.lock();
        inner.tables[resources::index_of(rt)]
            .get(&key(rt, ns, name))
            .cloned()
    }

    /// Objects of a type, in one namespace or all, sorted by namespace and name, with the
    /// store's resource version at the time of the list.
    pub fn list(&self, rt: &'static ResourceType, ns: Option<&str>) -> (Vec<Arc<Entry>>, u64) {
        if let Some(b) = view::base(rt) {
            let (items, rv) = self.list(b, ns);
            return (items.iter().map(|e| view::show(rt, e)).collect(), rv);
        }
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
}

/// The key of an object in its type's table.
fn key(rt: &ResourceType, ns: &str, name: &str) -> Key {
    if rt.namespaced {
        (ns.to_string(), name.to_string())
    } else {
        (String::new(), name.to_string())
    }
}

/// Random suffix for names the controllers generate (ReplicaSet pod names and the like).
pub fn name_suffix(store: &Store) -> String {
    admission::random_suffix(&mut store.lock().rng)
}
