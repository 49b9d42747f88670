//! The scheduler: binds pending pods to nodes where their requests fit, their node selector
//! matches and every taint is tolerated; least-allocated scoring spreads them. Pods that fit
//! nowhere get `PodScheduled=False` and a FailedScheduling event with the real message shape.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use serde_json::json;

use crate::clock::rfc3339;
use crate::events::{EventType, ObjectRef, Source};
use crate::quantity;
use crate::resources;
use crate::store::{Part, Store};
use crate::world::World;

/// How often an unschedulable pod is tried again.
const RETRY_MS: i64 = 15_000;

/// CPU millicores and memory bytes requested by a pod.
pub fn requests(p: &Pod) -> (u64, u64) {
    let mut cpu = 0;
    let mut mem = 0;
    for c in p.spec.iter().flat_map(|s| s.containers.iter()) {
        if let Some(r) = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref().or(r.limits.as_ref()))
        {
            cpu += r.get("cpu").and_then(|q| quantity::cpu(&q.0)).unwrap_or(0);
            mem += r
                .get("memory")
                .and_then(|q| quantity::memory(&q.0))
                .unwrap_or(0);
        }
    }
    (cpu, mem)
}

fn tolerates(tols: &[Toleration], taint: &Taint) -> bool {
    tols.iter().any(|t| {
        let key_ok = match t.key.as_deref() {
            None | Some("") => t.operator.as_deref() == Some("Exists"),
            Some(k) => k == taint.key,
        };
        let value_ok = t.operator.as_deref() == Some("Exists")
            || t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("");
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        key_ok && value_ok && effect_ok
    })
}

/// The taints a node effectively has, including the one `spec.unschedulable` implies.
pub fn taints(n: &Node) -> Vec<Taint> {
    let mut t = n
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
        && !t
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unschedulable")
    {
        t.push(Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        });
    }
    t
}

