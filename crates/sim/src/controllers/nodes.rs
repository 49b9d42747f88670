//! Node lifecycle: the kubelet's node conditions while it reports, and the node controller's
//! reaction when it stops (conditions Unknown after the grace period, unreachable taints, pods
//! marked not ready, NoExecute eviction after their toleration), and its return.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::events::{EventType, ObjectRef, Source};
use crate::resources;
use crate::store::{DeleteOptions, Part, Store};
use crate::world::World;

/// Time without status before the node controller marks a node NotReady.
const GRACE_MS: i64 = 40_000;
/// Default toleration of pods for an unreachable node.
const EVICTION_MS: i64 = 300_000;

fn condition(
    t: &str,
    status: &str,
    reason: &str,
    message: &str,
    since: &str,
    heartbeat: &str,
) -> Value {
    json!({"type": t, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": heartbeat, "lastTransitionTime": since})
}

/// Runs node status and lifecycle for one second.
pub fn sync(world: &mut World, store: &Store, now: i64) {
    for node in store.list_typed::<Node>(None) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let Some(nr) = world.nodes.get(&name).cloned() else {
            continue;
        };
        let nref = ObjectRef {
            api_version: "v1".into(),
            kind: "Node".into(),
            namespace: String::new(),
            name: name.clone(),
            uid: name.clone(),
            field_path: None,
        };
        let status = node.status.clone().unwrap_or_default();
        let conds = status.conditions.clone().unwrap_or_default();
        let since = |t: &str, s: &str| {
            conds
                .iter()
                .find(|c| c.type_ == t && c.status == s)
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t| rfc3339(t.0.as_millisecond()))
                .unwrap_or_else(|| rfc3339(now))
        };
        let mut taints: Vec<Value> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or_default())
            .collect();
        let has_taint = |taints: &Vec<Value>, key: &str, effect: &str| {
            taints
                .iter()
                .any(|t| t["key"] == key && t["effect"] == effect)
        };
        let mut new_taints = taints.clone();
        let new_conds: Vec<Value>;
        if nr.alive {
            renew_lease(store, &node, now);
            let hb = conds
                .iter()
                .find(|c| c.type_ == "Ready")
                .and_then(|c| c.last_heartbeat_time.as_ref())
                .map(|t| t.0.as_millisecond())
                .unwrap_or(0);
            let was_ready = conds
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            let heartbeat = if now - hb >= 60_000 || !was_ready {
                rfc3339(now)
            } else {
                rfc3339(hb)
            };
            let dp = if nr.disk_pressure { "True" } else { "False" };
            new_conds = vec![
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                    &since("MemoryPressure", "False"),
                    &heartbeat,
                ),
                condition(
                    "DiskPressure",
                    dp,
                    if nr.disk_pressure {
                        "KubeletHasDiskPressure"
                    } else {
                        "KubeletHasNoDiskPressure"
                    },
                    if nr.disk_pressure {
                        "kubelet has disk pressure"
                    } else {
                        "kubelet has no disk pressure"
                    },
                    &since("DiskPressure", dp),
                    &heartbeat,
                ),
                condition(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                    &since("PIDPressure", "False"),
                    &heartbeat,
                ),
                condition(
                    "Ready",
                    "True",
                    "KubeletReady",
                    "kubelet is posting ready status",
                    &since("Ready", "True"),
                    &heartbeat,
                ),
            ];
            if !was_ready && !conds.is_empty() {
                world.recorder.record(
                    store,
                    &nref,
                    EventType::Normal,
                    "NodeReady",
                    &format!("Node {name} status is now: NodeReady"),
                    Source::controller("node-controller"),
                );
            }
            new_taints.retain(|t| {
                t["key"] != "node.kubernetes.io/unreachable"
                    && t["key"] != "node.kubernetes.io/not-ready"
            });
            if nr.disk_pressure
                && !has_taint(
                    &new_taints,
                    "node.kubernetes.io/disk-pressure",
                    "NoSchedule",
                )
            {
                new_taints.push(json!({"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule", "timeAdded": rfc3339(now)}));
            }
            if !nr.disk_pressure {
                new_taints.retain(|t| t["key"] != "node.kubernetes.io/disk-pressure");
            }
            if let Some(n) = world.nodes.get_mut(&name) {
                n.not_ready_since = None;
            }
        } else {
            let dead_since = nr.dead_since.unwrap_or(now);
            if now - dead_since < GRACE_MS {
                continue;
            }
            if nr.not_ready_since.is_none() {
                world.nodes.get_mut(&name).expect("exists").not_ready_since = Some(now);
                world.recorder.record(
                    store,
                    &nref,
                    EventType::Normal,
                    "NodeNotReady",
                    &format!("Node {name} status is now: NodeNotReady"),
                    Source::controller("node-controller"),
                );
                for p in store.list_typed::<Pod>(None).iter().filter(|p| {
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                }) {
                    mark_pod_unknown(world, store, p, &name, now);
                }
            }
            let hb = conds
                .iter()
                .find(|c| c.type_ == "Ready")
                .and_then(|c| c.last_heartbeat_time.as_ref())
                .map(|t| rfc3339(t.0.as_millisecond()))
                .unwrap_or_else(|| rfc3339(dead_since));
            let msg = "Kubelet stopped posting node status.";
            new_conds = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
                .iter()
                .map(|t| {
                    condition(
                        t,
                        "Unknown",
                        "NodeStatusUnknown",
                        msg,
                        &since(t, "Unknown"),
                        &hb,
                    )
                })
                .collect();
            for effect in ["NoSchedule", "NoExecute"] {
                if !has_taint(&new_taints, "node.kubernetes.io/unreachable", effect) {
                    new_taints.push(json!({"key": "node.kubernetes.io/unreachable", "effect": effect, "timeAdded": rfc3339(now)}));
                }
            }
            // NoExecute eviction once the pods' toleration ran out.
            let nrs = world.nodes[&name].not_ready_since.unwrap_or(now);
            if now - nrs >= EVICTION_MS {
                for p in store.list_typed::<Pod>(None).iter().filter(|p| {
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                        && p.metadata.deletion_timestamp.is_none()
                }) {
                    let tolerated = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.tolerations.as_ref())
                        .is_some_and(|ts| {
                            ts.iter().any(|t| {
                                t.key.as_deref() == Some("node.kubernetes.io/unreachable")
                                    && t.toleration_seconds.is_none()
                                    && t.effect.as_deref() == Some("NoExecute")
                            })
                        });
                    if tolerated {
                        continue;
                    }
                    let ns = p.metadata.namespace.clone().unwrap_or_default();
                    let pname = p.metadata.name.clone().unwrap_or_default();
                    if store
                        .delete(
                            resources::of::<Pod>(),
                            &ns,
                            &pname,
                            &DeleteOptions::default(),
                        )
                        .is_ok()
                    {
                        let pref = ObjectRef {
                            api_version: "v1".into(),
                            kind: "Pod".into(),
                            namespace: ns.clone(),
                            name: pname.clone(),
                            uid: p.metadata.uid.clone().unwrap_or_default(),
                            field_path: None,
                        };
                        world.recorder.record(
                            store,
                            &pref,
                            EventType::Normal,
                            "TaintManagerEviction",
                            &format!("Marking for deletion Pod {ns}/{pname}"),
                            Source::controller("taint-eviction-controller"),
                        );
                    }
                }
            }
        }
        let status_changed = serde_json::to_value(&conds).unwrap_or_default() != json!(new_conds);
        if status_changed {
            let v = json!({"metadata": {"name": name, "resourceVersion": ""}, "status": {"conditions": new_conds}});
            let mut full = serde_json::to_value(&status).unwrap_or_default();
            full["conditions"] = v["status"]["conditions"].clone();
            let _ = store.update(
                resources::of::<Node>(),
                "",
                &name,
                json!({"metadata": {"name": name}, "status": full}),
                Part::Status,
                false,
            );
        }
        if new_taints != taints {
            taints = new_taints;
            if let Some(fresh) = store.get(resources::of::<Node>(), "", &name) {
                let mut v = fresh.value().clone();
                v["spec"]["taints"] = if taints.is_empty() {
                    Value::Null
                } else {
                    json!(taints)
                };
                if let Some(spec) = v["spec"].as_object_mut() {
                    spec.retain(|_, x| !x.is_null());
                }
                v["metadata"]["resourceVersion"] = json!("");
                let _ = store.update(resources::of::<Node>(), "", &name, v, Part::Main, false);
            }
        }
    }
}

