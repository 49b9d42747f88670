//! Authorization: what Roles and ClusterRoles, bound in a namespace or cluster-wide, let a
//! service account do, and how a denial reads.

use common::{START_MS, deployment};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, EvictParams, ListParams, LogParams, Patch, PatchParams};
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_role_lets_a_service_account_read_pods_and_nothing_more() {
    let (server, access) = enforcing().await;
    let token = access.mint_service_account_token("default", "agent");
    let pods: Api<Pod> = Api::namespaced(server.client_with_token(&token), "default");
    let err = denied(pods.list(&ListParams::default()).await);
    assert_eq!(
        err,
        (
            403,
            format!(
                "pods is forbidden: {}",
                forbidden("list", "pods", "", "in the namespace \"default\"")
            )
        )
    );

    grant(
        &server,
        "pod-reader",
        "agent",
        false,
        "default",
        json!([rule(&[""], &["pods"], &["get", "list", "watch"])]),
    );
    let names: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .expect("listing is granted")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(names, ["x"]);
    assert!(pods.get("x").await.is_ok());

    assert_eq!(
        denied(pods.delete("x", &DeleteParams::default()).await).0,
        403
    );
    let (code, body) = http(
        &server,
        "DELETE",
        "/api/v1/namespaces/default/pods/x",
        Some(&token),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "pods \"x\" is forbidden: User \"system:serviceaccount:default:agent\" cannot delete resource \"pods\" in API group \"\" in the namespace \"default\"",
            "reason": "Forbidden", "details": {"name": "x", "kind": "pods"}, "code": 403,
        })
    );
    assert!(
        server
            .store
            .get(nightshift_sim::resources::of::<Pod>(), "default", "x")
            .is_some()
    );

    let shop: Api<Pod> = Api::namespaced(server.client_with_token(&token), "shop");
    assert_eq!(
        denied(shop.list(&ListParams::default()).await),
        (
            403,
            format!(
                "pods is forbidden: {}",
                forbidden("list", "pods", "", "in the namespace \"shop\"")
            )
        )
    );
    let (code, _) = http(
        &server,
        "GET",
        "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1",
        Some(&token),
    )
    .await;
    assert_eq!(code, 200, "watch is granted");
    let (code, body) = http(
        &server,
        "GET",
        "/api/v1/namespaces/shop/pods?watch=true",
        Some(&token),
    )
    .await;
    assert_eq!(
        (code, &body["message"]),
        (
            403,
            &json!(format!(
                "pods is forbidden: {}",
                forbidden("watch", "pods", "", "in the namespace \"shop\"")
            ))
        )
    );
}

#[tokio::test]
async fn a_rolebinding_to_a_clusterrole_grants_only_in_its_namespace() {
    let (server, access) = enforcing().await;
    server.put("", "v1", "pods", json!({"metadata": {"name": "y", "namespace": "shop"}, "spec": {"containers": [{"name": "app", "image": "a:1"}]}}));
    grant(
        &server,
        "pod-reader",
        "agent",
        true,
        "shop",
        json!([rule(&[""], &["pods"], &["get", "list"])]),
    );
    let client = server.client_with_token(&access.mint_service_account_token("default", "agent"));

    let shop: Api<Pod> = Api::namespaced(client.clone(), "shop");
    assert_eq!(
        shop.list(&ListParams::default())
            .await
            .expect("granted in shop")
            .items
            .len(),
        1
    );
    let default: Api<Pod> = Api::namespaced(client.clone(), "default");
    assert_eq!(denied(default.get("x").await).0, 403);
    let all: Api<Pod> = Api::all(client);
    assert_eq!(
        denied(all.list(&ListParams::default()).await),
        (
            403,
            format!(
                "pods is forbidden: {}",
                forbidden("list", "pods", "", "at the cluster scope")
            )
        )
    );
}

