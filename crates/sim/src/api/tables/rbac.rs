//! The tables of RBAC objects: Roles and ClusterRoles by name and creation time, RoleBindings
//! and ClusterRoleBindings with the role they grant and, with `-o wide`, to whom.

use serde_json::{Value, json};

use super::format::str_at;
use super::{Column, S};

/// The columns of `kubectl get roles` and `kubectl get clusterroles`.
pub(super) const ROLE_COLUMNS: &[Column] = &[("Name", S, 0), ("Created At", "date", 0)];

/// The columns of `kubectl get rolebindings` and `kubectl get clusterrolebindings`.
pub(super) const BINDING_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Role", S, 0),
    ("Age", S, 0),
    ("Users", S, 1),
    ("Groups", S, 1),
    ("ServiceAccounts", S, 1),
];

pub(super) fn role(o: &Value, name: Value) -> Vec<Value> {
    vec![name, json!(str_at(o, "/metadata/creationTimestamp"))]
}

pub(super) fn binding(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let subjects = o
        .get("subjects")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let of_kind = |kind: &str| -> String {
        subjects
            .iter()
            .filter(|s| str_at(s, "/kind") == kind)
            .map(|s| match kind {
                "ServiceAccount" => format!("{}/{}", str_at(s, "/namespace"), str_at(s, "/name")),
                _ => str_at(s, "/name").to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        name,
        json!(format!(
            "{}/{}",
            str_at(o, "/roleRef/kind"),
            str_at(o, "/roleRef/name")
        )),
        age,
        json!(of_kind("User")),
        json!(of_kind("Group")),
        json!(of_kind("ServiceAccount")),
    ]
}
