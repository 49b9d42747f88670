//! Hybrid mode: rules first; the model when the rules are unsure; agreement and
//! disagreement; the cache for the same signature.

mod support;

use nightshift_core::{Analyzer, Category, RuleAnalyzer};
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::config::AnalyzerMode;
use nightshift_llm::replay::Reply;
use support::*;

fn hybrid(
    server: &nightshift_llm::replay::ReplayServer,
    threshold: f64,
) -> nightshift_llm::LlmConfig {
    let mut cfg = openai(server);
    cfg.mode = AnalyzerMode::Hybrid;
    cfg.confidence_threshold = threshold;
    cfg
}

#[tokio::test]
async fn confident_rules_answer_alone() {
    let server = serve([Reply::fixture("openai/catalog-bad-release.json")]).await;
    let b = Bundle::load("bad-rollout-catalog-crash");
    let rules = RuleAnalyzer::new().diagnose(&b.input());
    let analyzer = LlmAnalyzer::from_config(&hybrid(&server, 0.5)).unwrap();
    let a = analyzer.analyze(&b.input()).await.unwrap();
    assert_eq!(analyzer.name(), "hybrid");
    assert_eq!(a.analyzer, "hybrid");
    assert_eq!(a.plans, rules.plans);
    assert!(
        a.notes.iter().any(|n| n.contains("model not consulted")),
        "{:?}",
        a.notes
    );
    assert!(server.requests().is_empty());
    assert_eq!(analyzer.usage().calls, 0);
}

#[tokio::test]
async fn unsure_rules_ask_and_agreement_keeps_the_rules_plans_at_the_higher_confidence() {
    let server = serve([Reply::fixture("openai/catalog-bad-release.json")]).await;
    let b = Bundle::load("bad-rollout-catalog-crash");
    let rules = RuleAnalyzer::new().diagnose(&b.input());
    assert_eq!(rules.diagnosis.category, Category::BadRelease);
    let a = LlmAnalyzer::from_config(&hybrid(&server, 1.0))
        .unwrap()
        .run(&b.input())
        .await;
    assert_eq!(server.requests().len(), 1);
    assert!(a.notes[0].contains("rules unsure"), "{:?}", a.notes);
    assert!(
        a.notes.iter().any(|n| n.contains("model agrees")),
        "{:?}",
        a.notes
    );
    assert_eq!(a.diagnosis.confidence, rules.diagnosis.confidence.max(0.9));
    assert_eq!(
        a.plans.iter().map(|p| p.action.clone()).collect::<Vec<_>>(),
        rules
            .plans
            .iter()
            .map(|p| p.action.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn disagreement_is_recorded_and_lowers_confidence_below_the_policy_bar() {
    // The model blames the application for what the rules see as a dependency problem.
    let answer = serde_json::json!({
        "category": "app/hang", "root_cause": "statefulset/shop/postgres",
        "summary": "postgres hangs", "evidence": ["E5"], "confidence": 0.95,
        "plans": [{"action": "rollout-restart", "target": "statefulset/shop/postgres", "replicas": null,
                   "revision": null, "container": null, "memory_limit": null, "memory_request": null,
                   "cpu_limit": null, "cpu_request": null, "runbook": null, "confidence": 0.9,
                   "rationale": "E5 not ready while running", "expected_outcome": "ready"}]
    });
    let server = serve([openai_answer(&answer)]).await;
    let b = Bundle::load("dependency-down-orders-postgres");
    let rules = RuleAnalyzer::new().diagnose(&b.input());
    assert_ne!(rules.diagnosis.category, Category::Hang);
    let a = LlmAnalyzer::from_config(&hybrid(&server, 1.0))
        .unwrap()
        .run(&b.input())
        .await;
    let note = a
        .notes
        .iter()
        .find(|n| n.contains("disagree"))
        .expect("a disagreement note");
    assert!(
        note.contains("app/hang") && note.contains(rules.diagnosis.category.as_str()),
        "{note}"
    );
    assert!(a.diagnosis.confidence <= 0.5);
    assert!(a.plans.iter().all(|p| p.confidence <= 0.5));
    let policy = nightshift_core::Policy::default();
    assert!(
        a.diagnosis.confidence < policy.min_confidence,
        "the policy hands it to a human"
    );
}

#[tokio::test]
async fn the_same_signature_within_the_window_reuses_the_answer() {
    let server = serve([Reply::fixture("openai/catalog-bad-release.json")]).await;
    let mut cfg = openai(&server);
    cfg.cache_ttl = "10m".into();
    let analyzer = LlmAnalyzer::from_config(&cfg).unwrap();
    let b = Bundle::load("bad-rollout-catalog-crash");
    let first = analyzer.run(&b.input()).await;
    // A later collection of the same picture: restart counts went up, nothing else changed.
    let mut later = b.clone();
    for item in &mut later.evidence.items {
        item.observed_at += chrono::Duration::minutes(3);
        if let nightshift_core::EvidenceData::ContainerStatus { restart_count, .. } = &mut item.data
        {
            *restart_count += 2;
        }
        item.summary = item.summary.replace("3 restarts", "5 restarts");
    }
    let clone = analyzer.clone();
    let second = clone.run(&later.input()).await;
    assert_eq!(server.requests().len(), 1);
    assert_eq!(second.plans, first.plans);
    assert!(
        second.notes.iter().any(|n| n.contains("reused")),
        "{:?}",
        second.notes
    );
    assert_eq!(analyzer.usage().cache_hits, 1, "clones share counters");
    // Past the window, the model is asked again.
    let mut much_later = b.clone();
    for item in &mut much_later.evidence.items {
        item.observed_at += chrono::Duration::minutes(30);
    }
    analyzer.run(&much_later.input()).await;
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_failing_model_leaves_the_rules_answer_with_the_reason() {
    let server = serve([Reply::status(503, "upstream connect error")]).await;
    let mut cfg = hybrid(&server, 1.0);
    cfg.max_retries = 0;
    let b = Bundle::load("bad-rollout-catalog-crash");
    let rules = RuleAnalyzer::new().diagnose(&b.input());
    let a = LlmAnalyzer::from_config(&cfg)
        .unwrap()
        .run(&b.input())
        .await;
    assert_eq!(a.plans, rules.plans);
    assert!(
        a.notes[0].contains("HTTP 503") && a.notes[0].contains("rule analysis stands"),
        "{:?}",
        a.notes
    );
}
