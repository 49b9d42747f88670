//! Node actions: cordon and uncordon (`spec.unschedulable`, patched directly because kube-rs's
//! helpers take no dry-run parameter) and drain (cordon, then evict every pod except DaemonSet
//! and mirror pods, as `kubectl drain` does; bare pods are reported and left, as kubectl does
//! without `--force`).

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use super::error::api_code;
use super::target::{self, annotation, controller_of, to_json};
use super::{
    ACTION_ID_ANNOTATION, ActError, Actuator, Disruption, Plan, PodDisruption, PodTarget, Step,
    disruption, stamped,
};

/// The annotation the kubelet puts on the API copy of a static pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Reads a node as JSON.
pub(crate) async fn get(actuator: &Actuator, node: &str) -> Result<Value, ActError> {
    let api: Api<Node> = Api::all(actuator.client.clone());
    match api.get(node).await {
        Ok(n) => to_json(&n, &format!("node {node}")),
        Err(e) if api_code(&e) == Some(404) => Err(ActError::NodeNotFound {
            node: node.to_string(),
        }),
        Err(source) => Err(ActError::GetNode {
            node: node.to_string(),
            source,
        }),
    }
}

/// The idempotency key stamped on a node.
pub(crate) fn stamp_of(node: &Value) -> Option<&str> {
    annotation(node, ACTION_ID_ANNOTATION)
}

fn cordoned(node: &Value) -> bool {
    node.pointer("/spec/unschedulable") == Some(&json!(true))
}

/// cordon (`unschedulable: true`) or uncordon (the field removed, as kubectl's patch does).
pub(crate) async fn plan_cordon(
    actuator: &Actuator,
    node: &str,
    unschedulable: bool,
    key: Option<&str>,
) -> Result<Plan, ActError> {
    let before = get(actuator, node).await?;
    let verb = if unschedulable { "cordon" } else { "uncordon" };
    let already = if cordoned(&before) == unschedulable {
        " (it already is)"
    } else {
        ""
    };
    let value = if unschedulable {
        json!(true)
    } else {
        Value::Null
    };
    let mut plan = Plan::new(
        format!("{verb} node {node}{already}"),
        Some(nightshift_core::ResourceRef::node(node)),
    );
    plan.steps.push(Step::PatchNode {
        node: node.to_string(),
        before,
        patch: stamped(json!({"spec": {"unschedulable": value}}), key, &[]),
    });
    Ok(plan)
}

/// What a drain does with a pod.
enum Treatment {
    Evict,
    Skip(String),
}

fn treatment(pod: &Pod) -> Treatment {
    if pod.metadata.deletion_timestamp.is_some() {
        return Treatment::Skip("already terminating".into());
    }
    if pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
    {
        return Treatment::Skip("mirror pod of a static pod; the kubelet owns it".into());
    }
    match controller_of(pod) {
        Some((_, kind, _)) if kind == "DaemonSet" => {
            Treatment::Skip("DaemonSet pod; its controller would put it back".into())
        }
        Some(_) => Treatment::Evict,
        None => Treatment::Skip(
            "bare pod: no controller would recreate it, so it is left for a person".into(),
        ),
    }
}

/// Whether a drain evicts this pod: controller-owned, not a DaemonSet or mirror pod, not
/// already terminating.
pub(crate) fn evictable(pod: &Pod) -> bool {
    matches!(treatment(pod), Treatment::Evict)
}

async fn pods_on(actuator: &Actuator, node: &str) -> Result<Vec<Pod>, ActError> {
    let api: Api<Pod> = Api::all(actuator.client.clone());
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    Ok(api
        .list(&lp)
        .await
        .map_err(|source| ActError::List {
            what: format!("pods on node {node}"),
            source,
        })?
        .items)
}

/// drain: the cordon patch (stamped), then one eviction per evictable pod.
pub(crate) async fn plan_drain(
    actuator: &Actuator,
    node: &str,
    key: Option<&str>,
) -> Result<Plan, ActError> {
    let mut plan = plan_cordon(actuator, node, true, key).await?;
    let mut evicted = 0;
    for pod in pods_on(actuator, node).await? {
        let owner = target::owner_of(&actuator.client, &pod)
            .await?
            .and_then(|o| o.to_ref());
        let target = PodTarget {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            owner: owner.clone(),
        };
        match treatment(&pod) {
            Treatment::Evict => {
                evicted += 1;
                if let Some(o) = owner
                    && !plan.affected.contains(&o)
                {
                    plan.affected.push(o);
                }
                plan.steps.push(Step::Evict {
                    pod: target,
                    drain: true,
                });
            }
            Treatment::Skip(reason) => {
                plan.skipped
                    .push(disruption(&target, Disruption::Skipped { reason }, 0))
            }
        }
    }
    plan.summary = format!(
        "drain node {node}: cordon it and evict {evicted} pod{} ({} left alone)",
        if evicted == 1 { "" } else { "s" },
        plan.skipped.len()
    );
    Ok(plan)
}

/// Applied when the node carries the key and no evictable pod is left on it; an interrupted
/// drain is therefore finished by running it again, never repeated.
pub(crate) async fn drain_applied(
    actuator: &Actuator,
    node: &str,
    key: &str,
) -> Result<bool, ActError> {
    let n = get(actuator, node).await?;
    if stamp_of(&n) != Some(key) {
        return Ok(false);
    }
    let left = pods_on(actuator, node)
        .await?
        .iter()
        .filter(|p| evictable(p))
        .count();
    Ok(left == 0)
}

/// Evicts every pod, retrying those a disruption budget refuses with exponential back-off in
/// real time, and reports the ones still refused after the last round.
pub(crate) async fn evict_with_retries(
    actuator: &Actuator,
    pods: &[PodTarget],
) -> Vec<PodDisruption> {
    let policy = actuator.retry;
    let mut done = Vec::new();
    let mut pending: Vec<(PodTarget, String)> =
        pods.iter().map(|p| (p.clone(), String::new())).collect();
    let mut sent_rounds = 0;
    let mut delay = policy.initial_backoff;
    let attempts = policy.attempts.max(1);
    for round in 1..=attempts {
        sent_rounds = round;
        let mut refused = Vec::new();
        for (pod, _) in pending {
            match actuator.evict_once(&pod, false).await {
                Disruption::Blocked { reason } => refused.push((pod, reason)),
                result => done.push(disruption(&pod, result, round)),
            }
        }
        pending = refused;
        if pending.is_empty() || round == attempts {
            break;
        }
        tracing::info!(
            pods = pending.len(),
            wait_ms = delay.as_millis() as u64,
            "disruption budgets refuse some evictions; retrying"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(policy.max_backoff);
    }
    for (pod, reason) in pending {
        done.push(disruption(
            &pod,
            Disruption::Blocked {
                reason: format!("{reason} (still refused after {sent_rounds} attempts)"),
            },
            sent_rounds,
        ));
    }
    done
}
