//! Controllers that behave like the real ones, advanced once per simulated second.

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod job;
pub mod namespace;
pub mod nodes;
pub mod replicaset;
pub mod scheduler;
pub mod statefulset;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use serde_json::{Value, json};

use crate::store::Store;

/// Pods grouped by the uid of their controller owner.
pub fn pods_by_owner(store: &Store) -> HashMap<String, Vec<Arc<Pod>>> {
    let mut out: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
    for p in store.list_typed::<Pod>(None) {
        if let Some(uid) = deployment::owner_uid(&p.metadata) {
            out.entry(uid.to_string()).or_default().push(p.clone());
        }
    }
    out
}

/// Not terminating and not finished: counts towards a controller's replicas.
pub fn active(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    p.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Failed") | Some("Succeeded"))
}

/// The pod's Ready condition is True.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Ready for at least `min_ready_ms`.
pub fn pod_available(p: &Pod, min_ready_ms: i64, now: i64) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "True"))
        .is_some_and(|c| {
            c.last_transition_time
                .as_ref()
                .is_none_or(|t| now - t.0.as_millisecond() >= min_ready_ms)
        })
}

/// A pod object from a template, owned by an `apps/v1` controller.
pub fn new_pod(
    template: &PodTemplateSpec,
    ns: &str,
    name: &str,
    owner_kind: &str,
    owner_name: &str,
    owner_uid: &str,
) -> Value {
    new_pod_of(
        template,
        ns,
        name,
        ("apps/v1", owner_kind),
        owner_name,
        owner_uid,
    )
}

/// A pod object from a template, owned by a controller of `(apiVersion, kind)`.
pub fn new_pod_of(
    template: &PodTemplateSpec,
    ns: &str,
    name: &str,
    (owner_api_version, owner_kind): (&str, &str),
    owner_name: &str,
    owner_uid: &str,
) -> Value {
    let mut meta = template
        .metadata
        .clone()
        .map(|m| serde_json::to_value(m).unwrap_or_default())
        .unwrap_or_else(|| json!({}));
    meta["name"] = json!(name);
    meta["namespace"] = json!(ns);
    if let Some(m) = meta.as_object_mut() {
        m.remove("generateName");
        m.remove("creationTimestamp");
    }
    meta["ownerReferences"] = json!([{
        "apiVersion": owner_api_version,
        "kind": owner_kind,
        "name": owner_name,
        "uid": owner_uid,
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    let mut spec = template
        .spec
        .clone()
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .unwrap_or_else(|| json!({}));
    // The DefaultTolerationSeconds admission plugin: five minutes on an unreachable node.
    let tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut tolerations = tolerations;
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        if !tolerations
            .iter()
            .any(|t| t.get("key").and_then(Value::as_str) == Some(key))
        {
            tolerations.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
    spec["tolerations"] = json!(tolerations);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

/// Records the ControllerRevision `rev_name` of a StatefulSet's or DaemonSet's template when
/// it is new, numbered one past the owner's highest, as the real controllers keep their
/// history (what `kubectl rollout history` and `rollout undo` read).
pub fn ensure_revision(
    store: &Store,
    kind: &str,
    ns: &str,
    name: &str,
    uid: &str,
    template: &PodTemplateSpec,
    rev_name: &str,
) {
    use k8s_openapi::api::apps::v1::ControllerRevision;
    if store
        .get_typed::<ControllerRevision>(ns, rev_name)
        .is_some()
    {
        return;
    }
    let max = store
        .list_typed::<ControllerRevision>(Some(ns))
        .iter()
        .filter(|r| deployment::owner_uid(&r.metadata) == Some(uid))
        .map(|r| r.revision)
        .max()
        .unwrap_or(0);
    let cr = json!({
        "metadata": {"name": rev_name, "namespace": ns, "labels": template.metadata.as_ref().and_then(|m| m.labels.clone()),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
        "data": {"spec": {"template": template}},
        "revision": max + 1,
    });
    let _ = store.create(crate::resources::of::<ControllerRevision>(), ns, cr, false);
}