/// Namespace of the node heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How long a node Lease holds, as the kubelet writes it.
const LEASE_DURATION_S: i64 = 40;
/// The kubelet renews its Lease every quarter of its duration.
const LEASE_RENEW_MS: i64 = LEASE_DURATION_S * 1000 / 4;

/// The kubelet's heartbeat: creates the node's Lease in `kube-node-lease` or moves its
/// `renewTime`, every ten seconds while the kubelet runs.
pub fn renew_lease(store: &Store, node: &Node, now: i64) {
    use k8s_openapi::api::coordination::v1::Lease;
    let name = node.metadata.name.clone().unwrap_or_default();
    let rt = resources::of::<Lease>();
    match store.get(rt, LEASE_NAMESPACE, &name) {
        Some(e) => {
            let renewed = e
                .value()
                .pointer("/spec/renewTime")
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis());
            if renewed.is_some_and(|r| now - r < LEASE_RENEW_MS) {
                return;
            }
            let mut v = e.value().clone();
            v["spec"]["renewTime"] = json!(crate::clock::rfc3339_micro(now));
            v["metadata"]["resourceVersion"] = json!("");
            let _ = store.update(rt, LEASE_NAMESPACE, &name, v, Part::Main, false);
        }
        None => {
            let lease = json!({
                "metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node.metadata.uid}]},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_S,
                    "renewTime": crate::clock::rfc3339_micro(now)},
            });
            let _ = store.create(rt, LEASE_NAMESPACE, lease, false);
        }
    }
}

