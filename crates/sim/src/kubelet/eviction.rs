//! Eviction under disk pressure: one pod at a time per node, the last started first, marked
//! Failed with the kubelet's message.

use k8s_openapi::api::core::v1::Pod;

use super::lifecycle::pod_ref;
use super::status::write_status;
use crate::events::{EventType, ObjectRef, Source};
use crate::store::Store;
use crate::world::{CState, Terminated, World};

/// Interval between kubelet evictions under disk pressure.
const EVICTION_INTERVAL_MS: i64 = 10_000;

/// Evicts one pod from each live node under disk pressure whose last eviction is old enough.
pub(super) fn evict_under_pressure(world: &mut World, store: &Store, now: i64) {
    let nodes: Vec<String> = world
        .nodes
        .iter()
        .filter(|(_, n)| {
            n.alive && n.disk_pressure && now - n.last_eviction_ms >= EVICTION_INTERVAL_MS
        })
        .map(|(k, _)| k.clone())
        .collect();
    for node in nodes {
        // BestEffort and Burstable pods go first; among equals, the one that started last.
        let victim = world
            .pods
            .values_mut()
            .filter(|p| p.node == node && p.evicted.is_none() && p.stopping_since.is_none())
            .max_by_key(|p| (p.started_ms, p.name.clone()));
        let Some(pr) = victim else { continue };
        let nr = world.nodes.get_mut(&node).expect("exists");
        nr.last_eviction_ms = now;
        let node_index = nr.index;
        let message = format!(
            "The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: {}%. ",
            3 + now % 5
        );
        pr.evicted = Some(message.clone());
        pr.dirty = true;
        for c in &mut pr.containers {
            if let CState::Running(i) = &c.state {
                let t = Terminated {
                    exit_code: 137,
                    reason: "Error".into(),
                    started_ms: i.started_ms,
                    finished_ms: now,
                    container_id: i.container_id.clone(),
                };
                if let Some(log) = c.log.as_mut() {
                    log.end(now);
                }
                c.state = CState::Terminated(t);
            }
        }
        world.recorder.record(
            store,
            &pod_ref(pr),
            EventType::Warning,
            "Evicted",
            &message,
            Source::kubelet(&node),
        );
        world.recorder.record(
            store,
            &ObjectRef {
                api_version: "v1".into(),
                kind: "Node".into(),
                namespace: String::new(),
                name: node.clone(),
                uid: node.clone(),
                field_path: None,
            },
            EventType::Warning,
            "EvictionThresholdMet",
            "Attempting to reclaim ephemeral-storage",
            Source::kubelet(&node),
        );
        if let Some(pod) = store.get_typed::<Pod>(&pr.namespace, &pr.name) {
            write_status(store, &pod, pr, node_index, now);
        }
    }
}
