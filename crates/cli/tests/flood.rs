//! A flood of alerts that each name a new resource, against the running agent: the open
//! incidents stay bounded (the overflow folds into one storm incident that names what it
//! folded and goes to a human), and a real node alert sent during the flood is analysed and
//! not queued behind the junk.

use std::time::{Duration, Instant};

use nightshift::lab::{Lab, LabOptions};
use nightshift_core::{ResourceRef, State};
use nightshift_store::IncidentFilter;
use serde_json::{Value, json};

fn junk(batch: usize, n: usize) -> Value {
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": {"alertname": "JunkPodAlert", "namespace": "shop", "pod": format!("junk-{batch}-{i}"), "severity": "info"},
                "annotations": {"summary": "noise"},
                "startsAt": chrono::Utc::now().to_rfc3339(),
            })
        })
        .collect();
    json!({"version": "4", "status": "firing", "groupKey": format!("{{}}:{{batch=\"{batch}\"}}"), "alerts": alerts})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_new_incident_alerts_folds_into_a_storm_and_a_real_alert_is_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.watchers = false;
    opts.monitoring = false;
    opts.speed = 30.0;
    let limits = opts.engine.storms;
    let scenario = nightshift_scenario::load_file(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/noop-quiet-shop.yaml"),
    )
    .unwrap();
    let lab = Lab::start(&scenario, opts).await.unwrap();
    let url = format!("http://{}/api/v1/alerts/alertmanager", lab.agent.addr);
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let mut sent = 0;
    for batch in 0..20 {
        let r = http
            .post(&url)
            .json(&junk(batch, 100))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        sent += 100;
        if batch == 10 {
            // A real node alert in the middle of the flood.
            let real = json!({"version": "4", "status": "firing", "groupKey": "{}:{node=\"node-a\"}", "alerts": [{
                "status": "firing",
                "labels": {"alertname": "KubeNodeNotReady", "node": "node-a", "severity": "critical"},
                "annotations": {"summary": "node-a is not ready"},
                "startsAt": chrono::Utc::now().to_rfc3339(),
            }]});
            let r = http.post(&url).json(&real).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    let store = lab.agent.engine.store().clone();
    let all = store
        .list(&IncidentFilter {
            limit: Some(10_000),
            ..IncidentFilter::default()
        })
        .await
        .unwrap();
    let storms: Vec<_> = all
        .iter()
        .filter(|i| matches!(i.incident.resource, ResourceRef::Storm { .. }))
        .collect();
    assert_eq!(storms.len(), 1, "one storm for the one rule");
    assert!(
        all.len() <= limits.per_rule + 2,
        "{} incidents for {sent} junk alerts and one real one",
        all.len()
    );
    assert!(
        lab.agent.engine.backlog().total() <= limits.per_rule + 2,
        "{:?}",
        lab.agent.engine.backlog()
    );
    let node = all
        .iter()
        .find(|i| i.incident.resource == ResourceRef::node("node-a"))
        .expect("the real alert opened its own incident")
        .incident
        .id
        .clone();
    let storm = storms[0].incident.id.clone();
    // The real incident is analysed, and the storm goes to a human naming what it folded.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let analysed = !store.analyses(&node).await.unwrap().is_empty();
        let storm_state = store.get(&storm).await.unwrap().unwrap().incident.state;
        if analysed && storm_state == State::Escalated {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "analysed: {analysed}, storm: {storm_state:?}, backlog {:?}",
            lab.agent.engine.backlog()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let folded = sent - limits.per_rule;
    let note = store
        .timeline(&storm)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.message.starts_with("alert storm"))
        .expect("the storm's note");
    assert!(
        note.message.contains("JunkPodAlert") && note.message.contains("signal(s) folded"),
        "{}",
        note.message
    );
    assert_eq!(
        store.incident_signal_count(&storm).await.unwrap(),
        folded as u64,
        "every junk alert past the limit is on the storm"
    );
    lab.stop();
}
