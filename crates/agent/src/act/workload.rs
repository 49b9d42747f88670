//! Workload actions that patch the workload itself: rollout-restart (the template annotation
//! `kubectl rollout restart` sets), scale (the `/scale` subresource) and set-resources (a
//! strategic merge patch of one container's resources).

use std::sync::LazyLock;

use chrono::{SecondsFormat, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use nightshift_core::ActionName;
use nightshift_core::action::ResourceChange;
use regex::Regex;
use serde_json::{Map, Value, json};

use super::target::{Kind, Workload};
use super::{
    ActError, Actuator, Body, Plan, RESTARTED_AT_ANNOTATION, Step, stamped, stamped_template,
};

/// Refuses to restart or roll back a paused Deployment, as kubectl does: the controller would
/// not act on the new template until someone resumes it.
pub(crate) fn refuse_paused(w: &Workload, obj: &Value, action: ActionName) -> Result<(), ActError> {
    if w.kind == Kind::Deployment && obj.pointer("/spec/paused") == Some(&json!(true)) {
        return Err(ActError::Paused {
            workload: w.to_string(),
            action,
        });
    }
    Ok(())
}

fn patch_step(actuator: &Actuator, w: &Workload, before: Value, body: Body) -> Step {
    Step::Patch {
        api: w.api(&actuator.client),
        name: w.name.clone(),
        object: w.object(),
        describe: w.to_string(),
        before,
        body,
    }
}

/// rollout-restart: a new `kubectl.kubernetes.io/restartedAt` in the pod template, which the
/// controller rolls out like any template change.
pub(crate) async fn plan_restart(
    actuator: &Actuator,
    w: &Workload,
    key: Option<&str>,
) -> Result<Plan, ActError> {
    let obj = w.get(&actuator.client).await?;
    refuse_paused(w, &obj, ActionName::RolloutRestart)?;
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let patch = stamped_template(
        json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: at}}}}}),
        key,
    );
    let mut plan = Plan::new(
        format!("restart every pod of {w} (restartedAt {at})"),
        Some(w.to_ref()),
    );
    plan.affected.push(w.to_ref());
    plan.steps
        .push(patch_step(actuator, w, obj, Body::Strategic(patch)));
    Ok(plan)
}

/// scale: the `/scale` subresource, then (for real runs) the stamp in a metadata patch, since a
/// `Scale` carries no annotations.
pub(crate) async fn plan_scale(
    actuator: &Actuator,
    w: &Workload,
    replicas: i32,
    key: Option<&str>,
) -> Result<Plan, ActError> {
    if w.kind == Kind::DaemonSet {
        return Err(ActError::NotScalable {
            workload: w.to_string(),
        });
    }
    if replicas < 0 {
        return Err(ActError::InvalidReplicas {
            workload: w.to_string(),
            replicas,
        });
    }
    let obj = w.get(&actuator.client).await?;
    let from = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut plan = Plan::new(
        format!("scale {w} from {from} to {replicas} replicas"),
        Some(w.to_ref()),
    );
    plan.affected.push(w.to_ref());
    plan.steps.push(Step::Scale {
        api: w.api(&actuator.client),
        name: w.name.clone(),
        object: w.object(),
        describe: w.to_string(),
        from,
        to: replicas,
    });
    if key.is_some() {
        plan.steps.push(patch_step(
            actuator,
            w,
            obj,
            Body::Strategic(stamped(json!({}), key, &[])),
        ));
    }
    Ok(plan)
}

static QUANTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$")
        .expect("valid quantity pattern")
});

fn resource_map(
    section: &str,
    values: &std::collections::BTreeMap<String, String>,
) -> Result<Map<String, Value>, ActError> {
    let mut out = Map::new();
    for (name, value) in values {
        if !QUANTITY.is_match(value.trim()) {
            return Err(ActError::InvalidQuantity {
                field: format!("{section}.{name}"),
                value: value.clone(),
            });
        }
        out.insert(name.clone(), json!(value.trim()));
    }
    Ok(out)
}

