mod common;
use common::*;
use serde_json::json;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn manual_server() {
    let server = start().await;
    server.put("", "v1", "nodes", node("node-a"));
    server.put("", "v1", "nodes", node("node-b"));
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
        pod("web-2", json!({"app": "web"}), "node-b"),
    );
    server.put("apps", "v1", "deployments", deployment("web", 2));
    server
        .telemetry
        .log("default", "web-1", "app", false, START_MS, "hello");
    server.telemetry.pods.lock().unwrap().insert(
        ("default".into(), "web-1".into()),
        vec![nightshift_sim::telemetry::ContainerUsage {
            name: "app".into(),
            cpu_millis: 12,
            memory_bytes: 50_000_000,
        }],
    );
    server
        .telemetry
        .nodes
        .lock()
        .unwrap()
        .insert("node-a".into(), (500, 2_000_000_000));
    server
        .telemetry
        .nodes
        .lock()
        .unwrap()
        .insert("node-b".into(), (700, 3_000_000_000));
    let kc = nightshift_sim::server::kubeconfig(&server.url(), "sim");
    std::fs::write("/tmp/sim/kubeconfig", kc).unwrap();
    eprintln!("listening on {}", server.url());
    tokio::time::sleep(std::time::Duration::from_secs(3000)).await;
}
