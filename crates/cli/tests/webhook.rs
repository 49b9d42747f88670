//! The Alertmanager receiver over HTTP against the running agent: a payload captured from a
//! real Alertmanager 0.25, an alert storm from one dead node, bad input and missing
//! credentials.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nightshift::lab::{Lab, LabOptions};
use nightshift_agent::http::{Auth, Credential, Role};
use nightshift_core::{ResourceRef, State};
use nightshift_store::IncidentFilter;
use serde_json::{Value, json};

fn scenario(name: &str) -> nightshift_scenario::Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"));
    nightshift_scenario::load_file(&path).unwrap()
}

async fn lab(name: &str, auth: Auth, dir: &tempfile::TempDir) -> Lab {
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 30.0;
    opts.auth = auth;
    // Only what the tests send: no detectors or simulated monitoring opening incidents.
    opts.watchers = false;
    opts.monitoring = false;
    Lab::start(&scenario(name), opts).await.unwrap()
}

fn url(lab: &Lab) -> String {
    format!("http://{}/api/v1/alerts/alertmanager", lab.agent.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(
        "noop-quiet-shop",
        Auth::with(vec![Credential::bearer("ops", Role::Admin, "s3cret")]),
        &dir,
    )
    .await;
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let captured = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../monitor/tests/conformance/alertmanager-0.25/firing.json"),
    )
    .unwrap();

    // No credentials: 401, nothing recorded.
    let r = http
        .post(url(&lab))
        .body(captured.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(url(&lab))
        .bearer_auth("wrong")
        .body(captured.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A payload a real Alertmanager 0.25 posted: accepted whole.
    let sent: Value = serde_json::from_str(&captured).unwrap();
    let n = sent["alerts"].as_array().unwrap().len();
    let r = http
        .post(url(&lab))
        .bearer_auth("s3cret")
        .body(captured.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["received"], n);
    assert_eq!(body["new"], n);
    // The same again: repeats, nothing new.
    let body: Value = http
        .post(url(&lab))
        .bearer_auth("s3cret")
        .body(captured.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["duplicates"], n);

    // Malformed bodies: 400 naming the problem; what was accepted before stays.
    let r = http
        .post(url(&lab))
        .bearer_auth("s3cret")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("invalid Alertmanager webhook")
    );
    let wrong = captured.replace("\"version\":\"4\"", "\"version\":\"3\"");
    let r = http
        .post(url(&lab))
        .bearer_auth("s3cret")
        .body(wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("version"));
    let bad_status = captured.replacen(
        "\"status\":\"firing\",\"labels\"",
        "\"status\":\"burning\",\"labels\"",
        1,
    );
    let text = http
        .post(url(&lab))
        .bearer_auth("s3cret")
        .body(bad_status)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("alerts[0]") && text.contains("burning"),
        "{text}"
    );
    // Oversized: refused before it is parsed.
    let huge = format!(
        "{{\"version\":\"4\",\"alerts\":[],\"pad\":\"{}\"}}",
        "x".repeat(40 * 1024 * 1024)
    );
    // The agent answers 413 as soon as the length is known; a client still sending may see
    // the connection closed under it instead of the answer. Either way nothing is read.
    match http
        .post(url(&lab))
        .bearer_auth("s3cret")
        .body(huge)
        .send()
        .await
    {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let stats = lab.agent.engine.store().stats().await.unwrap();
    assert_eq!(
        stats.signals, n as u64,
        "nothing accepted before was lost, nothing bad was added"
    );
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_storm_from_one_dead_node_is_one_incident() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab("node-failure-node-b-kubelet-down", Auth::open(false), &dir).await;
    let store = lab.agent.engine.store().clone();
    // Wait for the node controller to mark node-b NotReady (fault at 3m, 40s grace).
    let deadline = Instant::now() + Duration::from_secs(120);
    let pods = loop {
        let node = lab
            .sim
            .store()
            .get_typed::<k8s_openapi::api::core::v1::Node>("", "node-b")
            .unwrap();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone());
        if ready.as_deref() == Some("Unknown") {
            let pods: Vec<(String, String)> = lab
                .sim
                .store()
                .list_typed::<k8s_openapi::api::core::v1::Pod>(None)
                .iter()
                .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("node-b"))
                .map(|p| {
                    (
                        p.metadata.namespace.clone().unwrap(),
                        p.metadata.name.clone().unwrap(),
                    )
                })
                .collect();
            break pods;
        }
        assert!(Instant::now() < deadline, "node-b never went NotReady");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!pods.is_empty());
    // Let the agent's reflectors see the node's new condition.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // 5,000 alerts about the pods on node-b, as a scrape of many exporters would produce them.
    let alerts: Vec<Value> = (0..5000)
        .map(|i| {
            let (ns, pod) = &pods[i % pods.len()];
            json!({
                "status": "firing",
                "labels": {"alertname": "KubePodNotReady", "namespace": ns, "pod": pod, "severity": "warning", "instance": format!("exporter-{i}")},
                "annotations": {"summary": format!("pod {ns}/{pod} is not ready")},
                "startsAt": "2026-01-01T00:03:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
            })
        })
        .collect();
    let payload = json!({"version": "4", "status": "firing", "receiver": "nightshift", "groupKey": "{}:{alertname=\"KubePodNotReady\"}", "alerts": alerts});
    let r = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap()
        .post(url(&lab))
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["received"], 5000);
    let node = ResourceRef::node("node-b");
    // One node incident; give it time to be analyzed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        let on_node: Vec<_> = list
            .iter()
            .filter(|i| i.incident.resource == node)
            .collect();
        assert!(
            on_node.len() <= 1,
            "more than one incident for node-b: {:?}",
            on_node
                .iter()
                .map(|i| (
                    &i.incident.id,
                    i.incident.state,
                    &i.incident.title,
                    i.incident.opened_at
                ))
                .collect::<Vec<_>>()
        );
        let pods_incidents = list
            .iter()
            .filter(|i| matches!(i.incident.resource, ResourceRef::Pod { .. }))
            .count();
        assert_eq!(pods_incidents, 0, "pod-level incidents opened in the storm");
        if let Some(i) = on_node.first()
            && !matches!(
                i.incident.state,
                State::Open | State::Collecting | State::Analyzing
            )
        {
            let analyses = store.analyses(&i.incident.id).await.unwrap();
            assert_eq!(analyses.len(), 1, "one analysis for the storm");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node incident was not analyzed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lab.stop();
}

