//! The StatefulSet controller: pods `<name>-<ordinal>` created in order (OrderedReady), each
//! waiting for the one before to be Ready; rolling updates from the highest ordinal down;
//! revisions recorded as ControllerRevisions.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::{active, new_pod, pod_ready, pods_by_owner};
use crate::events::{EventType, ObjectRef, Source};
use crate::resources;
use crate::store::{DeleteOptions, Part, Store};
use crate::world::World;

/// Label with the revision a pod was created from.
const REVISION_LABEL: &str = "controller-revision-hash";

/// Runs one pass over every StatefulSet.
pub fn sync(world: &mut World, store: &Store, _now: i64) {
    let by_owner = pods_by_owner(store);
    for sts in store.list_typed::<StatefulSet>(None) {
        let ns = sts.metadata.namespace.clone().unwrap_or_default();
        let name = sts.metadata.name.clone().unwrap_or_default();
        let uid = sts.metadata.uid.clone().unwrap_or_default();
        let Some(spec) = sts.spec.as_ref() else {
            continue;
        };
        let replicas = spec.replicas.unwrap_or(1).max(0);
        let hash = super::deployment::template_hash(&spec.template);
        let rev_name = format!("{name}-{hash}");
        let sref = ObjectRef::of(
            &json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": ns, "uid": uid}}),
        );
        super::ensure_revision(
            store,
            "StatefulSet",
            &ns,
            &name,
            &uid,
            &spec.template,
            &rev_name,
        );
        let pods = by_owner.get(&uid).cloned().unwrap_or_default();
        let ordinal = |p: &Pod| {
            p.metadata
                .name
                .as_deref()
                .and_then(|n| n.rsplit('-').next())
                .and_then(|o| o.parse::<i32>().ok())
                .unwrap_or(-1)
        };
        // Create missing ordinals in order, each after the previous is Ready.
        for i in 0..replicas {
            let pname = format!("{name}-{i}");
            match pods.iter().find(|p| ordinal(p) == i) {
                Some(p) if active(p) && pod_ready(p) => continue,
                Some(_) => break,
                None => {
                    let mut template = spec.template.clone();
                    let labels = template
                        .metadata
                        .get_or_insert_with(Default::default)
                        .labels
                        .get_or_insert_with(Default::default);
                    labels.insert(REVISION_LABEL.into(), rev_name.clone());
                    labels.insert("statefulset.kubernetes.io/pod-name".into(), pname.clone());
                    let pod = new_pod(&template, &ns, &pname, "StatefulSet", &name, &uid);
                    if store
                        .create(resources::of::<Pod>(), &ns, pod, false)
                        .is_ok()
                    {
                        world.recorder.record(
                            store,
                            &sref,
                            EventType::Normal,
                            "SuccessfulCreate",
                            &format!("create Pod {pname} in StatefulSet {name} successful"),
                            Source::controller("statefulset-controller"),
                        );
                    }
                    break;
                }
            }
        }
        // Scale down from the highest ordinal; roll out one stale pod at a time, highest first.
        let mut sorted = pods.clone();
        sorted.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
        let all_ready = pods.iter().filter(|p| active(p)).all(|p| pod_ready(p));
        for p in &sorted {
            let o = ordinal(p);
            let pname = p.metadata.name.clone().unwrap_or_default();
            if o >= replicas && p.metadata.deletion_timestamp.is_none() {
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
                        &sref,
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("delete Pod {pname} in StatefulSet {name} successful"),
                        Source::controller("statefulset-controller"),
                    );
                }
                break;
            }
        }
        if all_ready
            && let Some(stale) = sorted.iter().find(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(REVISION_LABEL))
                        != Some(&rev_name)
            })
        {
            let pname = stale.metadata.name.clone().unwrap_or_default();
            let _ = store.delete(
                resources::of::<Pod>(),
                &ns,
                &pname,
                &DeleteOptions::default(),
            );
        }
        let live: Vec<_> = pods.iter().filter(|p| active(p)).collect();
        let ready = live.iter().filter(|p| pod_ready(p)).count();
        let updated = live
            .iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(REVISION_LABEL))
                    == Some(&rev_name)
            })
            .count();
        let status = json!({
            "observedGeneration": sts.metadata.generation.unwrap_or(1),
            "replicas": live.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": updated,
            "updatedReplicas": updated,
            "currentRevision": rev_name,
            "updateRevision": rev_name,
            "collisionCount": 0,
        });
        if sts
            .status
            .as_ref()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            != Some(status.clone())
        {
            let _ = store.update(
                resources::of::<StatefulSet>(),
                &ns,
                &name,
                json!({"metadata": {"name": name, "namespace": ns}, "status": status}),
                Part::Status,
                false,
            );
        }
    }
}
