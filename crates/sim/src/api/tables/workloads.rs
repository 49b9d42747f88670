//! The workload tables: Deployments, ReplicaSets, StatefulSets, DaemonSets and the
//! ControllerRevisions they keep.

use serde_json::{Value, json};

use super::format::{human_duration, int_at, labels_text, parse_ms, str_at};
use super::{Column, I, S};
use crate::api::selectors::LabelSelector;

/// The columns of `kubectl get deployments`.
pub(super) const DEPLOYMENT_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Ready", S, 0),
    ("Up-to-date", I, 0),
    ("Available", I, 0),
    ("Age", S, 0),
    ("Containers", S, 1),
    ("Images", S, 1),
    ("Selector", S, 1),
];

/// The columns of `kubectl get replicasets`.
pub(super) const REPLICA_SET_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Desired", I, 0),
    ("Current", I, 0),
    ("Ready", I, 0),
    ("Age", S, 0),
    ("Containers", S, 1),
    ("Images", S, 1),
    ("Selector", S, 1),
];

/// The columns of `kubectl get jobs`.
pub(super) const JOB_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Status", S, 0),
    ("Completions", S, 0),
    ("Duration", S, 0),
    ("Age", S, 0),
    ("Containers", S, 1),
    ("Images", S, 1),
    ("Selector", S, 1),
];

/// The columns of `kubectl get statefulsets`.
pub(super) const STATEFUL_SET_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Ready", S, 0),
    ("Age", S, 0),
    ("Containers", S, 1),
    ("Images", S, 1),
];

/// The columns of `kubectl get daemonsets`.
pub(super) const DAEMON_SET_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Desired", I, 0),
    ("Current", I, 0),
    ("Ready", I, 0),
    ("Up-to-date", I, 0),
    ("Available", I, 0),
    ("Node Selector", S, 0),
    ("Age", S, 0),
    ("Containers", S, 1),
    ("Images", S, 1),
    ("Selector", S, 1),
];

/// The columns of `kubectl get controllerrevisions`.
pub(super) const CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Controller", S, 0),
    ("Revision", I, 0),
    ("Age", S, 0),
];

pub(super) fn deployment(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        json!(format!(
            "{}/{}",
            int_at(o, "/status/readyReplicas"),
            int_at(o, "/spec/replicas")
        )),
        json!(int_at(o, "/status/updatedReplicas")),
        json!(int_at(o, "/status/availableReplicas")),
        age,
        json!(containers(o, "name")),
        json!(containers(o, "image")),
        json!(selector_text(o.pointer("/spec/selector"))),
    ]
}

pub(super) fn replica_set(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        json!(int_at(o, "/spec/replicas")),
        json!(int_at(o, "/status/replicas")),
        json!(int_at(o, "/status/readyReplicas")),
        age,
        json!(containers(o, "name")),
        json!(containers(o, "image")),
        json!(selector_text(o.pointer("/spec/selector"))),
    ]
}

pub(super) fn replication_controller(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        json!(int_at(o, "/spec/replicas")),
        json!(int_at(o, "/status/replicas")),
        json!(int_at(o, "/status/readyReplicas")),
        age,
        json!(containers(o, "name")),
        json!(containers(o, "image")),
        json!(labels_text(o.pointer("/spec/selector"))),
    ]
}

/// A Job's row, as the 1.34 printer words its status, completions and duration.
pub(super) fn job(o: &Value, name: Value, age: Value, now: i64) -> Vec<Value> {
    let has = |t: &str| {
        o.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let succeeded = int_at(o, "/status/succeeded");
    let completions = match (
        o.pointer("/spec/completions").and_then(Value::as_i64),
        o.pointer("/spec/parallelism").and_then(Value::as_i64),
    ) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, Some(p)) if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    };
    let start = o
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(parse_ms);
    let end = o
        .pointer("/status/completionTime")
        .and_then(Value::as_str)
        .and_then(parse_ms);
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration(now - s),
        (Some(s), Some(e)) => human_duration(e - s),
    };
    vec![
        name,
        json!(status),
        json!(completions),
        json!(duration),
        age,
        json!(containers(o, "name")),
        json!(containers(o, "image")),
        json!(selector_text(o.pointer("/spec/selector"))),
    ]
}

pub(super) fn stateful_set(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        json!(format!(
            "{}/{}",
            int_at(o, "/status/readyReplicas"),
            int_at(o, "/spec/replicas")
        )),
        age,
        json!(containers(o, "name")),
        json!(containers(o, "image")),
    ]
}

pub(super) fn daemon_set(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        json!(int_at(o, "/status/desiredNumberScheduled")),
        json!(int_at(o, "/status/currentNumberScheduled")),
        json!(int_at(o, "/status/numberReady")),
        json!(int_at(o, "/status/updatedNumberScheduled")),
        json!(int_at(o, "/status/numberAvailable")),
        json!(labels_text(o.pointer("/spec/template/spec/nodeSelector"))),
        age,
        json!(containers(o, "name")),
        json!(containers(o, "image")),
        json!(selector_text(o.pointer("/spec/selector"))),
    ]
}

pub(super) fn controller_revision(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let controller = owner_refs(o)
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| {
            let group = str_at(r, "/apiVersion")
                .split_once('/')
                .map(|(g, _)| g)
                .unwrap_or("");
            let kind = str_at(r, "/kind").to_lowercase();
            let kind = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            format!("{kind}/{}", str_at(r, "/name"))
        })
        .unwrap_or_else(|| "<none>".into());
    vec![name, json!(controller), json!(int_at(o, "/revision")), age]
}

fn owner_refs(o: &Value) -> impl Iterator<Item = &Value> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn containers(o: &Value, field: &str) -> String {
    o.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| str_at(c, &format!("/{field}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn selector_text(selector: Option<&Value>) -> String {
    match LabelSelector::from_object(selector) {
        Ok(s) if !s.is_empty() => s.to_string(),
        _ => "<none>".to_string(),
    }
}