fn mark_pod_unknown(world: &mut World, store: &Store, p: &Pod, node: &str, now: i64) {
    let ns = p.metadata.namespace.clone().unwrap_or_default();
    let pname = p.metadata.name.clone().unwrap_or_default();
    let Some(entry) = store.get(resources::of::<Pod>(), &ns, &pname) else {
        return;
    };
    let mut status = entry.value().get("status").cloned().unwrap_or(json!({}));
    if let Some(conds) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds {
            if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                c["status"] = json!("False");
                c["lastTransitionTime"] = json!(rfc3339(now));
                if c["type"] == "Ready" {
                    c["reason"] = json!("NodeLost");
                    c["message"] = json!(format!(
                        "Node {node} which was running pod {pname} is unresponsive"
                    ));
                }
            }
        }
    }
    status["phase"] = json!("Unknown");
    status["reason"] = json!("NodeLost");
    status["message"] = json!(format!(
        "Node {node} which was running pod {pname} is unresponsive"
    ));
    let _ = store.update(
        resources::of::<Pod>(),
        &ns,
        &pname,
        json!({"metadata": {"name": pname, "namespace": ns}, "status": status}),
        Part::Status,
        false,
    );
    let pref = ObjectRef {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: ns,
        name: pname,
        uid: p.metadata.uid.clone().unwrap_or_default(),
        field_path: None,
    };
    world.recorder.record(
        store,
        &pref,
        EventType::Warning,
        "NodeNotReady",
        "Node is not ready",
        Source::controller("node-controller"),
    );
    if let Some(pr) = world.pods.get_mut(p.metadata.uid.as_deref().unwrap_or("")) {
        // When the node returns the kubelet rewrites the real status.
        pr.dirty = true;
    }
}
