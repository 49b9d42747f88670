//! What the knowledge base retrieved reaches the model within its own budget: the most similar
//! past incidents first, the rest counted, and the evidence of the present not crowded out.

mod support;

use nightshift_core::{EvidenceData, EvidenceId, EvidenceItem, EvidenceKind};
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::compress::Limits;
use nightshift_llm::replay::{Replay, Reply};
use support::*;

fn past(id: usize, incident: &str, similarity: f64, bundle: &Bundle) -> EvidenceItem {
    EvidenceItem {
        id: EvidenceId(format!("E{id}")),
        kind: EvidenceKind::PastIncident,
        resource: bundle.incident.resource.clone(),
        summary: format!("incident {incident}"),
        data: EvidenceData::PastIncident {
            incident: incident.into(),
            category: "deploy/bad-release".into(),
            action: Some("rollback".into()),
            outcome: "resolved".into(),
            similarity,
        },
        observed_at: bundle.incident.opened_at,
    }
}

#[tokio::test]
async fn the_prompt_carries_the_best_past_incidents_within_their_budget() {
    let server = Replay::new()
        .always([Reply::fixture("openai/catalog-bad-release.json")])
        .start()
        .await
        .unwrap();
    let analyzer = LlmAnalyzer::from_config(&openai(&server)).unwrap();
    let mut bundle = Bundle::load("bad-rollout-catalog-crash");
    let without = {
        let (_, user) = analyzer.prompt(&bundle.input());
        user
    };
    let first = bundle.evidence.items.len() + 1;
    // Twenty past incidents, the most similar last.
    for i in 0..20 {
        let item = past(
            first + i,
            &format!("inc-{i:06}"),
            0.5 + i as f64 / 50.0,
            &bundle,
        );
        bundle.evidence.items.push(item);
    }
    let a = analyzer.run(&bundle.input()).await;
    assert_eq!(a.analyzer, "llm:gpt-4o-mini", "{:?}", a.notes);
    let sent = all_bodies(&server);
    // The best come first; the least similar do not fit and are counted.
    assert!(sent.contains("inc-000019 on"), "{sent}");
    assert!(!sent.contains("inc-000000 on"), "{sent}");
    assert!(
        sent.contains("more past incidents not shown: budget"),
        "{sent}"
    );

    let (_, user) = analyzer.prompt(&bundle.input());
    let past_chars: usize = user
        .lines()
        .filter(|l| l.contains(" past incident "))
        .map(|l| l.len() + 1)
        .sum();
    assert!(
        past_chars > 0 && past_chars <= Limits::default().past_chars + 40,
        "{past_chars}"
    );
    // Everything the prompt had without the past is still there.
    for line in without.lines().filter(|l| l.starts_with('E')) {
        assert!(user.contains(line), "lost from the prompt: {line}");
    }
}
