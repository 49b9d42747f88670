//! A pod's life on its node: the runtime created on first sight, one sync per due second,
//! longer gaps in steady state, and the stop that ends in its removal after deletion.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;

use super::Traffic;
use super::containers::step_container;
use super::script;
use super::status::write_status;
use crate::app;
use crate::events::{EventType, ObjectRef, Source};
use crate::resources;
use crate::store::Store;
use crate::world::{ContainerRuntime, ImageProfile, PodRuntime, WorkloadModel, World};

/// How long stopping containers takes when a pod is deleted.
const SHUTDOWN_MS: i64 = 2_000;
/// Sync interval of a pod in steady state.
const STEADY_SYNC_MS: i64 = 5_000;

/// The runtime of a pod the kubelet of `node` sees for the first time.
pub(super) fn new_runtime(
    world: &mut World,
    store: &Store,
    pod: &Pod,
    node: &str,
    now: i64,
) -> PodRuntime {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let workload = owner_workload(store, pod);
    let nr = world.nodes.get_mut(node).expect("node checked by caller");
    nr.next_ip += 1;
    let ip = format!("10.244.{}.{}", nr.index, nr.next_ip % 250 + 2);
    let job_pod = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job" && o.controller == Some(true));
    let containers = pod
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| {
                    let mut rt = ContainerRuntime::new(&c.name, c.image.as_deref().unwrap_or(""));
                    let empty = Vec::new();
                    rt.script = script::parse(
                        c.command.as_ref().unwrap_or(&empty),
                        c.args.as_ref().unwrap_or(&empty),
                    )
                    .or_else(|| job_pod.then(script::Script::opaque_job))
                    .map(Arc::new);
                    rt
                })
                .collect()
        })
        .unwrap_or_default();
    let restart_policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_else(|| "Always".into());
    PodRuntime {
        namespace: ns,
        name,
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        node: node.to_string(),
        workload,
        ip,
        containers,
        restart_policy,
        started_ms: now,
        evicted: None,
        stopping_since: None,
        dirty: true,
        ready_since_ms: now,
        last_ready: false,
        last_sync_ms: now,
        next_sync_ms: now,
    }
}

/// The scenario workload a pod belongs to: through its ReplicaSet to the Deployment, or
/// directly to its StatefulSet or DaemonSet.
pub fn owner_workload(store: &Store, pod: &Pod) -> Option<String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let owner = pod
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))?;
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let rs = store.get_typed::<ReplicaSet>(&ns, &owner.name)?;
            let dep = rs
                .metadata
                .owner_references
                .as_ref()?
                .iter()
                .find(|o| o.kind == "Deployment")?;
            Some(format!("{ns}/{}", dep.name))
        }
        "StatefulSet" | "DaemonSet" => Some(format!("{ns}/{}", owner.name)),
        _ => None,
    }
}

/// The model of a pod no scenario workload owns: quiet, small, healthy.
pub fn default_model() -> WorkloadModel {
    WorkloadModel {
        behavior: nightshift_scenario::Behavior {
            memory_bytes: 64 << 20,
            cpu_millis: 50,
            rps: 0.0,
            error_ratio: 0.0,
            latency_ms: 20.0,
            startup: std::time::Duration::from_secs(3),
        },
        base_replicas: 1,
        depends_on: Vec::new(),
        lines: crate::logs::builtin(app::DEFAULT_LINES),
        deps: Arc::new(Vec::new()),
        every_ms: 5_000,
    }
}

/// The reference events about a pod point to.
pub(super) fn pod_ref(pr: &PodRuntime) -> ObjectRef {
    ObjectRef {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: pr.namespace.clone(),
        name: pr.name.clone(),
        uid: pr.uid.clone(),
        field_path: None,
    }
}

