//! The Deployment controller: one ReplicaSet per pod template, revisions, rolling updates that
//! honour maxSurge and maxUnavailable, the Recreate strategy, status and conditions including
//! `ProgressDeadlineExceeded`, and history cleanup.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::events::{EventType, ObjectRef, Source};
use crate::resources;
use crate::store::{DeleteOptions, Part, Store};
use crate::world::World;

/// Annotation holding the revision of a ReplicaSet and its Deployment.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Label holding the template hash.
pub const HASH_LABEL: &str = "pod-template-hash";

/// Runs one pass over every Deployment.
pub fn sync(world: &mut World, store: &Store, now: i64) {
    let all_rs = store.list_typed::<ReplicaSet>(None);
    for d in store.list_typed::<Deployment>(None) {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let owned: Vec<Arc<ReplicaSet>> = all_rs
            .iter()
            .filter(|rs| owner_uid(&rs.metadata) == Some(uid.as_str()))
            .cloned()
            .collect();
        sync_one(world, store, &d, owned, now);
    }
}

/// The controller owner's uid of an object.
pub fn owner_uid(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<&str> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

/// FNV-32a of the template, encoded with the API server's safe alphabet, as `pod-template-hash`.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    let mut t = template.clone();
    if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove(HASH_LABEL);
    }
    let bytes = serde_json::to_vec(&t).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = h;
    let mut s = String::new();
    while n > 0 || s.is_empty() {
        s.push(ALPHABET[(n % ALPHABET.len() as u32) as usize] as char);
        n /= ALPHABET.len() as u32;
    }
    s
}

fn same_template(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.remove(HASH_LABEL);
        }
        serde_json::to_value(t).unwrap_or_default()
    };
    strip(a) == strip(b)
}

