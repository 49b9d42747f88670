//! Authentication: unknown tokens, tokens of accounts that do not exist, anonymous callers,
//! discovery for every authenticated caller, and the open server that enforces nothing.

use common::start;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn unknown_tokens_are_unauthorized_and_anonymous_callers_forbidden() {
    let (server, access) = enforcing().await;
    let unauthorized = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
    });
    assert_eq!(
        http(
            &server,
            "GET",
            "/api/v1/namespaces/default/pods",
            Some("sim.forged")
        )
        .await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        http(&server, "GET", "/version", Some("sim.forged")).await.0,
        401
    );
    let orphan = access.mint_service_account_token("default", "not-yet");
    assert_eq!(
        http(&server, "GET", "/api", Some(&orphan)).await,
        (401, unauthorized.clone())
    );
    server.put(
        "",
        "v1",
        "serviceaccounts",
        json!({"metadata": {"name": "not-yet", "namespace": "default"}}),
    );
    assert_eq!(
        http(&server, "GET", "/api", Some(&orphan)).await.0,
        200,
        "valid once the account exists"
    );

    let (code, body) = http(&server, "GET", "/api/v1/namespaces/default/pods", None).await;
    assert_eq!(
        (code, body["message"].as_str().unwrap()),
        (
            403,
            "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        )
    );
    let (code, body) = http(&server, "GET", "/api", None).await;
    assert_eq!(
        (code, body),
        (
            403,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "forbidden: User \"system:anonymous\" cannot get path \"/api\"",
                "reason": "Forbidden", "details": {}, "code": 403,
            })
        )
    );
    for public in ["/healthz", "/version", "/readyz"] {
        assert_eq!(http(&server, "GET", public, None).await.0, 200, "{public}");
    }

    let token = access.mint_service_account_token("default", "agent");
    for discovery in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps/v1",
        "/openapi/v3",
        "/version",
    ] {
        assert_eq!(
            http(&server, "GET", discovery, Some(&token)).await.0,
            200,
            "{discovery}"
        );
    }
    let (code, body) = http(&server, "GET", "/metrics", Some(&token)).await;
    assert_eq!(
        (code, body["message"].as_str().unwrap()),
        (
            403,
            format!("forbidden: User \"{AGENT}\" cannot get path \"/metrics\"").as_str()
        )
    );
    assert_eq!(
        http(&server, "GET", "/metrics", Some(access.admin_token()))
            .await
            .0,
        200
    );
    assert_eq!(
        http(
            &server,
            "DELETE",
            "/api/v1/nodes/node-a",
            Some(access.admin_token())
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn the_open_server_serves_everyone_as_the_administrator() {
    let server = start().await;
    server.put("", "v1", "nodes", node("node-a"));
    for token in [None, Some("anything"), Some("sim.forged")] {
        assert_eq!(
            http(&server, "GET", "/api/v1/nodes", token).await.0,
            200,
            "{token:?}"
        );
        assert_eq!(
            http(&server, "GET", "/api", token).await.0,
            200,
            "{token:?}"
        );
    }
    let (code, body) = http(
        &server,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        None,
    )
    .await;
    assert_eq!(code, 400, "a review needs a body: {body}");
    let review = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap()
        .post(format!(
            "{}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            server.url()
        ))
        .json(&json!({"spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(review.status().as_u16(), 201);
    let review: Value = review.json().await.unwrap();
    assert_eq!(review["status"]["allowed"], true);
    assert_eq!(review["kind"], "SelfSubjectAccessReview");
    let nodes: Api<Node> = Api::all(server.client());
    nodes
        .delete("node-a", &DeleteParams::default())
        .await
        .expect("no token, no limits");
    let (roles, _) = server.store.list(
        nightshift_sim::resources::find(RBAC, "v1", "clusterroles").unwrap(),
        None,
    );
    assert!(
        roles.is_empty(),
        "the open server writes no bootstrap policy"
    );
}
