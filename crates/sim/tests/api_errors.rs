//! Bad input gets a Kubernetes `Status` with the right code, and the server keeps serving.

mod common;

use axum::http::{Method, Request};
use common::{TestServer, pod, start};
use http_body_util::BodyExt;
use serde_json::{Value, json};

/// Sends a raw request and returns the status code and the JSON body.
async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let resp = server.client().send(req).await.expect("the server answers");
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "body of {path} is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (code, value)
}

/// Asserts a failure `Status` and that the server still lists pods afterwards.
async fn expect_failure(
    server: &TestServer,
    got: (u16, Value),
    code: u16,
    reason: &str,
    message_part: &str,
) {
    let (got_code, status) = got;
    assert_eq!(got_code, code, "{status}");
    assert_eq!(status["kind"], "Status", "{status}");
    assert_eq!(status["apiVersion"], "v1");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["code"], code);
    assert_eq!(status["reason"], reason, "{status}");
    let message = status["message"].as_str().unwrap_or("");
    assert!(
        message.contains(message_part),
        "message {message:?} lacks {message_part:?}"
    );
    let (ok, list) = raw(
        server,
        Method::GET,
        "/api/v1/namespaces/default/pods",
        "",
        "",
    )
    .await;
    assert_eq!(
        (ok, list["kind"].as_str()),
        (200, Some("PodList")),
        "the server stopped answering"
    );
}

const JSON: &str = "application/json";
const PODS: &str = "/api/v1/namespaces/default/pods";
const WEB1: &str = "/api/v1/namespaces/default/pods/web-1";

#[tokio::test]
async fn malformed_and_mismatched_bodies_are_400() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({}), ""));
    let got = raw(&server, Method::POST, PODS, JSON, "{\"metadata\": {").await;
    expect_failure(
        &server,
        got,
        400,
        "BadRequest",
        "couldn't get version/kind; json parse error",
    )
    .await;
    let got = raw(&server, Method::POST, PODS, JSON, "[1, 2]").await;
    expect_failure(
        &server,
        got,
        400,
        "BadRequest",
        "must be a JSON object of kind Pod",
    )
    .await;
    let service =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}).to_string();
    let got = raw(&server, Method::POST, PODS, JSON, &service).await;
    expect_failure(
        &server,
        got,
        400,
        "BadRequest",
        "this endpoint takes kind Pod",
    )
    .await;
    let apps =
        json!({"apiVersion": "apps/v1", "kind": "Pod", "metadata": {"name": "x"}}).to_string();
    let got = raw(&server, Method::PUT, WEB1, JSON, &apps).await;
    expect_failure(&server, got, 400, "BadRequest", "apiVersion v1").await;
    let got = raw(
        &server,
        Method::POST,
        &format!("{PODS}?dryRun=Sometimes"),
        JSON,
        "{}",
    )
    .await;
    expect_failure(
        &server,
        got,
        400,
        "BadRequest",
        "dryRun: Unsupported value: \"Sometimes\"",
    )
    .await;
    let got = raw(
        &server,
        Method::GET,
        &format!("{PODS}?labelSelector=app%20in%20(web"),
        "",
        "",
    )
    .await;
    expect_failure(
        &server,
        got,
        400,
        "BadRequest",
        "unable to parse requirement",
    )
    .await;
    let got = raw(&server, Method::GET, &format!("{PODS}?continue=zz"), "", "").await;
    expect_failure(&server, got, 400, "BadRequest", "continue key").await;
    let got = raw(
        &server,
        Method::DELETE,
        WEB1,
        JSON,
        "{\"propagationPolicy\": \"Sideways\"}",
    )
    .await;
    expect_failure(
        &server,
        got,
        400,
        "BadRequest",
        "propagationPolicy: Unsupported value",
    )
    .await;
}

#[tokio::test]
async fn bad_patches() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({}), ""));
    let got = raw(
        &server,
        Method::PATCH,
        WEB1,
        "application/json-patch+json",
        "[{\"op\": \"bogus\"}]",
    )
    .await;
    expect_failure(&server, got, 400, "BadRequest", "invalid JSON patch").await;
    let remove = "[{\"op\": \"remove\", \"path\": \"/spec/nope\"}]";
    let got = raw(
        &server,
        Method::PATCH,
        WEB1,
        "application/json-patch+json",
        remove,
    )
    .await;
    expect_failure(&server, got, 422, "Invalid", "could not be applied").await;
    let got = raw(
        &server,
        Method::PATCH,
        WEB1,
        "application/merge-patch+json",
        "{\"spec\": ",
    )
    .await;
    expect_failure(&server, got, 400, "BadRequest", "json parse error").await;
    let got = raw(&server, Method::PATCH, WEB1, "text/plain", "{}").await;
    expect_failure(
        &server,
        got,
        415,
        "UnsupportedMediaType",
        "application/merge-patch+json",
    )
    .await;
    // A patch that leaves an invalid object: 422 from validation, naming the field.
    let got = raw(
        &server,
        Method::PATCH,
        WEB1,
        "application/merge-patch+json",
        "{\"spec\": {\"containers\": []}}",
    )
    .await;
    expect_failure(
        &server,
        got,
        422,
        "Invalid",
        "spec.containers: Required value",
    )
    .await;
    assert_eq!(got_causes(&server).await, "spec.containers");
}

