//! Smoke tests with the real kubectl against the simulated API server.

mod common;

use common::{Kubeconfig, deployment, kubectl_available, node, pod, start};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_pods_deployments_and_discovery() {
    if !kubectl_available() {
        eprintln!("skipping: kubectl is not installed");
        return;
    }
    let server = start().await;
    server.put("", "v1", "nodes", node("node-a"));
    server.put(
        "",
        "v1",
        "pods",
        pod("web-1", json!({"app": "web"}), "node-a"),
    );
    server.put(
        "",
        "v1",
        "pods",
        pod("web-2", json!({"app": "web"}), "node-a"),
    );
    server.put("apps", "v1", "deployments", deployment("web", 2));
    let kc = Kubeconfig::new(&server);

    let wide = kc.kubectl_ok(&["get", "pods", "-o", "wide"]).await;
    let header: Vec<&str> = wide
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ],
        "{wide}"
    );
    let row: Vec<&str> = wide
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], ["web-1", "1/1", "Running", "0"], "{wide}");
    assert_eq!(&row[5..7], ["10.0.0.7", "node-a"], "{wide}");
    assert_eq!(wide.lines().count(), 3, "{wide}");

    let json_out = kc.kubectl_ok(&["get", "pods", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&json_out).expect("kubectl prints JSON");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1", "web-2"]);
    assert_eq!(list["items"][0]["kind"], "Pod");

    let deploy = kc.kubectl_ok(&["get", "deploy"]).await;
    let header: Vec<&str> = deploy
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{deploy}"
    );
    assert!(
        deploy.lines().nth(1).unwrap_or("").starts_with("web "),
        "{deploy}"
    );

    let resources = kc.kubectl_ok(&["api-resources"]).await;
    for (name, short, version, namespaced, kind) in [
        ("pods", "po", "v1", "true", "Pod"),
        ("nodes", "no", "v1", "false", "Node"),
        ("deployments", "deploy", "apps/v1", "true", "Deployment"),
        (
            "poddisruptionbudgets",
            "pdb",
            "policy/v1",
            "true",
            "PodDisruptionBudget",
        ),
    ] {
        assert!(
            resources
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == [name, short, version, namespaced, kind]),
            "{name} missing from api-resources:\n{resources}"
        );
    }
    assert!(
        resources.lines().any(|l| l.starts_with("leases ")),
        "{resources}"
    );
    assert!(
        !resources.contains("pods/log"),
        "subresources are not resources:\n{resources}"
    );

    // Short names and single objects go through discovery too.
    let one = kc.kubectl_ok(&["get", "po", "web-2", "-o", "name"]).await;
    assert_eq!(one.trim(), "pod/web-2");
    let missing = kc.kubectl(&["get", "pod", "nope"]).await;
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("pods \"nope\" not found"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
