//! Pod status as the kubelet writes it: phase, conditions, container states and the QoS class,
//! rendered from the runtime.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::containers::INITIAL_BACKOFF_MS;
use crate::clock::rfc3339;
use crate::resources;
use crate::store::{Part, Store};
use crate::world::{CState, ContainerRuntime, PodRuntime, Terminated, Waiting};

/// Writes the status of `pod` from its runtime `pr`, on the node numbered `node_index`.
pub(super) fn write_status(
    store: &Store,
    pod: &Pod,
    pr: &mut PodRuntime,
    node_index: usize,
    now: i64,
) {
    pr.dirty = false;
    let status = status_json(pr, pod, node_index, now);
    let mut v = json!({"metadata": {"name": pr.name, "namespace": pr.namespace}, "status": status});
    v["metadata"]["resourceVersion"] = json!("");
    let _ = store.update(
        resources::of::<Pod>(),
        &pr.namespace,
        &pr.name,
        v,
        Part::Status,
        false,
    );
}

/// The `state` of a container status: running, waiting with its reason and message, or
/// terminated.
fn state_json(c: &ContainerRuntime, pod: &PodRuntime) -> Value {
    match &c.state {
        CState::Running(i) => json!({"running": {"startedAt": rfc3339(i.started_ms)}}),
        CState::Terminated(t) => terminated_json(t),
        CState::Waiting(w) => {
            let reason = c.state_reason().unwrap_or("ContainerCreating");
            let message = match w {
                Waiting::ConfigError(m) => Some(m.clone()),
                Waiting::PullBackOff {
                    first: true,
                    message,
                    ..
                } => Some(message.clone()),
                Waiting::PullBackOff { first: false, .. } => {
                    Some(format!("Back-off pulling image \"{}\"", c.image))
                }
                Waiting::CrashBackOff(_) => Some(format!(
                    "back-off {}s restarting failed container={} pod={}_{}({})",
                    (c.backoff_ms / 2).max(INITIAL_BACKOFF_MS) / 1000,
                    c.name,
                    pod.name,
                    pod.namespace,
                    pod.uid
                )),
                _ => None,
            };
            match message {
                Some(m) => json!({"waiting": {"reason": reason, "message": m}}),
                None => json!({"waiting": {"reason": reason}}),
            }
        }
    }
}

/// A finished instance, as `state` or `lastState`.
fn terminated_json(t: &Terminated) -> Value {
    json!({"terminated": {
        "exitCode": t.exit_code,
        "reason": t.reason,
        "startedAt": rfc3339(t.started_ms),
        "finishedAt": rfc3339(t.finished_ms),
        "containerID": t.container_id,
    }})
}

/// The pod's whole `status`.
fn status_json(pr: &PodRuntime, pod: &Pod, node_index: usize, now: i64) -> Value {
    let started_any = pr
        .containers
        .iter()
        .any(|c| c.running().is_some() || c.last.is_some());
    let finished = pr.evicted.is_none() && pr.finished();
    let phase = if pr.evicted.is_some() {
        "Failed"
    } else if finished {
        let all_ok = pr
            .containers
            .iter()
            .all(|c| matches!(&c.state, CState::Terminated(t) if t.exit_code == 0));
        if all_ok { "Succeeded" } else { "Failed" }
    } else if started_any {
        "Running"
    } else {
        "Pending"
    };
    let ready = pr.ready();
    let since = rfc3339(pr.ready_since_ms);
    let start = rfc3339(pr.started_ms);
    let not_ready: Vec<&str> = pr
        .containers
        .iter()
        .filter(|c| !c.ready())
        .map(|c| c.name.as_str())
        .collect();
    let reason_msg = if not_ready.is_empty() {
        None
    } else {
        Some(format!(
            "containers with unready status: [{}]",
            not_ready.join(" ")
        ))
    };
    let cond = |t: &str, ok: bool, at: &str| {
        let mut c = json!({"type": t, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": at});
        if !ok && let Some(m) = &reason_msg {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(m);
        }
        c
    };
    let statuses: Vec<Value> = pr
        .containers
        .iter()
        .map(|c| {
            let mut s = json!({
                "name": c.name,
                "state": state_json(c, pr),
                "lastState": c.last.as_ref().map(terminated_json).unwrap_or_else(|| json!({})),
                "ready": c.ready(),
                "restartCount": c.restart_count,
                "image": c.image,
                "imageID": format!("{}@sha256:{:064x}", c.image.split(':').next().unwrap_or(""), c.image.len() as u128 * 0x1234_5678_9abc_def1),
                "started": c.running().is_some(),
            });
            if let Some(i) = c.running() {
                s["containerID"] = json!(i.container_id);
            } else if let Some(t) = &c.last {
                s["containerID"] = json!(t.container_id);
            }
            s
        })
        .collect();
    let qos = qos_class(pod);
    let mut status = json!({
        "phase": phase,
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
            cond("Ready", ready, &since),
            cond("ContainersReady", ready, &since),
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
        ],
        "hostIP": format!("10.0.0.{}", node_index + 10),
        "hostIPs": [{"ip": format!("10.0.0.{}", node_index + 10)}],
        "podIP": pr.ip,
        "podIPs": [{"ip": pr.ip}],
        "startTime": start,
        "containerStatuses": statuses,
        "qosClass": qos,
    });
    if finished {
        for i in [0, 2, 3] {
            status["conditions"][i]["status"] = json!("False");
        }
        for i in [2, 3] {
            status["conditions"][i]["reason"] = json!("PodCompleted");
            if let Some(c) = status["conditions"][i].as_object_mut() {
                c.remove("message");
            }
        }
    }
    if let Some(m) = &pr.evicted {
        status["reason"] = json!("Evicted");
        status["message"] = json!(m);
        status["conditions"][2]["status"] = json!("False");
        status["conditions"][3]["status"] = json!("False");
        status["conditions"]
            .as_array_mut()
            .expect("array")
            .push(json!({"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": m, "lastProbeTime": null, "lastTransitionTime": rfc3339(now)}));
    }
    status
}

/// The QoS class from the containers' requests and limits.
fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = &pod.spec else {
        return "BestEffort";
    };
    let mut any = false;
    let mut guaranteed = true;
    for c in &spec.containers {
        let r = c.resources.as_ref();
        let req = r.and_then(|r| r.requests.as_ref());
        let lim = r.and_then(|r| r.limits.as_ref());
        if req.is_some_and(|m| !m.is_empty()) || lim.is_some_and(|m| !m.is_empty()) {
            any = true;
        }
        for k in ["cpu", "memory"] {
            let l = lim.and_then(|m| m.get(k));
            let q = req.and_then(|m| m.get(k)).or(l);
            if l.is_none() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
