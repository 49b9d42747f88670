//! The facts the policy needs about a plan's target, read from the cluster and the record:
//! labels and exclusion, owner, replicas, how many pods an action touches, disruption budgets,
//! memory limits, and what was already done to it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ListParams;
use kube::{Api, Client};
use nightshift_core::policy::{History, Outcome, PastAction, TargetFacts};
use nightshift_core::{Action, ResourceRef};
use nightshift_store::{ActionStatus, Store};

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
            let (labels, replicas, ready, selector, containers) = match kind.as_str() {
                "StatefulSet" => match Api::<StatefulSet>::namespaced(client.clone(), namespace)
                    .get_opt(name)
                    .await
                {
                    Ok(Some(s)) => (
                        s.metadata.labels.clone().unwrap_or_default(),
                        s.spec.as_ref().and_then(|x| x.replicas),
                        s.status.as_ref().and_then(|x| x.ready_replicas),
                        s.spec
                            .as_ref()
                            .and_then(|x| x.selector.match_labels.clone()),
                        s.spec
                            .as_ref()
                            .and_then(|x| x.template.spec.clone())
                            .map(|x| x.containers)
                            .unwrap_or_default(),
                    ),
                    _ => return f,
                },
                "DaemonSet" => match Api::<DaemonSet>::namespaced(client.clone(), namespace)
                    .get_opt(name)
                    .await
                {
                    Ok(Some(s)) => (
                        s.metadata.labels.clone().unwrap_or_default(),
                        s.status.as_ref().map(|x| x.desired_number_scheduled),
                        s.status.as_ref().map(|x| x.number_ready),
                        s.spec
                            .as_ref()
                            .and_then(|x| x.selector.match_labels.clone()),
                        s.spec
                            .as_ref()
                            .and_then(|x| x.template.spec.clone())
                            .map(|x| x.containers)
                            .unwrap_or_default(),
                    ),
                    _ => return f,
                },
                _ => match Api::<Deployment>::namespaced(client.clone(), namespace)
                    .get_opt(name)
                    .await
                {
                    Ok(Some(d)) => (
                        d.metadata.labels.clone().unwrap_or_default(),
                        d.spec.as_ref().and_then(|x| x.replicas),
                        d.status.as_ref().and_then(|x| x.ready_replicas).or(Some(0)),
                        d.spec
                            .as_ref()
                            .and_then(|x| x.selector.match_labels.clone()),
                        d.spec
                            .as_ref()
                            .and_then(|x| x.template.spec.clone())
                            .map(|x| x.containers)
                            .unwrap_or_default(),
                    ),
                    _ => return f,
                },
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
            f.pdb_disruptions_allowed = pdb_allowed(client, namespace, selector.as_ref()).await;
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
            if let Some(o) = p
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true))
            {
                let owner = match o.kind.as_str() {
                    "ReplicaSet" => o
                        .name
                        .rsplit_once('-')
                        .map(|(d, _)| ResourceRef::deployment(namespace, d)),
                    k @ ("StatefulSet" | "DaemonSet") => Some(ResourceRef::Workload {
                        kind: k.into(),
                        namespace: namespace.clone(),
                        name: o.name.clone(),
                    }),
                    _ => None,
                };
                if let Some(ResourceRef::Workload {
                    kind,
                    namespace,
                    name,
                }) = &owner
                {
                    let found = match kind.as_str() {
                        "Deployment" => Api::<Deployment>::namespaced(client.clone(), namespace)
                            .get_opt(name)
                            .await
                            .ok()
                            .flatten()
                            .map(|d| {
                                (
                                    d.spec.as_ref().and_then(|x| x.replicas),
                                    d.status.as_ref().and_then(|x| x.ready_replicas),
                                    d.metadata.labels.clone(),
                                )
                            }),
                        "StatefulSet" => Api::<StatefulSet>::namespaced(client.clone(), namespace)
                            .get_opt(name)
                            .await
                            .ok()
                            .flatten()
                            .map(|d| {
                                (
                                    d.spec.as_ref().and_then(|x| x.replicas),
                                    d.status.as_ref().and_then(|x| x.ready_replicas),
                                    d.metadata.labels.clone(),
                                )
                            }),
                        _ => Api::<DaemonSet>::namespaced(client.clone(), namespace)
                            .get_opt(name)
                            .await
                            .ok()
                            .flatten()
                            .map(|d| {
                                (
                                    d.status.as_ref().map(|x| x.desired_number_scheduled),
                                    d.status.as_ref().map(|x| x.number_ready),
                                    d.metadata.labels.clone(),
                                )
                            }),
                    };
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
            }
            f.pdb_disruptions_allowed = pdb_allowed(client, namespace, Some(&f.labels)).await;
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

async fn pdb_allowed(
    client: &Client,
    ns: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<i32> {
    let labels = labels?;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .ok()?;
    pdbs.items
        .iter()
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.match_labels.as_ref())
                .is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
        .map(|p| p.status.as_ref().map_or(0, |s| s.disruptions_allowed))
        .min()
}

/// What was already done to `target` in the last hour, from the record.
pub async fn history(
    store: &Store,
    target: &ResourceRef,
    action: &Action,
    now: DateTime<Utc>,
) -> History {
    let since = now - chrono::Duration::hours(1);
    let Ok(records) = store.actions_for_target(target, since).await else {
        return History::default();
    };
    let mut h = History::default();
    for r in records {
        let failed = r.status == ActionStatus::Failed
            || r.outcome
                .as_ref()
                .and_then(|o| o.get("verified"))
                .and_then(|v| v.as_bool())
                == Some(false);
        let outcome = match r.status {
            ActionStatus::Failed => Outcome::Failed,
            _ if failed => Outcome::Failed,
            ActionStatus::Done => Outcome::Succeeded,
            _ => Outcome::Pending,
        };
        if failed {
            if r.action.name() == action.name() {
                h.same_action_failed = true;
            }
            let at = r.finished_at.unwrap_or(r.intended_at);
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