#[tokio::test]
async fn a_clusterrolebinding_grants_everywhere() {
    let (server, access) = enforcing().await;
    grant(
        &server,
        "reader",
        "agent",
        true,
        "",
        json!([
            rule(&[""], &["pods"], &["list"]),
            rule(&[""], &["nodes"], &["get"])
        ]),
    );
    let client = server.client_with_token(&access.mint_service_account_token("default", "agent"));
    for ns in ["default", "shop"] {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        assert!(pods.list(&ListParams::default()).await.is_ok(), "{ns}");
    }
    let all: Api<Pod> = Api::all(client.clone());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    let nodes: Api<Node> = Api::all(client);
    assert!(nodes.get("node-a").await.is_ok());
    assert_eq!(
        denied(nodes.delete("node-a", &DeleteParams::default()).await),
        (
            403,
            format!(
                "nodes \"node-a\" is forbidden: {}",
                forbidden("delete", "nodes", "", "at the cluster scope")
            )
        )
    );
    let (code, body) = http(
        &server,
        "GET",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
        Some(&access.mint_service_account_token("default", "agent")),
    )
    .await;
    assert_eq!(
        (code, body["message"].as_str().unwrap_or("")),
        (
            403,
            format!(
                "pods.metrics.k8s.io is forbidden: {}",
                forbidden(
                    "list",
                    "pods",
                    "metrics.k8s.io",
                    "in the namespace \"default\""
                )
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn subresources_are_granted_apart_from_their_parent() {
    let (server, access) = enforcing().await;
    server.put("apps", "v1", "deployments", deployment("web", 1));
    server
        .telemetry
        .log("default", "x", "app", false, START_MS, "hello");
    grant(
        &server,
        "parents",
        "agent",
        false,
        "default",
        json!([
            rule(&[""], &["pods"], &["get", "create"]),
            rule(&["apps"], &["deployments"], &["get", "patch"])
        ]),
    );
    grant(
        &server,
        "subresources",
        "healer",
        false,
        "default",
        json!([
            rule(&[""], &["pods/log"], &["get"]),
            rule(&[""], &["pods/eviction"], &["create"]),
            rule(&["apps"], &["deployments/scale"], &["patch"]),
        ]),
    );
    let agent = server.client_with_token(&access.mint_service_account_token("default", "agent"));
    let healer = server.client_with_token(&access.mint_service_account_token("default", "healer"));
    let scale = Patch::Merge(json!({"spec": {"replicas": 3}}));

    let pods: Api<Pod> = Api::namespaced(agent.clone(), "default");
    assert!(pods.get("x").await.is_ok());
    let scope = "in the namespace \"default\"";
    assert_eq!(
        denied(pods.logs("x", &LogParams::default()).await),
        (
            403,
            format!(
                "pods \"x\" is forbidden: {}",
                forbidden("get", "pods/log", "", scope)
            )
        )
    );
    assert_eq!(
        denied(pods.evict("x", &EvictParams::default()).await),
        (
            403,
            format!(
                "pods \"x\" is forbidden: {}",
                forbidden("create", "pods/eviction", "", scope)
            )
        )
    );
    let deployments: Api<Deployment> = Api::namespaced(agent, "default");
    assert_eq!(
        denied(
            deployments
                .patch_scale("web", &PatchParams::default(), &scale)
                .await
        ),
        (
            403,
            format!(
                "deployments.apps \"web\" is forbidden: {}",
                forbidden("patch", "deployments/scale", "apps", scope)
            )
        )
    );

    let pods: Api<Pod> = Api::namespaced(healer.clone(), "default");
    assert_eq!(
        denied(pods.get("x").await).0,
        403,
        "pods/log does not grant pods"
    );
    assert_eq!(
        pods.logs("x", &LogParams::default()).await.unwrap(),
        "hello\n"
    );
    let deployments: Api<Deployment> = Api::namespaced(healer, "default");
    deployments
        .patch_scale("web", &PatchParams::default(), &scale)
        .await
        .expect("scale is granted");
    let stored = server
        .store
        .get_typed::<Deployment>("default", "web")
        .unwrap();
    assert_eq!(stored.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(denied(deployments.get("web").await).0, 403);
    pods.evict("x", &EvictParams::default())
        .await
        .expect("eviction is granted");
    let evicted = server.store.get_typed::<Pod>("default", "x");
    assert!(
        evicted.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
        "the pod is being deleted"
    );
}

#[tokio::test]
async fn resource_names_limit_a_rule_to_the_named_objects() {
    let (server, access) = enforcing().await;
    server.put("apps", "v1", "deployments", deployment("web", 1));
    server.put("apps", "v1", "deployments", deployment("db", 1));
    grant(
        &server,
        "web-only",
        "agent",
        false,
        "default",
        json!([{"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["get", "list", "watch"]}]),
    );
    let deployments: Api<Deployment> = Api::namespaced(
        server.client_with_token(&access.mint_service_account_token("default", "agent")),
        "default",
    );
    assert!(deployments.get("web").await.is_ok());
    let scope = "in the namespace \"default\"";
    assert_eq!(
        denied(deployments.get("db").await),
        (
            403,
            format!(
                "deployments.apps \"db\" is forbidden: {}",
                forbidden("get", "deployments", "apps", scope)
            )
        )
    );
    assert_eq!(
        denied(deployments.list(&ListParams::default()).await),
        (
            403,
            format!(
                "deployments.apps is forbidden: {}",
                forbidden("list", "deployments", "apps", scope)
            )
        )
    );
    let one = deployments
        .list(&ListParams::default().fields("metadata.name=web"))
        .await
        .expect("a list limited to the named object is granted");
    assert_eq!(one.items.len(), 1);
}

#[tokio::test]
async fn a_binding_to_a_missing_role_grants_nothing_and_says_why() {
    let (server, access) = enforcing().await;
    server.put(
        RBAC,
        "v1",
        "rolebindings",
        json!({
            "metadata": {"name": "dangling", "namespace": "default"},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "missing"},
            "subjects": [{"kind": "ServiceAccount", "name": "agent"}],
        }),
    );
    let token = access.mint_service_account_token("default", "agent");
    let (code, body) = http(
        &server,
        "GET",
        "/api/v1/namespaces/default/pods",
        Some(&token),
    )
    .await;
    assert_eq!(
        (code, body["message"].as_str().unwrap()),
        (
            403,
            format!(
                "pods is forbidden: {}: RBAC: role.rbac.authorization.k8s.io \"missing\" not found",
                forbidden("list", "pods", "", "in the namespace \"default\"")
            )
            .as_str()
        )
    );
    server.put(
        RBAC,
        "v1",
        "roles",
        json!({
            "metadata": {"name": "missing", "namespace": "default"},
            "rules": [rule(&[""], &["*"], &["*"])],
        }),
    );
    assert_eq!(
        http(
            &server,
            "GET",
            "/api/v1/namespaces/default/pods",
            Some(&token)
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn every_denial_is_counted_by_user_and_message() {
    let (server, access) = enforcing().await;
    let agent = access.mint_service_account_token("default", "agent");
    let healer = access.mint_service_account_token("default", "healer");
    let as_agent: Api<Pod> = Api::namespaced(server.client_with_token(&agent), "default");
    let as_healer: Api<Pod> = Api::namespaced(server.client_with_token(&healer), "default");
    for _ in 0..2 {
        denied(as_agent.get("x").await);
    }
    denied(as_healer.list(&ListParams::default()).await);
    assert_eq!(access.denied(AGENT), 2);
    assert_eq!(access.denied("system:serviceaccount:default:healer"), 1);
    let agent_denials: Vec<_> = access
        .denials()
        .into_iter()
        .filter(|d| d.user == AGENT)
        .collect();
    assert_eq!(agent_denials.len(), 1, "one message, counted twice");
    assert_eq!(agent_denials[0].count, 2);
    assert_eq!(
        agent_denials[0].message,
        format!(
            "pods \"x\" is forbidden: {}",
            forbidden("get", "pods", "", "in the namespace \"default\"")
        )
    );

    grant(
        &server,
        "pod-reader",
        "agent",
        false,
        "default",
        json!([rule(&[""], &["pods"], &["get"])]),
    );
    as_agent.get("x").await.expect("granted");
    assert_eq!(access.denied(AGENT), 2, "an allowed request is not counted");
}
