//! The ways real models fail: truncated JSON, a wrong enum value, missing fields, confidence
//! as a string, an action outside the catalogue. An invalid answer is retried once with the
//! error shown to the model; a second invalid answer leaves the rules in charge, with the
//! reason in the notes.

mod support;

use nightshift_core::{ActionName, Category, RuleAnalyzer};
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::replay::Reply;
use support::*;

async fn run(
    replies: Vec<Reply>,
    anthropic_wire: bool,
) -> (
    nightshift_core::Analysis,
    nightshift_llm::replay::ReplayServer,
) {
    let server = serve(replies).await;
    let cfg = if anthropic_wire {
        anthropic(&server)
    } else {
        openai(&server)
    };
    let b = Bundle::load("bad-rollout-catalog-crash");
    let a = LlmAnalyzer::from_config(&cfg)
        .unwrap()
        .run(&b.input())
        .await;
    (a, server)
}

fn good() -> Reply {
    Reply::fixture("openai/catalog-bad-release.json")
}

#[tokio::test]
async fn a_truncated_answer_is_retried_with_the_error_fed_back() {
    let (a, server) = run(vec![Reply::fixture("openai/truncated.json"), good()], false).await;
    assert_eq!(a.diagnosis.category, Category::BadRelease);
    assert!(
        a.notes[0].contains("first answer rejected") && a.notes[0].contains("incomplete"),
        "{:?}",
        a.notes
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let second = reqs[1].json();
    let msgs = second["messages"].as_array().unwrap();
    assert_eq!(
        msgs[msgs.len() - 2]["role"],
        "assistant",
        "the rejected answer is shown"
    );
    let feedback = msgs[msgs.len() - 1]["content"].as_str().unwrap();
    assert!(
        feedback.contains("rejected") && feedback.contains("token limit"),
        "{feedback}"
    );
}

#[tokio::test]
async fn a_wrong_enum_value_twice_falls_back_to_the_rules() {
    let (a, server) = run(vec![Reply::fixture("openai/wrong-enum.json")], false).await;
    assert_eq!(server.requests().len(), 2, "one retry, no more");
    assert!(
        a.notes[0].contains("invalid after one retry") && a.notes[0].contains("deploy/bad-rollout"),
        "{:?}",
        a.notes
    );
    let b = Bundle::load("bad-rollout-catalog-crash");
    assert_eq!(a.plans, RuleAnalyzer::new().diagnose(&b.input()).plans);
    let feedback = server.requests()[1].json()["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        feedback.contains("category") && feedback.contains("expected one of"),
        "{feedback}"
    );
}

#[tokio::test]
async fn missing_fields_are_named() {
    let (a, server) = run(
        vec![Reply::fixture("openai/missing-fields.json"), good()],
        false,
    )
    .await;
    assert_eq!(a.diagnosis.category, Category::BadRelease);
    assert!(a.notes[0].contains("root_cause: missing"), "{:?}", a.notes);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn confidence_written_as_a_string_is_read_as_a_number() {
    let (a, server) = run(vec![Reply::fixture("openai/confidence-string.json")], false).await;
    assert_eq!(server.requests().len(), 1, "no retry needed");
    assert_eq!(a.diagnosis.confidence, 0.9);
    assert_eq!(a.plans[0].confidence, 0.88);
    assert!(
        a.notes.iter().any(|n| n.contains("as a string")),
        "{:?}",
        a.notes
    );
}

#[tokio::test]
async fn an_action_outside_the_catalogue_is_refused() {
    let (a, server) = run(
        vec![Reply::fixture("openai/outside-catalogue.json"), good()],
        false,
    )
    .await;
    assert!(
        a.notes[0].contains("\"delete-pods\" is not a catalogue action"),
        "{:?}",
        a.notes
    );
    assert_eq!(a.plans[0].action.name(), ActionName::Rollback);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn anthropic_feedback_goes_back_as_an_error_tool_result() {
    let (a, server) = run(
        vec![
            Reply::fixture("anthropic/wrong-enum.json"),
            Reply::fixture("anthropic/catalog-bad-release.json"),
        ],
        true,
    )
    .await;
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{:?}", a.notes);
    let second = server.requests()[1].json();
    let msgs = second["messages"].as_array().unwrap();
    let last = &msgs[msgs.len() - 1]["content"][0];
    assert_eq!(last["type"], "tool_result");
    assert_eq!(last["tool_use_id"], "toolu_01B9q8w7e6r5t4y3u2i1o0p9");
    assert_eq!(last["is_error"], true);
    assert!(last["content"].as_str().unwrap().contains("category"));
}

#[tokio::test]
async fn evidence_ids_the_bundle_does_not_have_are_dropped_and_a_resource_it_does_not_name_is_refused()
 {
    let answer = serde_json::json!({
        "category": "deploy/bad-release", "root_cause": "deployment/shop/catalog",
        "summary": "bad release", "evidence": ["E5", "E999"], "confidence": 0.8,
        "plans": [{"action": "rollback", "target": "deployment/kube-system/coredns", "replicas": null,
                   "revision": null, "container": null, "memory_limit": null, "memory_request": null,
                   "cpu_limit": null, "cpu_request": null, "runbook": null, "confidence": 0.8,
                   "rationale": "r", "expected_outcome": "o"}]
    });
    let (a, _server) = run(vec![openai_answer(&answer)], false).await;
    assert!(
        a.notes[0].contains("deployment/kube-system/coredns")
            && a.notes[0].contains("not a resource in the evidence"),
        "{:?}",
        a.notes
    );
}
