//! The DaemonSet controller: one pod per eligible node (node selector, taints other than the
//! ones daemon pods tolerate), replaced one at a time when the template changes.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use super::{active, new_pod, pod_ready, pods_by_owner};
use crate::events::{EventType, ObjectRef, Source};
use crate::resources;
use crate::store::{DeleteOptions, Part, Store, name_suffix};
use crate::world::World;

/// Taints daemon pods tolerate, as the DaemonSet controller adds for them.
const TOLERATED: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
];

/// Runs one pass over every DaemonSet.
pub fn sync(world: &mut World, store: &Store, _now: i64) {
    let by_owner = pods_by_owner(store);
    let nodes = store.list_typed::<Node>(None);
    for ds in store.list_typed::<DaemonSet>(None) {
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let name = ds.metadata.name.clone().unwrap_or_default();
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let Some(spec) = ds.spec.as_ref() else {
            continue;
        };
        let hash = super::deployment::template_hash(&spec.template);
        super::ensure_revision(
            store,
            "DaemonSet",
            &ns,
            &name,
            &uid,
            &spec.template,
            &format!("{name}-{hash}"),
        );
        let dref = ObjectRef::of(
            &json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": ns, "uid": uid}}),
        );
        let pods = by_owner.get(&uid).cloned().unwrap_or_default();
        let selector = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.clone())
            .unwrap_or_default();
        let mut desired = 0;
        for n in &nodes {
            let nname = n.metadata.name.clone().unwrap_or_default();
            let labels = n.metadata.labels.clone().unwrap_or_default();
            let eligible = selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                && super::scheduler::taints(n)
                    .iter()
                    .all(|t| t.effect == "PreferNoSchedule" || TOLERATED.contains(&t.key.as_str()));
            if !eligible {
                continue;
            }
            desired += 1;
            let on_node = pods.iter().any(|p| {
                active(p)
                    && p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(nname.as_str())
            });
            if !on_node {
                let pname = format!("{name}-{}", name_suffix(store));
                let mut template = spec.template.clone();
                template
                    .metadata
                    .get_or_insert_with(Default::default)
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert("controller-revision-hash".into(), hash.clone());
                let mut pod = new_pod(&template, &ns, &pname, "DaemonSet", &name, &uid);
                pod["spec"]["nodeName"] = json!(nname);
                let tols = pod["spec"]["tolerations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut tols: Vec<Value> = tols
                    .into_iter()
                    .filter(|t| !TOLERATED.contains(&t["key"].as_str().unwrap_or("")))
                    .collect();
                for key in TOLERATED {
                    let effect = if key.ends_with("not-ready") || key.ends_with("unreachable") {
                        "NoExecute"
                    } else {
                        "NoSchedule"
                    };
                    tols.push(json!({"key": key, "operator": "Exists", "effect": effect}));
                }
                pod["spec"]["tolerations"] = json!(tols);
                if store
                    .create(resources::of::<Pod>(), &ns, pod, false)
                    .is_ok()
                {
                    world.recorder.record(
                        store,
                        &dref,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {pname}"),
                        Source::controller("daemonset-controller"),
                    );
                }
            }
        }
        // Rolling update (maxUnavailable 1): stale pods that are not ready go at once, as the
        // real controller deletes unavailable old pods first; a ready stale pod goes only when
        // every pod is ready.
        let live: Vec<_> = pods.iter().filter(|p| active(p)).collect();
        let all_ready = live.iter().all(|p| pod_ready(p));
        let stale: Vec<_> = live
            .iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("controller-revision-hash"))
                    != Some(&hash)
            })
            .collect();
        let broken: Vec<_> = stale.iter().filter(|p| !pod_ready(p)).collect();
        let victims: Vec<_> = if !broken.is_empty() {
            broken
        } else if all_ready {
            stale.first().into_iter().collect()
        } else {
            Vec::new()
        };
        for p in victims {
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
                world.recorder.record(
                    store,
                    &dref,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pname}"),
                    Source::controller("daemonset-controller"),
                );
            }
        }
        let ready = live.iter().filter(|p| pod_ready(p)).count();
        let status = json!({
            "currentNumberScheduled": live.len(),
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": (desired as usize).saturating_sub(ready),
            "updatedNumberScheduled": live.len() - stale.len(),
            "observedGeneration": ds.metadata.generation.unwrap_or(1),
        });
        if ds
            .status
            .as_ref()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            != Some(status.clone())
        {
            let _ = store.update(
                resources::of::<DaemonSet>(),
                &ns,
                &name,
                json!({"metadata": {"name": name, "namespace": ns}, "status": status}),
                Part::Status,
                false,
            );
        }
        let _: Option<&Pod> = None;
    }
}
