//! The kubelet of every node: pulls images, checks config references, starts containers, runs
//! probes, restarts with exponential back-off, OOM-kills, evicts under disk pressure, stops pods
//! being deleted, and writes pod status.
//!
//! One job per module: `lifecycle` takes a pod from its first sync to its removal,
//! `containers` moves each container through waiting, running and back-off, `run` plays a
//! running container's second through the application model, `probes` decides readiness
//! and liveness, `eviction` frees nodes under disk pressure, and `status` renders what the
//! API shows.
//!
//! While a pod is synced its runtime is taken out of `World::pods` and passed by reference,
//! so the kubelet holds the pod and the rest of the world at once without looking it up again.

mod containers;
mod eviction;
mod lifecycle;
mod probes;
mod run;
mod status;

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::Pod;

use crate::store::Store;
use crate::world::World;

pub use lifecycle::{default_model, owner_workload};

/// Per-second view of the cluster the containers need: which services have ready endpoints
/// and how much traffic each ready replica gets.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Ready, answering replicas per workload key.
    pub ready: HashMap<String, u32>,
}

impl Traffic {
    /// Counts ready replicas from the runtime.
    pub fn measure(world: &World) -> Self {
        let mut ready: HashMap<String, u32> = HashMap::new();
        for pr in world.pods.values() {
            let alive = world.nodes.get(&pr.node).is_some_and(|n| n.alive);
            if let Some(w) = &pr.workload
                && alive
                && pr.ready()
                && pr
                    .containers
                    .iter()
                    .all(|c| c.running().is_some_and(|i| !i.unresponsive && !i.hung))
            {
                *ready.entry(w.clone()).or_default() += 1;
            }
        }
        Traffic { ready }
    }
}

/// Runs one second of every kubelet.
pub fn sync(world: &mut World, store: &Store, now: i64) {
    let pods = store.list_typed::<Pod>(None);
    // Most pods are in steady state and skip this second: find the ones due first, so the
    // traffic picture is only computed when some pod needs it.
    let mut seen: HashSet<&str> = HashSet::with_capacity(pods.len());
    let mut due: Vec<&Pod> = Vec::new();
    for pod in &pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        let uid = pod.metadata.uid.as_deref().unwrap_or("");
        seen.insert(uid);
        if !world.nodes.get(node).is_some_and(|n| n.alive) {
            continue;
        }
        match world.pods.get(uid) {
            Some(pr)
                if pod.metadata.deletion_timestamp.is_none()
                    && !pr.dirty
                    && now < pr.next_sync_ms => {}
            Some(_) => due.push(pod),
            None => {
                if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
                    continue;
                }
                let pr = lifecycle::new_runtime(world, store, pod, node, now);
                world.pods.insert(uid.to_string(), pr);
                due.push(pod);
            }
        }
    }
    if !due.is_empty() {
        let traffic = Traffic::measure(world);
        for pod in due {
            let uid = pod.metadata.uid.as_deref().unwrap_or("");
            let Some((uid, mut pr)) = world.pods.remove_entry(uid) else {
                continue;
            };
            if lifecycle::sync_pod(world, store, pod, &mut pr, &traffic, now) {
                world.pods.insert(uid, pr);
            }
        }
    }
    world.pods.retain(|uid, _| seen.contains(uid.as_str()));
    eviction::evict_under_pressure(world, store, now);
}
