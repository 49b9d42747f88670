//! The facts the policy needs about a plan's target, read from the cluster and the record:
//! labels and exclusion, owner, replicas, how many pods an action touches, disruption budgets,
//! memory limits, and what was already done to it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ListParams;
use kube::{Api, Client};
use nightshift_core::policy::{History, Outcome, PastAction, TargetFacts};
use nightshift_core::{Action, IncidentId, ResourceRef, TimelineKind, WorkloadKind};
use nightshift_store::{ActionRecord, ActionStatus, IncidentFilter, Store};

/// Reads target facts for `action` from the cluster.
pub async fn target_facts(client: &Client, action: &Action, exclude_label: &str) -> TargetFacts {
    let mut f = TargetFacts::default();
    let Some(target) = action.target() else {
        return f;
    };
    match &target {
        ResourceRef::Workload {
            kind,
            namespace,
            name,
        } => {
            let Some(Workload {
                labels,
                replicas,
                ready,
                pod_labels,
                containers,
            }) = read_workload(client, *kind, namespace, name).await
            else {
                return f;
            };
            f.excluded = labels.get(exclude_label).is_some_and(|v| v == "true");
            f.labels = labels;
            f.owner = Some(target.clone());
            f.replicas = replicas;
            f.ready_replicas = ready;
            f.pods_touched = match action {
                // A rolling restart replaces pods one surge at a time, never all at once.
                Action::RolloutRestart { .. }
                | Action::Rollback { .. }
                | Action::SetResources { .. } => Some(1),
                Action::Scale { .. } => Some(0),
                _ => None,
            };
            for c in containers {
                if let Some(m) = c
                    .resources
                    .as_ref()
                    .and_then(|r| r.limits.as_ref())
                    .and_then(|l| l.get("memory"))
                {
                    f.memory_limits.insert(c.name.clone(), m.0.clone());
                }
            }
            f.pdb_disruptions_allowed = pdb_allowed(client, namespace, &pod_labels).await;
        }
        ResourceRef::Pod { namespace, name } => {
            let Ok(Some(p)) = Api::<Pod>::namespaced(client.clone(), namespace)
                .get_opt(name)
                .await
            else {
                return f;
            };
            f.labels = p.metadata.labels.clone().unwrap_or_default();
            f.excluded = f.labels.get(exclude_label).is_some_and(|v| v == "true");
            f.pods_touched = Some(1);
            let owner = crate::topology::pod_owner(client, &p).await;
            if let Some(ResourceRef::Workload {
                kind,
                namespace,
                name,
            }) = &owner
            {
                let found = read_workload(client, *kind, namespace, name)
                    .await
                    .map(|w| (w.replicas, w.ready, Some(w.labels)));
                if let Some((replicas, ready, labels)) = found {
                    f.replicas = replicas;
                    f.ready_replicas = ready.or(Some(0));
                    f.excluded |= labels
                        .unwrap_or_default()
                        .get(exclude_label)
                        .is_some_and(|v| v == "true");
                }
            }
            f.owner = owner;
            f.pdb_disruptions_allowed = pdb_allowed(client, namespace, &f.labels).await;
        }
        ResourceRef::Node { name } => {
            if let Ok(Some(n)) = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
                .get_opt(name)
                .await
            {
                f.labels = n.metadata.labels.clone().unwrap_or_default();
                f.excluded = f.labels.get(exclude_label).is_some_and(|v| v == "true");
            }
            let pods = Api::<Pod>::all(client.clone())
                .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            let mut ns: Vec<String> = pods
                .iter()
                .filter_map(|p| p.metadata.namespace.clone())
                .collect();
            ns.sort();
            ns.dedup();
            f.node_namespaces = ns;
            f.pods_touched = Some(pods.len() as i32);
            f.owner = Some(target.clone());
        }
        _ => {}
    }
    f
}

/// The labels of a workload or node (empty when it cannot be read, or for other resources).
pub async fn labels_of(client: &Client, target: &ResourceRef) -> BTreeMap<String, String> {
    match target {
        ResourceRef::Workload {
            kind,
            namespace,
            name,
        } => read_workload(client, *kind, namespace, name)
            .await
            .map(|w| w.labels)
            .unwrap_or_default(),
        ResourceRef::Node { name } => Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|n| n.metadata.labels)
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    }
}

/// What the policy needs of a workload object.
struct Workload {
    labels: BTreeMap<String, String>,
    replicas: Option<i32>,
    ready: Option<i32>,
    /// The labels its pods carry (its pod template's).
    pod_labels: BTreeMap<String, String>,
    containers: Vec<k8s_openapi::api::core::v1::Container>,
}

/// Reads a Deployment, StatefulSet or DaemonSet (`kind` as in [`ResourceRef::Workload`]).
async fn read_workload(
    client: &Client,
    kind: WorkloadKind,
    ns: &str,
    name: &str,
) -> Option<Workload> {
    fn of(
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        t: &k8s_openapi::api::core::v1::PodTemplateSpec,
        replicas: Option<i32>,
        ready: Option<i32>,
    ) -> Workload {
        Workload {
            labels: meta.labels.clone().unwrap_or_default(),
            replicas,
            ready,
            pod_labels: t
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default(),
            containers: t.spec.clone().map(|x| x.containers).unwrap_or_default(),
        }
    }
    match kind {
        WorkloadKind::StatefulSet => {
            let s = Api::<StatefulSet>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .ok()??;
            let spec = s.spec.clone().unwrap_or_default();
            Some(of(
                &s.metadata,
                &spec.template,
                spec.replicas,
                s.status.as_ref().and_then(|x| x.ready_replicas),
            ))
        }
        WorkloadKind::DaemonSet => {
            let d = Api::<DaemonSet>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .ok()??;
            let spec = d.spec.clone().unwrap_or_default();
            let st = d.status.as_ref();
            Some(of(
                &d.metadata,
                &spec.template,
                st.map(|x| x.desired_number_scheduled),
                st.map(|x| x.number_ready),
            ))
        }
        WorkloadKind::Deployment => {
            let d = Api::<Deployment>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .ok()??;
            let spec = d.spec.clone().unwrap_or_default();
            // A Deployment that reports no ready replicas has none.
            let ready = d.status.as_ref().and_then(|x| x.ready_replicas).or(Some(0));
            Some(of(&d.metadata, &spec.template, spec.replicas, ready))
        }
    }
}

