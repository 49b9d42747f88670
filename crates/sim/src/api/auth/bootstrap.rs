//! The bootstrap policy kube-apiserver writes at start: `cluster-admin` for
//! `system:masters`, discovery and the public information (`/healthz`, `/version`) for every
//! authenticated caller, the public information for anonymous ones too, and self reviews
//! (`kubectl auth can-i`) for every authenticated caller. Without these, kubectl and kube-rs
//! could not discover the API with a service account's token.

use serde_json::{Value, json};

use crate::resources;
use crate::store::{Store, StoreError};

/// The paths `system:discovery` lets callers read.
const DISCOVERY_URLS: &[&str] = &[
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
];

/// The paths `system:public-info-viewer` lets anyone read.
const PUBLIC_URLS: &[&str] = &["/healthz", "/livez", "/readyz", "/version", "/version/"];

fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"metadata": meta(name), "rules": rules})
}

fn binding(name: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
        .collect();
    json!({
        "metadata": meta(name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": subjects,
    })
}

/// The bootstrap ClusterRoles and their ClusterRoleBindings.
pub fn policy() -> (Vec<Value>, Vec<Value>) {
    let roles = vec![
        cluster_role(
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
        ),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": DISCOVERY_URLS, "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": PUBLIC_URLS, "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ]),
        ),
    ];
    let bindings = vec![
        binding("cluster-admin", &["system:masters"]),
        binding("system:discovery", &["system:authenticated"]),
        binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
        binding("system:basic-user", &["system:authenticated"]),
    ];
    (roles, bindings)
}

/// Writes the bootstrap policy into `store`, leaving objects that already exist as they are.
pub fn seed(store: &Store) -> Result<(), StoreError> {
    let (roles, bindings) = policy();
    let role_type = resources::find("rbac.authorization.k8s.io", "v1", "clusterroles")
        .expect("RBAC types are registered");
    let binding_type = resources::find("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
        .expect("RBAC types are registered");
    for (rt, obj) in roles
        .into_iter()
        .map(|o| (role_type, o))
        .chain(bindings.into_iter().map(|o| (binding_type, o)))
    {
        match store.create(rt, "", obj, false) {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
