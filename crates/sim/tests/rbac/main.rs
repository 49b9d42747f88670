//! Authentication and RBAC on the simulated API server: service account tokens, Roles and
//! ClusterRoles bound in a namespace or cluster-wide, subresources, resource names, denials
//! worded as kube-apiserver's ([`authz`]); unknown tokens, anonymous callers and the open
//! server that enforces nothing ([`authn`]), through kube-rs and plain HTTP; real kubectl and
//! a least-privilege chart ([`kubectl`]).

#[path = "../common/mod.rs"]
mod common;

mod authn;
mod authz;
mod kubectl;

use std::sync::Arc;

use common::{TestServer, node, pod, start_with, store};
use nightshift_sim::api::auth::Access;
use serde_json::{Value, json};

pub const RBAC: &str = "rbac.authorization.k8s.io";
pub const AGENT: &str = "system:serviceaccount:default:agent";

/// A server enforcing RBAC, with namespaces `default` and `shop`, service accounts
/// `default/agent` and `default/healer`, node `node-a` and pod `default/x`.
pub async fn enforcing() -> (TestServer, Arc<Access>) {
    let access = Arc::new(Access::rbac());
    let a = access.clone();
    let server = start_with(store(), move |s| s.set_access(a).expect("bootstrap policy")).await;
    server.put(
        "",
        "v1",
        "namespaces",
        json!({"metadata": {"name": "shop"}}),
    );
    for sa in ["agent", "healer"] {
        server.put(
            "",
            "v1",
            "serviceaccounts",
            json!({"metadata": {"name": sa, "namespace": "default"}}),
        );
    }
    server.put("", "v1", "nodes", node("node-a"));
    server.put("", "v1", "pods", pod("x", json!({"app": "x"}), "node-a"));
    (server, access)
}

pub fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

/// Grants `rules` to a service account of `default`: a Role and RoleBinding in `ns`, or a
/// ClusterRole with a RoleBinding in `ns`, or with a ClusterRoleBinding when `ns` is empty.
pub fn grant(
    server: &TestServer,
    name: &str,
    sa: &str,
    cluster_role: bool,
    ns: &str,
    rules: Value,
) {
    let role_kind = if cluster_role { "ClusterRole" } else { "Role" };
    let mut role = json!({"metadata": {"name": name}, "rules": rules});
    if !cluster_role {
        role["metadata"]["namespace"] = json!(ns);
    }
    let plural = if cluster_role {
        "clusterroles"
    } else {
        "roles"
    };
    server.put(RBAC, "v1", plural, role);
    let mut binding = json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": "default"}],
    });
    let plural = if ns.is_empty() {
        "clusterrolebindings"
    } else {
        binding["metadata"]["namespace"] = json!(ns);
        "rolebindings"
    };
    server.put(RBAC, "v1", plural, binding);
}

/// The HTTP code and message of a failed kube-rs call.
pub fn denied<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(s)) => (s.code, s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// `(code, body)` of a plain HTTP request with an optional bearer token.
pub async fn http(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let client = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let mut req = client.request(method.parse().unwrap(), format!("{}{path}", server.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let code = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn forbidden(verb: &str, what: &str, group: &str, scope: &str) -> String {
    format!("User \"{AGENT}\" cannot {verb} resource \"{what}\" in API group \"{group}\" {scope}")
}