/// The fewest disruptions any PodDisruptionBudget selecting pods with `pod_labels` allows.
async fn pdb_allowed(
    client: &Client,
    ns: &str,
    pod_labels: &BTreeMap<String, String>,
) -> Option<i32> {
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .ok()?;
    pdbs.items
        .iter()
        .filter(|p| {
            // A budget without a selector selects no pods (policy/v1).
            p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .is_some_and(|sel| crate::topology::selector_matches(sel, pod_labels))
        })
        .map(|p| p.status.as_ref().map_or(0, |s| s.disruptions_allowed))
        .min()
}

/// What was already done to `target` in the last hour, from the record. With `owner` (the
/// workload owning a pod `target`), actions on the owner and restarts of any of its pods count
/// too: a flapping workload gets a new pod after every restart, and the budget is the
/// workload's.
pub async fn history(
    store: &Store,
    target: &ResourceRef,
    owner: Option<&ResourceRef>,
    action: &Action,
    now: DateTime<Utc>,
) -> History {
    let since = now - chrono::Duration::hours(1);
    let Ok(mut records) = store.actions_for_target(target, since).await else {
        return History::default();
    };
    if let Some(owner) = owner {
        records.extend(owner_actions(store, owner, since).await);
        let mut seen = HashSet::new();
        records.retain(|r| seen.insert(r.id));
        records.sort_by_key(|r| (r.intended_at, r.id));
    }
    let mut verified: HashMap<IncidentId, HashMap<String, (bool, DateTime<Utc>)>> = HashMap::new();
    let mut h = History::default();
    for r in records {
        if !verified.contains_key(&r.incident) {
            let v = verifications(store, &r.incident).await;
            verified.insert(r.incident.clone(), v);
        }
        let verification = verified
            .get(&r.incident)
            .and_then(|v| v.get(&r.idempotency_key))
            .copied();
        // Older records carry the verification in the outcome.
        let legacy = r
            .outcome
            .as_ref()
            .and_then(|o| o.get("verified"))
            .and_then(|v| v.as_bool());
        let not_recovered = verification.map(|(ok, _)| !ok).or(legacy.map(|ok| !ok));
        let failed = r.status == ActionStatus::Failed || not_recovered == Some(true);
        let outcome = match r.status {
            _ if failed => Outcome::Failed,
            ActionStatus::Done if not_recovered == Some(false) => Outcome::Succeeded,
            _ => Outcome::Pending,
        };
        if failed {
            if r.action.name() == action.name() {
                h.same_action_failed = true;
            }
            let at = verification
                .map(|(_, at)| at)
                .or(r.finished_at)
                .unwrap_or(r.intended_at);
            if h.last_failure.is_none_or(|l| at > l) {
                h.last_failure = Some(at);
            }
        }
        h.recent.push(PastAction {
            action: r.action.name(),
            at: r.intended_at,
            outcome,
        });
    }
    h
}

/// Actions on `owner` and restarts of its pods since `since`. Restarts are found through the
/// recent incidents about the owner (a pod's incident is its owner's), which is where the
/// engine restarts a workload's pods.
async fn owner_actions(
    store: &Store,
    owner: &ResourceRef,
    since: DateTime<Utc>,
) -> Vec<ActionRecord> {
    let mut out = store
        .actions_for_target(owner, since)
        .await
        .unwrap_or_default();
    let filter = IncidentFilter {
        resource: Some(owner.clone()),
        limit: Some(20),
        ..IncidentFilter::default()
    };
    for incident in store.list(&filter).await.unwrap_or_default() {
        let actions = store
            .actions(&incident.incident.id)
            .await
            .unwrap_or_default();
        out.extend(actions.into_iter().filter(|a| {
            a.intended_at >= since
                && matches!(&a.action, Action::RestartPod { namespace, .. }
                    if Some(namespace.as_str()) == owner.namespace())
                && restarted_for(a, owner)
        }));
    }
    out
}

/// Whether a restart-pod record's outcome names `owner` as the workload it restarted a pod
/// of (a record without an outcome yet is given the benefit of the doubt: it counts).
fn restarted_for(record: &ActionRecord, owner: &ResourceRef) -> bool {
    let Some(affected) = record
        .outcome
        .as_ref()
        .and_then(|o| o.get("affected_workloads"))
        .and_then(|a| serde_json::from_value::<Vec<ResourceRef>>(a.clone()).ok())
    else {
        return true;
    };
    affected.is_empty() || affected.contains(owner)
}

/// Each verified action of an incident by idempotency key: whether the target recovered, and
/// when that was found.
async fn verifications(
    store: &Store,
    incident: &IncidentId,
) -> HashMap<String, (bool, DateTime<Utc>)> {
    let timeline = store.timeline(incident).await.unwrap_or_default();
    timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Verification)
        .filter_map(|e| {
            let key = e.data.get("key")?.as_str()?.to_string();
            let recovered = e.data.get("recovered")?.as_bool()?;
            Some((key, (recovered, e.at)))
        })
        .collect()
}
