//! Signals over an incident's life, against the running agent: a new signal on an incident
//! escalated for low confidence gets it analysed again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nightshift::lab::{Lab, LabOptions};
use nightshift_agent::engine::EngineConfig;
use nightshift_core::analysis::AnalyzeError;
use nightshift_core::{
    Action, Analysis, AnalysisInput, Analyzer, Category, Diagnosis, Plan, ResourceRef, State,
};
use nightshift_store::IncidentFilter;
use serde_json::json;

/// Never sure: every analysis is below the policy's minimum confidence.
struct Unsure(Arc<AtomicUsize>);

impl Analyzer for Unsure {
    fn name(&self) -> &str {
        "unsure"
    }

    async fn analyze(&self, input: &AnalysisInput<'_>) -> Result<Analysis, AnalyzeError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let target = input.incident.resource.clone();
        Ok(Analysis {
            diagnosis: Diagnosis {
                category: Category::Crash,
                summary: "not sure yet".into(),
                evidence: Vec::new(),
                root_cause: target.clone(),
                confidence: 0.3,
            },
            plans: vec![Plan {
                action: Action::RolloutRestart { target },
                confidence: 0.3,
                rationale: "a guess".into(),
                expected_outcome: "recovery".into(),
            }],
            analyzer: "unsure".into(),
            notes: Vec::new(),
        })
    }
}

fn alert(name: &str) -> serde_json::Value {
    json!({"version": "4", "status": "firing", "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"), "alerts": [{
        "status": "firing",
        "labels": {"alertname": name, "namespace": "shop", "deployment": "checkout", "severity": "warning"},
        "annotations": {"summary": "checkout is unwell"},
        "startsAt": chrono::Utc::now().to_rfc3339(),
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_signal_on_a_low_confidence_escalation_is_analysed_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.watchers = false;
    opts.monitoring = false;
    opts.speed = 60.0;
    opts.engine = EngineConfig {
        settle: Duration::from_secs(5),
        ..EngineConfig::default()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let scenario = nightshift_scenario::load_file(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/noop-quiet-shop.yaml"),
    )
    .unwrap();
    let lab = Lab::start_with(&scenario, opts, Unsure(calls.clone()))
        .await
        .unwrap();
    let url = format!("http://{}/api/v1/alerts/alertmanager", lab.agent.addr);
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let store = lab.agent.engine.store().clone();
    let checkout = ResourceRef::deployment("shop", "checkout");
    let r = http
        .post(&url)
        .json(&alert("CheckoutErrors"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if let Some(i) = list
            .iter()
            .find(|i| i.incident.resource == checkout && i.incident.state == State::Escalated)
        {
            break i.incident.id.clone();
        }
        assert!(Instant::now() < deadline, "no low-confidence escalation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(store.analyses(&id).await.unwrap().len(), 1);
    // A minute of the cluster's time later, a new signal about the same workload.
    let since = lab.agent.engine.now();
    while lab.agent.engine.now() - since < chrono::Duration::seconds(65) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = http
        .post(&url)
        .json(&alert("CheckoutLatency"))
        .send()
        .await
        .unwrap();
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["joined"][0], id.0, "{report}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.analyses(&id).await.unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "not analysed again; calls {}",
            calls.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lab.stop();
}
