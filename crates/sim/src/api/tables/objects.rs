//! The tables of the smaller objects: Namespaces, ConfigMaps, Secrets, ServiceAccounts,
//! PodDisruptionBudgets, Leases, NetworkPolicies, and the Name/Age table of every other kind.

use serde_json::{Value, json};

use crate::api::selectors::LabelSelector;

use super::format::{int_at, len_at, str_at};
use super::{Column, I, S};

/// The columns of `kubectl get namespaces`.
pub(super) const NAMESPACE_COLUMNS: &[Column] = &[("Name", S, 0), ("Status", S, 0), ("Age", S, 0)];

/// The columns of `kubectl get configmaps`.
pub(super) const CONFIG_MAP_COLUMNS: &[Column] = &[("Name", S, 0), ("Data", I, 0), ("Age", S, 0)];

/// The columns of `kubectl get secrets`.
pub(super) const SECRET_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Type", S, 0),
    ("Data", I, 0),
    ("Age", S, 0),
];

/// The columns of `kubectl get serviceaccounts`.
pub(super) const SERVICE_ACCOUNT_COLUMNS: &[Column] =
    &[("Name", S, 0), ("Secrets", I, 0), ("Age", S, 0)];

/// The columns of `kubectl get poddisruptionbudgets`.
pub(super) const POD_DISRUPTION_BUDGET_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Min Available", S, 0),
    ("Max Unavailable", S, 0),
    ("Allowed Disruptions", I, 0),
    ("Age", S, 0),
];

/// The columns of `kubectl get leases`.
pub(super) const LEASE_COLUMNS: &[Column] = &[("Name", S, 0), ("Holder", S, 0), ("Age", S, 0)];

/// The columns of `kubectl get networkpolicies`.
pub(super) const NETWORK_POLICY_COLUMNS: &[Column] =
    &[("Name", S, 0), ("Pod-Selector", S, 0), ("Age", S, 0)];

/// The columns of every kind without a printer of its own.
pub(super) const DEFAULT_COLUMNS: &[Column] = &[("Name", S, 0), ("Age", S, 0)];

pub(super) fn namespace(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![name, json!(str_at(o, "/status/phase")), age]
}

pub(super) fn config_map(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        json!(len_at(o, "/data") + len_at(o, "/binaryData")),
        age,
    ]
}

pub(super) fn secret(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        json!(str_at(o, "/type")),
        json!(len_at(o, "/data")),
        age,
    ]
}

pub(super) fn service_account(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![name, json!(len_at(o, "/secrets")), age]
}

pub(super) fn pod_disruption_budget(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let text = |p: &str| match o.pointer(p) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".to_string(),
    };
    vec![
        name,
        json!(text("/spec/minAvailable")),
        json!(text("/spec/maxUnavailable")),
        json!(int_at(o, "/status/disruptionsAllowed")),
        age,
    ]
}

pub(super) fn lease(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![name, json!(str_at(o, "/spec/holderIdentity")), age]
}

pub(super) fn network_policy(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let selector = match LabelSelector::from_object(o.pointer("/spec/podSelector")) {
        Ok(s) if !s.is_empty() => s.to_string(),
        _ => "<none>".to_string(),
    };
    vec![name, json!(selector), age]
}