/// Binds what can be bound.
pub fn sync(world: &mut World, store: &Store, now: i64) {
    let pods = store.list_typed::<Pod>(None);
    let pending: Vec<_> = pods
        .iter()
        .filter(|p| {
            p.spec.as_ref().is_some_and(|s| s.node_name.is_none())
                && p.metadata.deletion_timestamp.is_none()
        })
        .filter(|p| {
            world
                .schedule_retry
                .get(p.metadata.uid.as_deref().unwrap_or(""))
                .is_none_or(|t| now >= *t)
        })
        .cloned()
        .collect();
    if pending.is_empty() {
        return;
    }
    let nodes = store.list_typed::<Node>(None);
    let mut used: HashMap<String, (u64, u64, usize)> = HashMap::new();
    let mut spread: HashMap<(String, String), usize> = HashMap::new();
    for p in &pods {
        let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        if !super::active(p) {
            continue;
        }
        let (c, m) = requests(p);
        let e = used.entry(n.clone()).or_default();
        e.0 += c;
        e.1 += m;
        e.2 += 1;
        if let Some(owner) = super::deployment::owner_uid(&p.metadata) {
            *spread.entry((owner.to_string(), n)).or_default() += 1;
        }
    }
    for p in pending {
        let (cpu, mem) = requests(&p);
        let spec = p.spec.as_ref().expect("filtered");
        let tols = spec.tolerations.clone().unwrap_or_default();
        let selector = spec.node_selector.clone().unwrap_or_default();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut best: Option<(f64, String)> = None;
        for n in &nodes {
            let name = n.metadata.name.clone().unwrap_or_default();
            let alloc = n.status.as_ref().and_then(|s| s.allocatable.as_ref());
            let cap_cpu = alloc
                .and_then(|a| a.get("cpu"))
                .and_then(|q| quantity::cpu(&q.0))
                .unwrap_or(0);
            let cap_mem = alloc
                .and_then(|a| a.get("memory"))
                .and_then(|q| quantity::memory(&q.0))
                .unwrap_or(0);
            let labels = n.metadata.labels.clone().unwrap_or_default();
            if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                *reasons
                    .entry("node(s) didn't match Pod's node affinity/selector".into())
                    .or_default() += 1;
                continue;
            }
            if let Some(t) = taints(n).into_iter().find(|t| {
                (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerates(&tols, t)
            }) {
                let v = t
                    .value
                    .clone()
                    .map(|v| format!(": {v}"))
                    .unwrap_or_else(|| ": ".into());
                *reasons
                    .entry(format!("node(s) had untolerated taint {{{}{v}}}", t.key))
                    .or_default() += 1;
                continue;
            }
            let (uc, um, _) = used.get(&name).copied().unwrap_or_default();
            let mut fits = true;
            if uc + cpu > cap_cpu {
                *reasons.entry("Insufficient cpu".into()).or_default() += 1;
                fits = false;
            }
            if um + mem > cap_mem {
                *reasons.entry("Insufficient memory".into()).or_default() += 1;
                fits = false;
            }
            if !fits {
                continue;
            }
            let free = (1.0 - (uc + cpu) as f64 / cap_cpu.max(1) as f64)
                + (1.0 - (um + mem) as f64 / cap_mem.max(1) as f64);
            let owner = super::deployment::owner_uid(&p.metadata)
                .unwrap_or("")
                .to_string();
            let siblings = spread.get(&(owner, name.clone())).copied().unwrap_or(0) as f64;
            let score = free - siblings * 0.5;
            if best.as_ref().is_none_or(|(s, _)| score > *s + 1e-9) {
                best = Some((score, name));
            }
        }
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let pname = p.metadata.name.clone().unwrap_or_default();
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let pref = ObjectRef::of(
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pname, "namespace": ns, "uid": uid}}),
        );
        match best {
            Some((_, node)) => {
                let mut v = serde_json::to_value(&*p).unwrap_or_default();
                v["spec"]["nodeName"] = json!(node);
                v["metadata"]["resourceVersion"] = json!("");
                if store
                    .update(resources::of::<Pod>(), &ns, &pname, v, Part::Main, false)
                    .is_ok()
                {
                    let mut cond = json!({"metadata": {"name": pname, "namespace": ns}, "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": rfc3339(now)}]}});
                    if let Some(q) = p.status.as_ref().and_then(|s| s.qos_class.as_ref()) {
                        cond["status"]["qosClass"] = json!(q);
                    }
                    let _ = store.update(
                        resources::of::<Pod>(),
                        &ns,
                        &pname,
                        cond,
                        Part::Status,
                        false,
                    );
                    world.recorder.record(
                        store,
                        &pref,
                        EventType::Normal,
                        "Scheduled",
                        &format!("Successfully assigned {ns}/{pname} to {node}"),
                        Source::controller("default-scheduler"),
                    );
                    let e = used.entry(node.clone()).or_default();
                    e.0 += cpu;
                    e.1 += mem;
                    if let Some(owner) = super::deployment::owner_uid(&p.metadata) {
                        *spread.entry((owner.to_string(), node)).or_default() += 1;
                    }
                    world.schedule_retry.remove(&uid);
                }
            }
            None => {
                let total = nodes.len();
                let detail: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
                let message = format!(
                    "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.",
                    detail.join(", ")
                );
                let mut cond = json!({"metadata": {"name": pname, "namespace": ns}, "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastProbeTime": null, "lastTransitionTime": rfc3339(now)}]}});
                if let Some(q) = p.status.as_ref().and_then(|s| s.qos_class.as_ref()) {
                    cond["status"]["qosClass"] = json!(q);
                }
                let was = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
                    .map(|c| (c.status.clone(), c.message.clone()));
                if was != Some(("False".into(), Some(message.clone()))) {
                    let _ = store.update(
                        resources::of::<Pod>(),
                        &ns,
                        &pname,
                        cond,
                        Part::Status,
                        false,
                    );
                }
                world.recorder.record(
                    store,
                    &pref,
                    EventType::Warning,
                    "FailedScheduling",
                    &message,
                    Source::controller("default-scheduler"),
                );
                world.schedule_retry.insert(uid, now + RETRY_MS);
            }
        }
    }
}