/// A notification receiver that accepts connections, reads nothing back and never answers,
/// counting the connections it held.
async fn hanging_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = held.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            open.push(socket);
        }
    });
    (format!("http://{addr}/hook"), held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_receiver_that_never_answers_does_not_hold_up_intake() {
    let dir = tempfile::tempdir().unwrap();
    let (hook, held) = hanging_receiver().await;
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.watchers = false;
    opts.monitoring = false;
    opts.notify_webhook = Some(hook);
    let lab = Lab::start(&scenario("noop-quiet-shop"), opts)
        .await
        .unwrap();
    // Each notification attempt waits 5 s for the receiver before it gives up; intake that
    // waited for one would take longer than this for each new incident.
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .timeout(Duration::from_secs(4))
        .build()
        .unwrap();
    for i in 0..3 {
        let body = json!({
            "version": "4", "status": "firing", "receiver": "nightshift",
            "groupKey": format!("{{}}:{{node=\"ghost-{i}\"}}"),
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "KubeNodeNotReady", "node": format!("ghost-{i}")},
                "annotations": {"summary": "node not ready"},
                "startsAt": "2026-01-01T00:00:00Z"
            }]
        });
        let r = http
            .post(url(&lab))
            .json(&body)
            .send()
            .await
            .expect("intake answers while the notification receiver hangs");
        assert_eq!(r.status(), 200);
        let report: Value = r.json().await.unwrap();
        assert_eq!(
            report["opened"].as_array().map(Vec::len),
            Some(1),
            "{report}"
        );
    }
    let open = lab
        .agent
        .engine
        .store()
        .list(&IncidentFilter::default())
        .await
        .unwrap();
    assert_eq!(open.len(), 3);
    // The notifications were handed to the receiver, which still holds them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while held.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "no notification reached the receiver"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lab.stop();
}