async fn got_causes(server: &TestServer) -> String {
    let (_, status) = raw(
        server,
        Method::PATCH,
        WEB1,
        "application/merge-patch+json",
        "{\"spec\": {\"containers\": []}}",
    )
    .await;
    status["details"]["causes"][0]["field"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn unknown_paths_verbs_and_conflicts() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({}), ""));
    for path in [
        "/apis/widgets.example.com/v1/widgets",
        "/api/v1/namespaces/default/widgets",
        "/api/v1/namespaces/default/pods/web-1/exec",
        "/api/v2/pods",
        "/nothing/here",
        "/openapi/v3/apis/widgets.example.com/v1",
    ] {
        let got = raw(&server, Method::GET, path, "", "").await;
        expect_failure(
            &server,
            got,
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .await;
    }
    let got = raw(
        &server,
        Method::GET,
        "/api/v1/namespaces/default/pods/nope",
        "",
        "",
    )
    .await;
    expect_failure(&server, got, 404, "NotFound", "pods \"nope\" not found").await;
    let got = raw(
        &server,
        Method::POST,
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
        JSON,
        "{}",
    )
    .await;
    expect_failure(
        &server,
        got,
        405,
        "MethodNotAllowed",
        "does not allow this method",
    )
    .await;
    let got = raw(&server, Method::POST, "/api/v1/pods", JSON, "{}").await;
    expect_failure(
        &server,
        got,
        405,
        "MethodNotAllowed",
        "does not allow this method",
    )
    .await;

    let stale = pod("web-1", json!({"x": "y"}), "");
    let mut stale = stale;
    stale["metadata"]["resourceVersion"] = json!("1");
    let got = raw(&server, Method::PUT, WEB1, JSON, &stale.to_string()).await;
    expect_failure(
        &server,
        got,
        409,
        "Conflict",
        "the object has been modified",
    )
    .await;
    let again = pod("web-1", json!({}), "").to_string();
    let got = raw(&server, Method::POST, PODS, JSON, &again).await;
    expect_failure(
        &server,
        got,
        409,
        "AlreadyExists",
        "pods \"web-1\" already exists",
    )
    .await;
    let invalid = json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "a", "image": "b"}]}});
    let got = raw(&server, Method::POST, PODS, JSON, &invalid.to_string()).await;
    expect_failure(&server, got, 422, "Invalid", "metadata.name: Invalid value").await;
}

#[tokio::test]
async fn discovery_and_health() {
    let server = start().await;
    let (code, version) = raw(&server, Method::GET, "/version", "", "").await;
    assert_eq!(
        (
            code,
            version["gitVersion"].as_str(),
            version["minor"].as_str()
        ),
        (200, Some("v1.34.0"), Some("34"))
    );
    let (_, core) = raw(&server, Method::GET, "/api/v1", "", "").await;
    let eviction = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/eviction")
        .unwrap();
    assert_eq!(
        (
            eviction["group"].as_str(),
            eviction["version"].as_str(),
            eviction["kind"].as_str()
        ),
        (Some("policy"), Some("v1"), Some("Eviction"))
    );
    let (_, apps) = raw(&server, Method::GET, "/apis/apps/v1", "", "").await;
    let scale = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments/scale")
        .unwrap();
    assert_eq!(scale["kind"], "Scale");
    let deploy = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments")
        .unwrap();
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    assert_eq!(deploy["categories"], json!(["all"]));
    let (_, groups) = raw(&server, Method::GET, "/apis", "", "").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"apps") && names.contains(&"metrics.k8s.io"),
        "{names:?}"
    );

    for path in ["/healthz", "/livez", "/readyz"] {
        let req = Request::get(path)
            .body(kube::client::Body::empty())
            .unwrap();
        let resp = server.client().send(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "ok");
    }
    let req = Request::get("/metrics")
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = server.client().send(req).await.unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&text).contains("nightshift_up 1"));
}
