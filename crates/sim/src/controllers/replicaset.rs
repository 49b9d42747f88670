//! The ReplicaSet controller: keeps the number of active pods at `spec.replicas` and reports
//! replicas, ready and available counts.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::json;

use super::{active, new_pod_of, pod_available, pod_ready, pods_by_owner};
use crate::events::{EventType, ObjectRef, Source};
use crate::resources;
use crate::store::{DeleteOptions, Part, Store, name_suffix};
use crate::world::World;

/// Which controller keeps the replicas: the ReplicaSet controller, or the replication
/// controller for the ReplicationControllers of the core group.
struct Kind {
    api_version: &'static str,
    kind: &'static str,
    component: &'static str,
    rt: &'static resources::ResourceType,
}

/// Runs one pass over every ReplicaSet and ReplicationController.
pub fn sync(world: &mut World, store: &Store, now: i64) {
    let by_owner = pods_by_owner(store);
    let kind = Kind {
        api_version: "apps/v1",
        kind: "ReplicaSet",
        component: "replicaset-controller",
        rt: resources::of::<ReplicaSet>(),
    };
    for rs in store.list_typed::<ReplicaSet>(None) {
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let pods = by_owner.get(&uid).cloned().unwrap_or_default();
        let old = rs
            .status
            .as_ref()
            .map(|s| serde_json::to_value(s).unwrap_or_default());
        sync_one(world, store, &rs, old, &kind, &pods, now);
    }
    let kind = Kind {
        api_version: "v1",
        kind: "ReplicationController",
        component: "replication-controller",
        rt: resources::of::<ReplicationController>(),
    };
    for rc in store.list_typed::<ReplicationController>(None) {
        let uid = rc.metadata.uid.clone().unwrap_or_default();
        let pods = by_owner.get(&uid).cloned().unwrap_or_default();
        let old = rc
            .status
            .as_ref()
            .map(|s| serde_json::to_value(s).unwrap_or_default());
        // The same controller, with the selector a plain map of labels.
        let rs = ReplicaSet {
            metadata: rc.metadata.clone(),
            spec: rc.spec.as_ref().map(|s| ReplicaSetSpec {
                replicas: s.replicas,
                min_ready_seconds: s.min_ready_seconds,
                selector: LabelSelector {
                    match_labels: s.selector.clone(),
                    match_expressions: None,
                },
                template: s.template.clone(),
            }),
            status: None,
        };
        sync_one(world, store, &rs, old, &kind, &pods, now);
    }
}

fn sync_one(
    world: &mut World,
    store: &Store,
    rs: &ReplicaSet,
    old_status: Option<serde_json::Value>,
    kind: &Kind,
    pods: &[Arc<Pod>],
    now: i64,
) {
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    if rs.metadata.deletion_timestamp.is_some() {
        return;
    }
    let Some(spec) = rs.spec.as_ref() else { return };
    let want = spec.replicas.unwrap_or(1).max(0) as usize;
    let live: Vec<&Arc<Pod>> = pods.iter().filter(|p| active(p)).collect();
    let rs_ref = ObjectRef::of(
        &json!({"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": name, "namespace": ns, "uid": rs.metadata.uid}}),
    );
    if live.len() < want {
        let Some(template) = spec.template.as_ref() else {
            return;
        };
        // Create at most a burst per second, like the slow-start batches of the real controller.
        for _ in 0..(want - live.len()).min(500) {
            let pod_name = format!("{name}-{}", name_suffix(store));
            let pod = new_pod_of(
                template,
                &ns,
                &pod_name,
                (kind.api_version, kind.kind),
                &name,
                rs.metadata.uid.as_deref().unwrap_or(""),
            );
            if store
                .create(resources::of::<Pod>(), &ns, pod, false)
                .is_ok()
            {
                world.recorder.record(
                    store,
                    &rs_ref,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!("Created pod: {pod_name}"),
                    Source::controller(kind.component),
                );
            }
        }
    } else if live.len() > want {
        let mut victims = live.clone();
        // Unscheduled, then not ready, then newest first: the real controller's preference.
        victims.sort_by_key(|p| {
            let scheduled = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
            let created = p
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_millisecond())
                .unwrap_or(0);
            (
                scheduled,
                pod_ready(p),
                std::cmp::Reverse(created),
                p.metadata.name.clone(),
            )
        });
        for p in victims.iter().take(live.len() - want) {
            let pod_name = p.metadata.name.clone().unwrap_or_default();
            if store
                .delete(
                    resources::of::<Pod>(),
                    &ns,
                    &pod_name,
                    &DeleteOptions::default(),
                )
                .is_ok()
            {
                world.recorder.record(
                    store,
                    &rs_ref,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pod_name}"),
                    Source::controller(kind.component),
                );
            }
        }
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0) as i64 * 1000;
    let fresh: Vec<&Arc<Pod>> = pods.iter().filter(|p| active(p)).collect();
    let ready = fresh.iter().filter(|p| pod_ready(p)).count();
    let available = fresh
        .iter()
        .filter(|p| pod_available(p, min_ready, now))
        .count();
    let status = json!({
        "replicas": fresh.len(),
        "fullyLabeledReplicas": fresh.len(),
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": rs.metadata.generation.unwrap_or(1),
    });
    if old_status.as_ref() != Some(&status) {
        let v = json!({"metadata": {"name": name, "namespace": ns, "resourceVersion": ""}, "status": status});
        let _ = store.update(kind.rt, &ns, &name, v, Part::Status, false);
    }
}