/// Syncs one due pod, whose runtime `pr` the caller took out of `world.pods`. Returns whether
/// the pod is still there afterwards (false once its deletion finished).
pub(super) fn sync_pod(
    world: &mut World,
    store: &Store,
    pod: &Pod,
    pr: &mut PodRuntime,
    traffic: &Traffic,
    now: i64,
) -> bool {
    let pod_ref = pod_ref(pr);
    if pod.metadata.deletion_timestamp.is_some() {
        return !stop(world, store, pr, &pod_ref, now);
    }
    if pr.evicted.is_some() || pr.finished() {
        if pr.dirty {
            write_status(store, pod, pr, world.nodes[&pr.node].index, now);
        }
        // Nothing runs any more: only a deletion changes it.
        pr.next_sync_ms = now + 60_000;
        return true;
    }
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let workload = pr.workload.as_deref();
    let model = workload
        .and_then(|w| world.workloads.get(w).cloned())
        .unwrap_or_else(|| world.default_model.clone());
    let dt = (now - pr.last_sync_ms).clamp(1_000, 10_000) as f64 / 1000.0;
    for (ci, cspec) in spec.containers.iter().enumerate() {
        if ci >= pr.containers.len() {
            break;
        }
        step_container(
            world,
            store,
            &pod_ref,
            pr,
            ci,
            cspec,
            &model,
            traffic,
            (now, dt),
        );
    }
    let steady = steady_state(world, pr, now);
    pr.last_sync_ms = now;
    pr.next_sync_ms = now + if steady { STEADY_SYNC_MS } else { 1_000 };
    // A command that ends is seen ending when it does.
    for c in &pr.containers {
        if let (Some(s), Some(i)) = (&c.script, c.running()) {
            let end = i.started_ms.saturating_add(s.duration_ms);
            pr.next_sync_ms = pr.next_sync_ms.min(end.max(now + 1_000));
        }
    }
    let ready = pr.ready();
    if ready != pr.last_ready {
        pr.last_ready = ready;
        pr.ready_since_ms = now;
        pr.dirty = true;
    }
    if pr.dirty {
        write_status(store, pod, pr, world.nodes[&pr.node].index, now);
    }
    true
}

/// Deletion: stops the containers, then removes the pod once they had time to stop. Returns
/// whether the pod was removed.
fn stop(
    world: &mut World,
    store: &Store,
    pr: &mut PodRuntime,
    pod_ref: &ObjectRef,
    now: i64,
) -> bool {
    if pr.stopping_since.is_none() {
        pr.stopping_since = Some(now);
        pr.dirty = true;
        for c in &mut pr.containers {
            if let Some(log) = c.log.as_mut() {
                log.end(now);
            }
        }
        for c in pr.containers.iter().filter(|c| c.running().is_some()) {
            world.recorder.record(
                store,
                &pod_ref.clone().container(&c.name),
                EventType::Normal,
                "Killing",
                &format!("Stopping container {}", c.name),
                Source::kubelet(&pr.node),
            );
        }
    }
    let since = pr.stopping_since.unwrap_or(now);
    if now - since >= SHUTDOWN_MS {
        store.remove(resources::of::<Pod>(), &pr.namespace, &pr.name);
        return true;
    }
    false
}

/// A pod whose containers all run, are Ready, are past start-up and are not under a fault can
/// wait a few seconds between syncs: nothing about it changes meanwhile.
fn steady_state(world: &World, pr: &PodRuntime, now: i64) -> bool {
    let f = &world.faults;
    let faulted = pr.workload.as_deref().is_some_and(|w| {
        f.memory_need.contains_key(w)
            || f.leak.contains_key(w)
            || f.crash.contains_key(w)
            || f.surge.contains_key(w)
            || f.transient.contains_key(w)
    });
    !faulted
        && pr.containers.iter().all(|c| {
            c.running().is_some_and(|i| {
                i.ready && !i.hung && !i.unresponsive && now - i.started_ms > 30_000
            }) && matches!(
                world.registry.get(&c.image),
                None | Some(ImageProfile::Healthy)
            )
        })
}
