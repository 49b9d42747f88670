//! Investigation through tool calling: the model asks, a read-only investigator answers
//! (fenced as data), and the step and token budgets hold.

mod support;

use std::sync::Arc;

use nightshift_core::{ActionName, Category};
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::replay::{Replay, Reply};
use nightshift_llm::tools::Tool;
use support::*;

#[tokio::test]
async fn openai_tool_calls_are_answered_then_the_model_concludes() {
    let server = serve([
        Reply::fixture("openai/tool-call-logs.json"),
        Reply::fixture("openai/catalog-bad-release.json"),
    ])
    .await;
    let tool = Recorder {
        answer: "x3 panic: runtime error: invalid memory address".into(),
        ..Recorder::default()
    };
    let analyzer = LlmAnalyzer::from_config(&openai(&server))
        .unwrap()
        .with_investigator(Arc::new(tool.clone()));
    let a = analyzer
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{:?}", a.notes);
    let calls = tool.calls.lock().unwrap().clone();
    assert!(
        matches!(&calls[..], [Tool::PodLogs(q)] if q.previous == Some(true) && q.pattern.as_deref() == Some("panic|SIGSEGV"))
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let first = reqs[0].json();
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"pod_logs") && names.contains(&"events") && !names.contains(&"prom_range"),
        "{names:?}"
    );
    let second = reqs[1].json();
    let msgs = second["messages"].as_array().unwrap();
    assert_eq!(
        msgs[2]["tool_calls"][0]["id"],
        "call_Q7vZ2kX9mB4nL1pR8sT3wY6u"
    );
    assert_eq!(msgs[3]["role"], "tool");
    let content = msgs[3]["content"].as_str().unwrap();
    assert!(
        content.contains("<<<DATA")
            && content.contains("x3 panic")
            && content.contains("untrusted"),
        "{content}"
    );
}

#[tokio::test]
async fn anthropic_tool_use_is_answered_with_tool_results() {
    let server = serve([
        Reply::fixture("anthropic/tool-call-events.json"),
        Reply::fixture("anthropic/catalog-bad-release.json"),
    ])
    .await;
    let tool = Recorder {
        answer: "Warning BackOff x20: Back-off restarting failed container".into(),
        ..Recorder::default()
    };
    let a = LlmAnalyzer::from_config(&anthropic(&server))
        .unwrap()
        .with_investigator(Arc::new(tool.clone()))
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert_eq!(
        a.plans[0].action.name(),
        ActionName::Rollback,
        "{:?}",
        a.notes
    );
    let reqs = server.requests();
    let first = reqs[0].json();
    assert_eq!(first["tool_choice"]["type"], "any", "investigate or answer");
    let second = reqs[1].json();
    let msgs = second["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["content"][1]["type"], "tool_use");
    assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
    assert_eq!(
        msgs[2]["content"][0]["tool_use_id"],
        "toolu_01Hk8Jd2Lm5Np7Qr9St1Uv3W"
    );
    assert!(matches!(&tool.calls.lock().unwrap()[..], [Tool::Events(_)]));
}

#[tokio::test]
async fn a_model_that_only_investigates_is_made_to_answer_within_the_step_budget() {
    // Tool calls forever, until the tools are withdrawn: then the recorded answer.
    let server = Replay::new()
        .when("\"tools\"", [Reply::fixture("openai/tool-call-logs.json")])
        .always([Reply::fixture("openai/catalog-bad-release.json")])
        .start()
        .await
        .unwrap();
    let mut cfg = openai(&server);
    cfg.max_steps = 4;
    let tool = Recorder::default();
    let a = LlmAnalyzer::from_config(&cfg)
        .unwrap()
        .with_investigator(Arc::new(tool.clone()))
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "max_steps calls in all");
    assert!(
        reqs[3].json().get("tools").is_none(),
        "the last call offers no tools"
    );
    assert_eq!(tool.calls.lock().unwrap().len(), 3);
    assert_eq!(
        a.plans[0].action.name(),
        ActionName::Rollback,
        "{:?}",
        a.notes
    );
}

#[tokio::test]
async fn the_token_budget_stops_an_analysis_that_would_cost_too_much() {
    let server = serve([Reply::fixture("openai/catalog-bad-release.json")]).await;
    let mut cfg = openai(&server);
    cfg.max_input_tokens = 1_000;
    let a = LlmAnalyzer::from_config(&cfg)
        .unwrap()
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert!(server.requests().is_empty());
    assert!(a.notes[0].contains("token budget"), "{:?}", a.notes);
}

#[tokio::test]
async fn similar_incidents_come_from_the_bundle() {
    let tool_call = serde_json::json!({
        "id": "chatcmpl-sim", "object": "chat.completion", "created": 1764295853, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_sim", "type": "function", "function": {"name": "similar_incidents", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    });
    let server = serve([
        Reply::json(tool_call.to_string()),
        Reply::fixture("openai/catalog-bad-release.json"),
    ])
    .await;
    let tool = Recorder::default();
    LlmAnalyzer::from_config(&openai(&server))
        .unwrap()
        .with_investigator(Arc::new(tool.clone()))
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert!(
        tool.calls.lock().unwrap().is_empty(),
        "not the investigator's job"
    );
    let second = server.requests()[1].json();
    assert!(
        second["messages"][3]["content"]
            .as_str()
            .unwrap()
            .contains("no similar past incidents")
    );
}
