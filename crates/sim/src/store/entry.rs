//! One stored version of an object: its serialized JSON, with the JSON tree and the typed
//! view built on first use.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
    /// A version of `value` at `rv`, with the typed view admission already parsed, if any.
    pub(super) fn new(value: Value, rv: u64, typed: Option<Arc<dyn Any + Send + Sync>>) -> Self {
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
