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
pub mod script;
mod status;

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::Pod;

use crate::store::Store;
use crate::world::{WorkloadModel, World};

pub use lifecycle::{default_model, owner_workload};

/// Per-second view of the cluster the containers need: which services have ready endpoints
/// and how much traffic each ready replica gets (`per_replica`).
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

    /// Requests per second each ready replica of `workload` serves when `offered` reach its
    /// service. A workload coming up for the first time is offered only the share its ready
    /// replicas stand for, since its clients, load balancers and upstreams are pointed at it as
    /// it becomes available (a StatefulSet's first pod does not take the whole service's
    /// traffic). Once it has had all its replicas ready (`World::fully_served`), the whole
    /// offered load is spread over whatever is ready, so a replica that drops out leaves its
    /// share to the others.
    pub fn per_replica(
        &self,
        world: &World,
        workload: &str,
        model: &WorkloadModel,
        offered: f64,
    ) -> f64 {
        let ready = self.ready.get(workload).copied().unwrap_or(0);
        if ready == 0 {
            return 0.0;
        }
        let over = if world.fully_served.contains(workload) {
            ready
        } else {
            ready.max(model.base_replicas)
        };
        offered / f64::from(over)
    }

    /// Latches, once and for good, the workloads whose ready replicas reached the replicas
    /// they were started with.
    fn note_fully_served(&self, world: &mut World) {
        for (w, n) in &self.ready {
            if !world.fully_served.contains(w)
                && world
                    .workloads
                    .get(w)
                    .is_some_and(|m| *n >= m.base_replicas)
            {
                world.fully_served.insert(w.clone());
            }
        }
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
        traffic.note_fully_served(world);
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
