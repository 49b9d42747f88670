//! The agent's registered runbooks reach the model: its prompt says what each is for and the
//! answer's schema offers `run-runbook`, and a plan naming one comes out typed. A runbook
//! that is not registered is refused whatever the model says.

mod support;

use nightshift_core::runbook::RunbookSettings;
use nightshift_core::{Action, ActionName, ResourceRef};
use nightshift_llm::{AnalyzerMode, LlmAnalyzer};
use support::*;

const RUNBOOKS: &str = "
- name: flush-catalog-cache
  description: drop the catalog's warmed cache, which a bad release can poison
  match: {categories: [deploy/bad-release]}
  risk: medium
  targets: {namespaces: [shop]}
  actions: [{action: rollout-restart}]
";

fn answer(runbook: &str) -> serde_json::Value {
    serde_json::json!({
        "category": "deploy/bad-release", "root_cause": "deployment/shop/catalog",
        "summary": "revision 2 poisoned the cache", "evidence": ["E5"], "confidence": 0.85,
        "plans": [{
            "action": "run-runbook", "target": "deployment/shop/catalog", "replicas": null,
            "revision": null, "container": null, "memory_limit": null, "memory_request": null,
            "cpu_limit": null, "cpu_request": null, "runbook": runbook, "confidence": 0.8,
            "rationale": "E5: the runbook written for this", "expected_outcome": "pods Ready"
        }]
    })
}

/// The analysis of the catalog's bad release by a model that proposes `runbook`, with the
/// registry of `RUNBOOKS`.
async fn analyze(
    runbook: &str,
) -> (
    nightshift_core::Analysis,
    nightshift_llm::replay::ReplayServer,
) {
    let settings: Vec<RunbookSettings> = serde_saphyr::from_str(RUNBOOKS).unwrap();
    let registry = nightshift_core::runbook::read::registry(&settings, |_| None).unwrap();
    let server = serve([openai_answer(&answer(runbook))]).await;
    let mut cfg = openai(&server);
    cfg.mode = AnalyzerMode::Llm;
    let analyzer = LlmAnalyzer::from_config(&cfg)
        .unwrap()
        .with_runbooks(&registry);
    let b = Bundle::load("bad-rollout-catalog-crash");
    (analyzer.run(&b.input()).await, server)
}

#[tokio::test]
async fn registered_runbooks_are_described_to_the_model_and_proposed_typed() {
    let (a, server) = analyze("flush-catalog-cache").await;
    assert_eq!(
        a.plans[0].action,
        Action::RunRunbook {
            name: "flush-catalog-cache".into(),
            target: ResourceRef::deployment("shop", "catalog"),
        },
        "{:?}",
        a.notes
    );
    let body = server.requests()[0].json();
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains(
            "flush-catalog-cache: drop the catalog's warmed cache, which a bad release can poison (for deploy/bad-release; risk medium)"
        ),
        "{system}"
    );
    let actions = &body["response_format"]["json_schema"]["schema"]["properties"]["plans"]["items"]
        ["properties"]["action"]["enum"];
    assert!(
        actions
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == ActionName::RunRunbook.as_str()),
        "{actions}"
    );
}

#[tokio::test]
async fn a_runbook_the_agent_does_not_have_is_refused() {
    let (a, server) = analyze("wipe-everything").await;
    assert!(
        !a.plans
            .iter()
            .any(|p| p.action.name() == ActionName::RunRunbook),
        "{:?}",
        a.plans
    );
    let second = server.requests()[1].json();
    let feedback = second["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        feedback.contains("\"wipe-everything\" is not a registered runbook")
            && feedback.contains("flush-catalog-cache"),
        "{feedback}"
    );
}
