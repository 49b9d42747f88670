//! `nightshift eval --analyzer llm` end to end: the agent's model analyzer talks to a local
//! OpenAI-compatible server replaying recorded answers, and the report counts the calls and
//! tokens each scenario cost.

use std::path::PathBuf;
use std::process::Command;

use nightshift_llm::replay::{Replay, fixtures_dir};

fn suite(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_with_the_model_reports_calls_and_tokens() {
    let server = Replay::from_manifest(&fixtures_dir().join("scenarios.json"))
        .expect("the recorded answers load")
        .start()
        .await
        .expect("the replay server starts");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nightshift.yaml");
    std::fs::write(
        &config,
        format!(
            "llm:\n  provider: openai\n  base_url: {}\n  model: gpt-4o-mini\n  mode: llm\n  tools: false\n",
            server.openai_url()
        ),
    )
    .unwrap();
    let json = dir.path().join("report.json");
    let out = tokio::task::spawn_blocking({
        let (config, json) = (config.clone(), json.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_nightshift"))
                .arg("eval")
                .arg(suite("bad-rollout-catalog-crash"))
                .arg(suite("dependency-down-orders-postgres"))
                .args(["--analyzer", "llm", "--quiet", "--llm-config"])
                .arg(&config)
                .arg("--json")
                .arg(&json)
                .output()
                .expect("nightshift runs")
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let requests = server.requests();
    assert!(!requests.is_empty(), "the model was asked");
    let summary = &report["summary"];
    assert!(summary["llm_calls"].as_u64().unwrap() >= 2, "{report:#}");
    assert!(summary["llm_tokens"].as_u64().unwrap() > 0, "{report:#}");
    for s in report["scenarios"].as_array().unwrap() {
        assert!(s["llm_calls"].as_u64().unwrap() >= 1, "{s}");
        assert!(s["llm_tokens"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["harmful"], 0, "{s}");
    }
    // The recorded answer for catalog is a rollback of the bad release.
    let catalog = &report["scenarios"][0];
    assert_eq!(catalog["diagnosis"], "deploy/bad-release", "{report:#}");
    assert_eq!(catalog["actions"][0], "rollback@shop/catalog", "{report:#}");
}

#[test]
fn the_model_analyzer_needs_a_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("eval")
        .arg(suite("noop-quiet-shop"))
        .args(["--analyzer", "llm", "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--llm-config"), "{err}");
}

/// The agent's `/metrics` includes the model analyzer's own: requests and tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_metrics_count_the_model_calls() {
    use nightshift::lab::{Lab, LabOptions};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let server = Replay::from_manifest(&fixtures_dir().join("scenarios.json"))
        .unwrap()
        .start()
        .await
        .unwrap();
    let config = nightshift_llm::LlmConfig::from_yaml(
        &format!(
            "provider: openai\nbase_url: {}\nmodel: gpt-4o-mini\nmode: llm\ntools: false\n",
            server.openai_url()
        ),
        "test",
    )
    .unwrap();
    let analyzer = nightshift_llm::LlmAnalyzer::from_config(&config).unwrap();
    let metrics = analyzer.metrics().clone();
    let scenario = nightshift_scenario::load_file(&suite("bad-rollout-catalog-crash")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    let lab = Lab::start_with(&scenario, opts, analyzer).await.unwrap();
    assert!(
        lab.agent
            .api
            .extra_metrics
            .set(Arc::new(move |r| metrics.register(r)))
            .is_ok()
    );
    let url = format!("http://{}/metrics", lab.agent.addr);
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        let text = nightshift_net::client(&Default::default())
            .unwrap()
            .build()
            .unwrap()
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let asked = text.lines().any(|l| {
            l.starts_with("nightshift_llm_requests_total{")
                && l.split_whitespace().last().is_some_and(|v| v != "0")
        });
        if asked || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    lab.stop();
    assert!(
        text.contains("nightshift_llm_requests_total{") && text.contains("nightshift_incidents"),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.starts_with("nightshift_llm_requests_total{"))
            .any(|l| !l.ends_with(" 0")),
        "{text}"
    );
}
