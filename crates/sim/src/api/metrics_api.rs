//! `metrics.k8s.io/v1beta1`: pod and node usage from the telemetry, in the shapes
//! metrics-server serves, so `kubectl top` works.

use axum::response::Response;
use serde_json::{Value, json};

use super::ApiState;
use super::handlers::Selectors;
use super::request::{ObjectPath, Query, json_value};
use super::status::ApiError;
use crate::clock::rfc3339;
use crate::resources;
use crate::telemetry::ContainerUsage;

/// The sampling window metrics-server reports.
const WINDOW: &str = "30s";

/// CPU as metrics-server writes it: nanocores.
fn cpu(millis: u64) -> String {
    if millis == 0 {
        "0".to_string()
    } else {
        format!("{}n", millis * 1_000_000)
    }
}

/// Memory as metrics-server writes it: kibibytes.
fn memory(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

/// `GET` on `pods` or `nodes` of `metrics.k8s.io`.
pub fn serve(state: &ApiState, p: &ObjectPath, query: &Query) -> Result<Response, ApiError> {
    if p.legacy_watch || query.flag("watch") {
        return Err(ApiError::method_not_allowed());
    }
    let selectors = Selectors::from_query(query, p.rt)?;
    let now = rfc3339(state.store.clock().now_ms());
    let pods = p.rt.kind == "PodMetrics";
    let source = if pods {
        resources::find("", "v1", "pods").expect("pods registered")
    } else {
        resources::find("", "v1", "nodes").expect("nodes registered")
    };
    let item = |obj: &Value| -> Option<Value> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut metadata = json!({"name": name, "creationTimestamp": now});
        if pods {
            metadata["namespace"] = json!(ns);
        }
        if let Some(labels) = obj.pointer("/metadata/labels") {
            metadata["labels"] = labels.clone();
        }
        let mut m = json!({"metadata": metadata, "timestamp": now, "window": WINDOW});
        if pods {
            let usage = state.telemetry.pod_usage(ns, name)?;
            m["containers"] = usage.iter().map(container).collect();
        } else {
            let (cpu_millis, memory_bytes) = state.telemetry.node_usage(name)?;
            m["usage"] = json!({"cpu": cpu(cpu_millis), "memory": memory(memory_bytes)});
        }
        Some(m)
    };
    if let Some(name) = &p.name {
        let obj = state
            .store
            .get(source, p.ns(), name)
            .ok_or_else(|| ApiError::not_found(p.rt, name))?;
        let mut m = item(obj.value()).ok_or_else(|| ApiError::not_found(p.rt, name))?;
        m["kind"] = json!(p.rt.kind);
        m["apiVersion"] = json!(p.rt.api_version());
        return Ok(json_value(200, &m));
    }
    let (objects, _) = state.store.list(source, p.namespace.as_deref());
    let items: Vec<Value> = objects
        .iter()
        .filter(|e| selectors.matches(e.value()))
        .filter_map(|e| item(e.value()))
        .collect();
    Ok(json_value(
        200,
        &json!({
            "kind": p.rt.list_kind,
            "apiVersion": p.rt.api_version(),
            "metadata": {},
            "items": items,
        }),
    ))
}

fn container(c: &ContainerUsage) -> Value {
    json!({"name": c.name, "usage": {"cpu": cpu(c.cpu_millis), "memory": memory(c.memory_bytes)}})
}
