//! Simulated monitoring delivers Alertmanager version 4 webhooks for a crash-looping workload,
//! evaluated from the shipped rule file in simulated time.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use nightshift_sim::Simulation;
use nightshift_sim::monitoring::Monitoring;
use serde_json::Value;

const SCENARIO: &str = r#"
name: crash-monitoring
horizon: 20m
cluster:
  workloads:
    - {kind: Deployment, namespace: shop, name: checkout, replicas: 2, image: registry.local/shop/checkout:2.3.1}
faults:
  - {at: 1m, type: crash, target: shop/checkout}
expect:
  detect: true
  diagnosis: [app/crash]
  locate: shop/checkout
  actions: {acceptable: [escalate]}
  resolved: false
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_alert_reaches_the_webhook() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).expect("webhook body is JSON"));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let scenario = nightshift_scenario::parse_str(SCENARIO, "crash-monitoring.yaml").unwrap();
    let sim = Simulation::new(&scenario, 1_767_225_600_000);
    let mut monitoring = Monitoring::new(Some(format!("http://{addr}/hook")), &sim);
    for _ in 0..(6 * 60) {
        sim.step();
        monitoring.after_step(&sim).await;
    }
    monitoring.flush().await;

    let got = received.lock().unwrap().clone();
    assert!(!got.is_empty(), "no webhook arrived");
    let crash = got
        .iter()
        .find(|p| p["commonLabels"]["alertname"] == "KubePodCrashLooping")
        .unwrap_or_else(|| panic!("no KubePodCrashLooping group in {got:#?}"));
    assert_eq!(crash["version"], "4");
    assert_eq!(crash["status"], "firing");
    assert_eq!(crash["commonLabels"]["namespace"], "shop");
    let alerts = crash["alerts"].as_array().unwrap();
    assert!(!alerts.is_empty());
    for a in alerts {
        assert_eq!(a["status"], "firing");
        assert!(
            a["labels"]["pod"]
                .as_str()
                .unwrap()
                .starts_with("checkout-")
        );
        assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
        assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    }
    // Nothing fired before the fault.
    for p in &got {
        for a in p["alerts"].as_array().unwrap() {
            assert!(
                a["startsAt"].as_str().unwrap() > "2026-01-01T00:01:00",
                "{a}"
            );
        }
    }
}
