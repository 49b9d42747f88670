//! `pods/<name>/eviction`: a deletion that respects PodDisruptionBudgets, as `kubectl drain`
//! and the cluster autoscaler use it.
//!
//! Budgets are evaluated live from the pods rather than from a budget's status: healthy pods
//! are the matching pods that are Ready and not terminating; the desired number comes from
//! `minAvailable` or `maxUnavailable` against the number of matching pods.

use axum::response::Response;
use serde_json::{Value, json};

use super::ApiState;
use super::handlers::{current, delete_options_from};
use super::request::{ObjectPath, Query, json_value};
use super::selectors::LabelSelector;
use super::status::{ApiError, success};
use crate::resources;
use crate::store::DeleteOptions;

/// `POST pods/<name>/eviction`.
pub fn serve(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut opts = DeleteOptions {
        dry_run: query.dry_run()?,
        ..DeleteOptions::default()
    };
    let eviction: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    let kind = eviction
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Eviction");
    let version = eviction
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("policy/v1");
    if kind != "Eviction" || !matches!(version, "policy/v1" | "policy/v1beta1") {
        return Err(ApiError::bad_request(format!(
            "the eviction subresource takes a policy/v1 Eviction, but the body is kind {kind:?} of apiVersion {version:?}"
        )));
    }
    if let Some(name) = eviction.pointer("/metadata/name").and_then(Value::as_str)
        && !name.is_empty()
        && name != p.name()
    {
        return Err(ApiError::bad_request(format!(
            "name in URL ({}) does not match name in Eviction object ({name})",
            p.name()
        )));
    }
    // kube-rs 5 sends the options as `delete_options`; the real server would drop that field,
    // honouring it here does what the client meant.
    let options = eviction
        .get("deleteOptions")
        .or_else(|| eviction.get("delete_options"));
    if let Some(d) = options.filter(|d| !d.is_null()) {
        delete_options_from(&mut opts, d)?;
    }
    let pod = current(state, p)?;
    check_budgets(state, p.ns(), pod.value())?;
    state
        .store
        .delete(p.rt, p.ns(), p.name(), &opts)
        .map_err(|e| ApiError::from_store(p.rt, e))?;
    Ok(json_value(201, &success(Some(201), None)))
}

fn is_healthy(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some("Ready")
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            })
}

/// Refuses the eviction (429) if it would take a matching budget below its desired number of
/// healthy pods.
fn check_budgets(state: &ApiState, ns: &str, pod: &Value) -> Result<(), ApiError> {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    // Pods that are already not running, or already going away, cost no availability.
    if matches!(phase, "Succeeded" | "Failed" | "Pending")
        || pod.pointer("/metadata/deletionTimestamp").is_some()
    {
        return Ok(());
    }
    let pdb_rt = resources::find("policy", "v1", "poddisruptionbudgets").expect("PDBs registered");
    let pods_rt = resources::find("", "v1", "pods").expect("pods registered");
    let (budgets, _) = state.store.list(pdb_rt, Some(ns));
    let mut matching = Vec::new();
    for pdb in &budgets {
        let Some(sel) = pdb
            .value()
            .pointer("/spec/selector")
            .filter(|s| !s.is_null())
        else {
            continue;
        };
        let Ok(sel) = LabelSelector::from_object(Some(sel)) else {
            continue;
        };
        if sel.matches_object(pod) {
            matching.push((pdb.clone(), sel));
        }
    }
    let (pdb, sel) = match matching.len() {
        0 => return Ok(()),
        1 => matching.remove(0),
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    };
    let (pods, _) = state.store.list(pods_rt, Some(ns));
    let selected: Vec<&Value> = pods
        .iter()
        .map(|e| e.value())
        .filter(|v| sel.matches_object(v))
        .collect();
    let expected = selected.len() as i64;
    let healthy = selected.iter().filter(|v| is_healthy(v)).count() as i64;
    let spec = &pdb.value()["spec"];
    let desired = if let Some(max) = spec.get("maxUnavailable").filter(|v| !v.is_null()) {
        (expected - scaled(max, expected)).max(0)
    } else {
        spec.get("minAvailable")
            .filter(|v| !v.is_null())
            .map_or(1, |min| scaled(min, expected))
    };
    let always_allow_unhealthy = spec
        .get("unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        == Some("AlwaysAllow");
    let allowed = if is_healthy(pod) {
        healthy - desired >= 1
    } else {
        always_allow_unhealthy || healthy >= desired
    };
    if allowed {
        return Ok(());
    }
    Err(ApiError::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    )
    .with_details(json!({"causes": [{
        "reason": "DisruptionBudget",
        "message": format!(
            "The disruption budget {} needs {desired} healthy pods and has {healthy} currently",
            pdb.name()
        ),
    }]})))
}

/// An int-or-percent value against `total` (percentages round up, as the disruption
/// controller does).
fn scaled(v: &Value, total: i64) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<i64>().ok())
        {
            Some(pct) => (pct * total + 99) / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}