/// set-resources: a strategic merge patch of the named container's `resources` (containers
/// merge by name, so the others are untouched; unnamed resources keep their values).
pub(crate) async fn plan_resources(
    actuator: &Actuator,
    w: &Workload,
    container: &str,
    change: &ResourceChange,
    key: Option<&str>,
) -> Result<Plan, ActError> {
    if change.requests.is_empty() && change.limits.is_empty() {
        return Err(ActError::EmptyResourceChange {
            workload: w.to_string(),
        });
    }
    let requests = resource_map("requests", &change.requests)?;
    let limits = resource_map("limits", &change.limits)?;
    let obj = w.get(&actuator.client).await?;
    let containers = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(current) = containers
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
    else {
        let available: Vec<&str> = containers
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .collect();
        return Err(ActError::ContainerNotFound {
            workload: w.to_string(),
            container: container.to_string(),
            available: available.join(", "),
        });
    };
    let mut resources = json!({});
    let mut described = Vec::new();
    for (section, map) in [("requests", &requests), ("limits", &limits)] {
        if map.is_empty() {
            continue;
        }
        for (name, to) in map {
            let from = current
                .pointer(&format!("/resources/{section}/{name}"))
                .and_then(Value::as_str)
                .unwrap_or("unset");
            described.push(format!(
                "{section}.{name} {from} → {}",
                to.as_str().unwrap_or("")
            ));
        }
        resources[section] = Value::Object(map.clone());
    }
    let patch = stamped_template(
        json!({"spec": {"template": {"spec": {"containers": [{"name": container, "resources": resources}]}}}}),
        key,
    );
    let mut plan = Plan::new(
        format!(
            "set {} of container {container} in {w}",
            described.join(", ")
        ),
        Some(w.to_ref()),
    );
    plan.affected.push(w.to_ref());
    plan.steps
        .push(patch_step(actuator, w, obj, Body::Strategic(patch)));
    Ok(plan)
}

/// A StatefulSet with the default `OrderedReady` pod management does not roll a template
/// change past a pod that is not Ready: a crash-looping pod of the old revision blocks the fix
/// for ever (Kubernetes documents this as the "forced rollback" case, where the remedy is to
/// delete the broken pods after the template is fixed). After a template change, the plan
/// therefore also evicts the StatefulSet's pods that are not Ready, so the controller
/// recreates them from the new template.
pub(crate) async fn unblock_statefulset(
    actuator: &Actuator,
    w: &Workload,
    plan: &mut Plan,
) -> Result<(), ActError> {
    if w.kind != Kind::StatefulSet || plan.nothing_to_do {
        return Ok(());
    }
    let obj = w.get(&actuator.client).await?;
    if obj
        .pointer("/spec/podManagementPolicy")
        .and_then(Value::as_str)
        == Some("Parallel")
    {
        return Ok(());
    }
    let api: Api<Pod> = Api::namespaced(actuator.client.clone(), &w.namespace);
    let mut lp = ListParams::default();
    if let Some(sel) = obj
        .pointer("/spec/selector")
        .and_then(super::label_selector)
    {
        lp = lp.labels(&sel);
    }
    let pods = api.list(&lp).await.map_err(|source| ActError::List {
        what: format!("pods of {w}"),
        source,
    })?;
    for pod in pods.items {
        let owned = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "StatefulSet" && o.name == w.name);
        if !owned || pod.metadata.deletion_timestamp.is_some() || pod_ready(&pod) {
            continue;
        }
        plan.steps.push(Step::Evict {
            pod: super::PodTarget {
                namespace: w.namespace.clone(),
                name: pod.metadata.name.clone().unwrap_or_default(),
                owner: Some(w.to_ref()),
            },
            drain: false,
        });
    }
    Ok(())
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
mod tests {
    use super::QUANTITY;

    #[test]
    fn quantities_in_kubernetes_notation() {
        for ok in ["500m", "1", "1.5", "256Mi", "1Gi", "2e3", "100k", ".5"] {
            assert!(QUANTITY.is_match(ok), "{ok}");
        }
        for bad in ["lots", "256MB", "1 Gi", "", "Mi", "1.2.3"] {
            assert!(!QUANTITY.is_match(bad), "{bad}");
        }
    }
}
