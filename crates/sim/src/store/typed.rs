//! Typed access for the controllers: objects read and written as k8s-openapi values.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Store;
use super::entry::Entry;
use super::error::StoreError;
use super::write::Part;
use crate::resources;

impl Store {
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
