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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_writes_logs_top_and_drain() {
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
    server.put("apps", "v1", "deployments", deployment("web", 2));
    server.telemetry.log(
        "default",
        "web-1",
        "app",
        false,
        common::START_MS,
        "listening on :8080",
    );
    server
        .telemetry
        .nodes
        .lock()
        .unwrap()
        .insert("node-a".into(), (500, 2 << 30));
    let kc = Kubeconfig::new(&server);

    // apply -f needs the OpenAPI v3 stub (kubectl checks for server-side field validation).
    let manifest = kc.dir.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n",
    )
    .unwrap();
    let path = manifest.to_str().unwrap();
    assert_eq!(
        kc.kubectl_ok(&["apply", "-f", path]).await.trim(),
        "configmap/settings created"
    );
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: safe\n",
    )
    .unwrap();
    assert_eq!(
        kc.kubectl_ok(&["apply", "-f", path]).await.trim(),
        "configmap/settings configured"
    );
    assert_eq!(
        kc.kubectl_ok(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"])
            .await,
        "safe"
    );
    assert_eq!(
        kc.kubectl_ok(&["apply", "--server-side", "-f", path])
            .await
            .trim(),
        "configmap/settings serverside-applied"
    );

    assert_eq!(
        kc.kubectl_ok(&["scale", "deploy", "web", "--replicas=4"])
            .await
            .trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(
        kc.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "4"
    );
    kc.kubectl_ok(&["label", "pod", "web-1", "tier=front"])
        .await;
    kc.kubectl_ok(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
    ])
    .await;
    assert_eq!(
        kc.kubectl_ok(&["get", "pods", "-l", "tier=front", "-o", "name"])
            .await
            .trim(),
        "pod/web-1"
    );

    assert_eq!(
        kc.kubectl_ok(&["logs", "web-1"]).await,
        "listening on :8080\n"
    );
    let top = kc.kubectl_ok(&["top", "nodes"]).await;
    assert!(
        top.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("node-a") && l.contains("500m")),
        "{top}"
    );

    // drain: cordon by patch, then evict through the protobuf Eviction kubectl's typed client
    // sends; a budget that allows nothing makes it retry until its timeout.
    server.put(
        "policy",
        "v1",
        "poddisruptionbudgets",
        json!({"metadata": {"name": "web", "namespace": "default"},
               "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}}),
    );
    let blocked = kc
        .kubectl(&["drain", "node-a", "--force", "--timeout=3s"])
        .await;
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert!(!blocked.status.success());
    assert!(
        stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{stderr}"
    );
    let nodes = kc.kubectl_ok(&["get", "nodes"]).await;
    assert!(nodes.contains("Ready,SchedulingDisabled"), "{nodes}");
    kc.kubectl_ok(&["delete", "pdb", "web"]).await;
    let out = kc
        .kubectl(&[
            "drain",
            "node-a",
            "--force",
            "--grace-period=7",
            "--timeout=1s",
        ])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("evicting pod default/web-1"), "{stdout}");
    // Without a kubelet the pod stays terminating, so drain times out waiting; the eviction
    // itself went through with the requested grace period.
    let grace = kc
        .kubectl_ok(&[
            "get",
            "pod",
            "web-1",
            "-o",
            "jsonpath={.metadata.deletionGracePeriodSeconds}",
        ])
        .await;
    assert_eq!(grace, "7");

    assert_eq!(
        kc.kubectl_ok(&["delete", "cm", "settings"]).await.trim(),
        "configmap \"settings\" deleted"
    );
}