/// The annotations of a Deployment its ReplicaSets carry too: all but the controller's own
/// and kubectl's last applied configuration.
fn copied_annotations(d: &Deployment) -> Vec<(String, String)> {
    const SKIPPED: &[&str] = &[
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    ];
    d.metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !SKIPPED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Resolves maxSurge / maxUnavailable against the replica count.
pub fn resolve(v: Option<&IntOrString>, replicas: i32, round_up: bool, default: &str) -> i32 {
    let v = v
        .cloned()
        .unwrap_or(IntOrString::String(default.to_string()));
    match v {
        IntOrString::Int(i) => i,
        IntOrString::String(s) => {
            let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(25.0);
            let x = pct * f64::from(replicas) / 100.0;
            if round_up {
                x.ceil() as i32
            } else {
                x.floor() as i32
            }
        }
    }
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn sync_one(
    world: &mut World,
    store: &Store,
    d: &Deployment,
    mut owned: Vec<Arc<ReplicaSet>>,
    now: i64,
) {
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let Some(spec) = d.spec.as_ref() else { return };
    if d.metadata.deletion_timestamp.is_some() {
        return;
    }
    let dref = ObjectRef::of(
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "uid": d.metadata.uid}}),
    );
    let replicas = spec.replicas.unwrap_or(1);
    let max_rev = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0);
    let paused = spec.paused == Some(true);

    // Find or create the ReplicaSet of the current template.
    let mut new_rs = owned
        .iter()
        .find(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| same_template(t, &spec.template))
        })
        .cloned();
    if new_rs.is_none() && !paused {
        let hash = template_hash(&spec.template);
        let mut template = spec.template.clone();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), hash.clone());
        let rs_name = format!("{name}-{hash}");
        // New ReplicaSets start empty; the rollout below scales them.
        let initial = 0;
        let mut rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": ns,
                "labels": template.metadata.as_ref().and_then(|m| m.labels.clone()),
                "annotations": {REVISION: (max_rev + 1).to_string(), "deployment.kubernetes.io/desired-replicas": replicas.to_string(), "deployment.kubernetes.io/max-replicas": (replicas + resolve(spec.strategy.as_ref().and_then(|s| s.rolling_update.as_ref()).and_then(|r| r.max_surge.as_ref()), replicas, true, "25%")).to_string()},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": d.metadata.uid, "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": {"replicas": initial, "selector": selector, "template": template, "minReadySeconds": spec.min_ready_seconds.unwrap_or(0)},
        });
        for (k, v) in copied_annotations(d) {
            rs["metadata"]["annotations"][k] = json!(v);
        }
        match store.create(resources::of::<ReplicaSet>(), &ns, rs, false) {
            Ok(e) => {
                let rs = e.typed::<ReplicaSet>();
                owned.push(rs.clone());
                new_rs = Some(rs);
            }
            Err(_) => return,
        }
    }
    let Some(mut new_rs) = new_rs else { return };
    // A template that matches an old ReplicaSet (rollback, undo) makes it the newest revision.
    if revision(&new_rs) < max_rev {
        let mut v = serde_json::to_value(&*new_rs).unwrap_or_default();
        v["metadata"]["annotations"][REVISION] = json!((max_rev + 1).to_string());
        if let Ok(e) = store.update(
            resources::of::<ReplicaSet>(),
            &ns,
            new_rs.metadata.name.as_deref().unwrap_or(""),
            v,
            Part::Main,
            false,
        ) {
            new_rs = e.typed::<ReplicaSet>();
            if let Some(slot) = owned
                .iter_mut()
                .find(|r| r.metadata.uid == new_rs.metadata.uid)
            {
                *slot = new_rs.clone();
            }
        }
    }
    // The Deployment's own annotations (`kubernetes.io/change-cause` and the like) follow it
    // onto its newest ReplicaSet, which is what `kubectl rollout history` reads.
    let rs_annotations = new_rs.metadata.annotations.clone().unwrap_or_default();
    let missing: Vec<(String, String)> = copied_annotations(d)
        .into_iter()
        .filter(|(k, v)| rs_annotations.get(k) != Some(v))
        .collect();
    if !missing.is_empty() {
        let mut v = serde_json::to_value(&*new_rs).unwrap_or_default();
        for (k, val) in missing {
            v["metadata"]["annotations"][k] = json!(val);
        }
        v["metadata"]["resourceVersion"] = json!("");
        if let Ok(e) = store.update(
            resources::of::<ReplicaSet>(),
            &ns,
            new_rs.metadata.name.as_deref().unwrap_or(""),
            v,
            Part::Main,
            false,
        ) {
            new_rs = e.typed::<ReplicaSet>();
            if let Some(slot) = owned
                .iter_mut()
                .find(|r| r.metadata.uid == new_rs.metadata.uid)
            {
                *slot = new_rs.clone();
            }
        }
    }
    let new_name = new_rs.metadata.name.clone().unwrap_or_default();
    let new_uid = new_rs.metadata.uid.clone();
    let olds: Vec<Arc<ReplicaSet>> = owned
        .iter()
        .filter(|r| r.metadata.uid != new_uid)
        .cloned()
        .collect();

    if !paused {
        let strategy = spec.strategy.as_ref();
        let recreate = strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate");
        let scale = |rs: &ReplicaSet, to: i32, world: &mut World| {
            let from = rs_replicas(rs);
            if from == to {
                return;
            }
            let mut v = serde_json::to_value(rs).unwrap_or_default();
            v["spec"]["replicas"] = json!(to);
            v["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                json!(replicas.to_string());
            v["metadata"]["resourceVersion"] = json!("");
            let rs_name = rs.metadata.name.clone().unwrap_or_default();
            if store
                .update(
                    resources::of::<ReplicaSet>(),
                    &ns,
                    &rs_name,
                    v,
                    Part::Main,
                    false,
                )
                .is_ok()
            {
                let verb = if to > from { "up" } else { "down" };
                world.recorder.record(
                    store,
                    &dref,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    &format!("Scaled {verb} replica set {rs_name} from {from} to {to}"),
                    Source::controller("deployment-controller"),
                );
            }
        };
        if recreate {
            let old_active: i32 = olds
                .iter()
                .map(|r| rs_replicas(r) + r.status.as_ref().map_or(0, |s| s.replicas))
                .sum();
            for rs in &olds {
                scale(rs, 0, world);
            }
            if old_active == 0 {
                scale(&new_rs, replicas, world);
            }
        } else {
            let ru = strategy.and_then(|s| s.rolling_update.as_ref());
            let surge = resolve(ru.and_then(|r| r.max_surge.as_ref()), replicas, true, "25%");
            let mut unavailable = resolve(
                ru.and_then(|r| r.max_unavailable.as_ref()),
                replicas,
                false,
                "25%",
            );
            if surge == 0 && unavailable == 0 {
                unavailable = 1;
            }
            let total: i32 = owned.iter().map(|r| rs_replicas(r)).sum();
            let new_count = rs_replicas(&new_rs);
            if olds.iter().all(|r| rs_replicas(r) == 0) {
                // No rollout in progress: the new ReplicaSet simply follows the replica count.
                scale(&new_rs, replicas, world);
            } else {
                // Scale up the new ReplicaSet within the surge.
                let max_total = replicas + surge;
                if new_count < replicas && total < max_total {
                    let to = (new_count + (max_total - total)).min(replicas);
                    scale(&new_rs, to, world);
                } else if new_count > replicas {
                    scale(&new_rs, replicas, world);
                }
                // Scale down old ReplicaSets within the availability budget.
                let min_available = replicas - unavailable;
                let new_unavailable = (rs_replicas(&new_rs) - rs_available(&new_rs)).max(0);
                let all_pods: i32 = owned.iter().map(|r| rs_replicas(r)).sum();
                let mut max_scaled_down = (all_pods - min_available - new_unavailable).max(0);
                // First old replicas that are not available anyway.
                let mut olds_sorted = olds.clone();
                olds_sorted.sort_by_key(|r| revision(r));
                let mut cleaned: Vec<(Arc<ReplicaSet>, i32)> = Vec::new();
                for rs in &olds_sorted {
                    let cur = rs_replicas(rs);
                    let unhealthy = (cur - rs_available(rs)).max(0);
                    let cut = unhealthy.min(max_scaled_down);
                    max_scaled_down -= cut;
                    cleaned.push((rs.clone(), cur - cut));
                }
                let total_available: i32 = owned.iter().map(|r| rs_available(r)).sum();
                let mut budget = (total_available - min_available).max(0);
                for (rs, target) in &mut cleaned {
                    let avail = rs_available(rs).min(*target);
                    let cut = avail.min(budget).min(*target);
                    budget -= cut;
                    *target -= cut;
                    scale(rs, *target, world);
                }
            }
        }
    }

    // History cleanup beyond revisionHistoryLimit.
    let limit = spec.revision_history_limit.unwrap_or(10) as usize;
    let mut dead: Vec<&Arc<ReplicaSet>> = olds
        .iter()
        .filter(|r| rs_replicas(r) == 0 && r.status.as_ref().map_or(0, |s| s.replicas) == 0)
        .collect();
    if dead.len() > limit {
        dead.sort_by_key(|r| revision(r));
        for rs in &dead[..dead.len() - limit] {
            let _ = store.delete(
                resources::of::<ReplicaSet>(),
                &ns,
                rs.metadata.name.as_deref().unwrap_or(""),
                &DeleteOptions::default(),
            );
        }
    }

    // Status, from fresh ReplicaSets.
    let fresh: Vec<Arc<ReplicaSet>> = owned
        .iter()
        .filter_map(|r| {
            store.get_typed::<ReplicaSet>(&ns, r.metadata.name.as_deref().unwrap_or(""))
        })
        .collect();
    let st = |f: fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> Option<i32>| -> i32 {
        fresh
            .iter()
            .filter_map(|r| r.status.as_ref())
            .map(|s| f(s).unwrap_or(0))
            .sum()
    };
    let total_replicas: i32 = fresh
        .iter()
        .filter_map(|r| r.status.as_ref())
        .map(|s| s.replicas)
        .sum();
    let ready = st(|s| s.ready_replicas);
    let available = st(|s| s.available_replicas);
    let new_fresh = fresh
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(new_name.as_str()));
    let updated = new_fresh
        .and_then(|r| r.status.as_ref())
        .map_or(0, |s| s.replicas);
    let new_available = new_fresh.map_or(0, |r| rs_available(r));
    let ru = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    let max_unavailable = resolve(
        ru.and_then(|r| r.max_unavailable.as_ref()),
        replicas,
        false,
        "25%",
    );
    let complete = updated == replicas && total_replicas == replicas && new_available == replicas;
    let key = format!("{ns}/{name}");
    let fingerprint = format!(
        "{new_name}:{updated}:{new_available}:{total_replicas}:{}",
        d.metadata.generation.unwrap_or(0)
    );
    let deadline = spec.progress_deadline_seconds.unwrap_or(600) as i64 * 1000;
    let old_status = d.status.clone().unwrap_or_default();
    let old_progressing = old_status
        .conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_ == "Progressing"))
        .cloned();
    let (progressing_status, progressing_reason, progressing_msg, mut last_update) = {
        let entry = world
            .progress
            .entry(key.clone())
            .or_insert((now, String::new()));
        let progressed = entry.1 != fingerprint;
        if progressed {
            *entry = (now, fingerprint.clone());
        }
        let since = entry.0;
        // A Deployment that completed its rollout cannot time out until the next one: pods
        // failing later leave `NewReplicaSetAvailable` in place, as the real controller does.
        let completed_this_revision = old_progressing.as_ref().is_some_and(|c| {
            c.reason.as_deref() == Some("NewReplicaSetAvailable")
                && c.message
                    .as_deref()
                    .is_some_and(|m| m.contains(&format!("\"{new_name}\"")))
        });
        if complete || completed_this_revision {
            (
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{new_name}\" has successfully progressed."),
                since,
            )
        } else if now - since > deadline {
            (
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                since,
            )
        } else if new_fresh.is_some_and(|r| {
            r.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_millisecond())
                == Some(now)
        }) {
            (
                "True",
                "NewReplicaSetCreated",
                format!("Created new replica set \"{new_name}\""),
                since,
            )
        } else {
            (
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{new_name}\" is progressing."),
                since,
            )
        }
    };
    // Once timed out, the condition stays until the next progress.
    if let Some(old) = &old_progressing
        && old.reason.as_deref() == Some("ProgressDeadlineExceeded")
        && progressing_reason == "ReplicaSetUpdated"
    {
        last_update = old
            .last_update_time
            .as_ref()
            .map_or(last_update, |t| t.0.as_millisecond());
    }
    let transition = |t: &str, status: &str| -> String {
        old_status
            .conditions
            .as_ref()
            .and_then(|c| c.iter().find(|c| c.type_ == t))
            .filter(|c| c.status == status)
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| rfc3339(t.0.as_millisecond()))
            .unwrap_or_else(|| rfc3339(now))
    };
    let avail_ok = available >= replicas - max_unavailable;
    let avail_status = if avail_ok { "True" } else { "False" };
    let status = json!({
        "observedGeneration": d.metadata.generation.unwrap_or(1),
        "replicas": total_replicas,
        "updatedReplicas": updated,
        "readyReplicas": if ready > 0 { Some(ready) } else { None },
        "availableReplicas": if available > 0 { Some(available) } else { None },
        "unavailableReplicas": if replicas - available > 0 { Some(replicas - available) } else { None },
        "conditions": [
            {
                "type": "Available",
                "status": avail_status,
                "lastUpdateTime": transition("Available", avail_status),
                "lastTransitionTime": transition("Available", avail_status),
                "reason": if avail_ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                "message": if avail_ok { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
            },
            {
                "type": "Progressing",
                "status": progressing_status,
                "lastUpdateTime": rfc3339(last_update),
                "lastTransitionTime": transition("Progressing", progressing_status),
                "reason": progressing_reason,
                "message": progressing_msg,
            },
        ],
    });
    let mut v = json!({"metadata": {"name": name, "namespace": ns}, "status": strip_nulls(status)});
    let mut annotations = d.metadata.annotations.clone().unwrap_or_default();
    let rev = revision(new_fresh.map(|r| r.as_ref()).unwrap_or(&new_rs)).to_string();
    if annotations.get(REVISION) != Some(&rev) {
        annotations.insert(REVISION.into(), rev);
        let mut full = serde_json::to_value(d).unwrap_or_default();
        full["metadata"]["annotations"] = json!(annotations);
        full["metadata"]["resourceVersion"] = json!("");
        let _ = store.update(
            resources::of::<Deployment>(),
            &ns,
            &name,
            full,
            Part::Main,
            false,
        );
    }
    v["metadata"]["resourceVersion"] = json!("");
    let _ = store.update(
        resources::of::<Deployment>(),
        &ns,
        &name,
        v,
        Part::Status,
        false,
    );
}

/// Removes `null` members so statuses look like the real API's (which omits empty fields).
pub fn strip_nulls(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
        for x in m.values_mut() {
            *x = strip_nulls(x.take());
        }
    } else if let Some(a) = v.as_array_mut() {
        for x in a.iter_mut() {
            *x = strip_nulls(x.take());
        }
    }
    v
}
