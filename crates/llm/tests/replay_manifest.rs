//! Replay rules from a manifest, as the evaluation loads them.

mod support;

use nightshift_core::Category;
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::replay::{Replay, fixtures_dir};
use support::*;

#[tokio::test]
async fn the_scenario_manifest_answers_by_resource_and_rate_limits_the_rest() {
    let server = Replay::from_manifest(&fixtures_dir().join("scenarios.json"))
        .unwrap()
        .start()
        .await
        .unwrap();
    let mut cfg = openai(&server);
    cfg.max_retries = 0;
    let analyzer = LlmAnalyzer::from_config(&cfg).unwrap();
    let a = analyzer
        .run(&Bundle::load("dependency-down-orders-postgres").input())
        .await;
    assert_eq!(a.diagnosis.category, Category::DependencyUnavailable);
    let a = analyzer
        .run(&Bundle::load("transient-inventory-error-burst").input())
        .await;
    assert!(a.notes[0].contains("HTTP 429"), "{:?}", a.notes);
    let e = Replay::from_manifest(&fixtures_dir().join("missing.json"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("No such file") || e.kind() == std::io::ErrorKind::NotFound);
}
