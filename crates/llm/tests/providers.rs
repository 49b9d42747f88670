//! The wire against a replay server: OpenAI, Azure's form and Anthropic, good answers for
//! several scenarios, retries on 429 with Retry-After, timeouts and server errors.

mod support;

use std::time::Duration;

use nightshift_core::{Action, ActionName, Category, ResourceRef};
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::config::ProviderKind;
use nightshift_llm::replay::{Replay, Reply};
use support::*;

#[tokio::test]
async fn openai_answers_become_typed_plans_for_several_scenarios() {
    let server = Replay::new()
        .when(
            "deployment/shop/catalog",
            [Reply::fixture("openai/catalog-bad-release.json")],
        )
        .when(
            "deployment/payments/payments-api",
            [Reply::fixture("openai/payments-bad-release.json")],
        )
        .when(
            "statefulset/shop/postgres",
            [Reply::fixture("openai/postgres-dependency.json")],
        )
        .when(
            "deployment/shop/checkout",
            [Reply::fixture("openai/checkout-crash-markdown.json")],
        )
        .start()
        .await
        .unwrap();
    let mut cfg = openai(&server);
    cfg.api_key_env = Some("CARGO_PKG_NAME".into());
    let analyzer = LlmAnalyzer::from_config(&cfg).unwrap();

    let catalog = Bundle::load("bad-rollout-catalog-crash");
    let a = analyzer.run(&catalog.input()).await;
    assert_eq!(a.analyzer, "llm:gpt-4o-mini");
    assert_eq!(a.diagnosis.category, Category::BadRelease);
    assert_eq!(
        a.diagnosis.root_cause,
        ResourceRef::deployment("shop", "catalog")
    );
    assert_eq!(a.diagnosis.evidence.len(), 4);
    assert_eq!(
        a.plans[0].action,
        Action::Rollback {
            target: ResourceRef::deployment("shop", "catalog"),
            revision: Some(1)
        }
    );
    assert_eq!(a.plans[1].action.name(), ActionName::Escalate);

    let payments = Bundle::load("bad-rollout-payments-errors");
    let a = analyzer.run(&payments.input()).await;
    assert_eq!(
        a.diagnosis.root_cause,
        ResourceRef::deployment("payments", "payments-api")
    );
    assert_eq!(a.plans[0].action.name(), ActionName::Rollback);

    let postgres = Bundle::load("dependency-down-orders-postgres");
    let a = analyzer.run(&postgres.input()).await;
    assert_eq!(a.diagnosis.category, Category::DependencyUnavailable);
    let sts = ResourceRef::Workload {
        kind: nightshift_core::WorkloadKind::StatefulSet,
        namespace: "shop".into(),
        name: "postgres".into(),
    };
    assert_eq!(a.plans[0].action, Action::RolloutRestart { target: sts });

    // JSON inside a markdown fence, between sentences of prose, is found.
    let checkout = Bundle::load("crash-checkout-bug");
    let a = analyzer.run(&checkout.input()).await;
    assert_eq!(a.diagnosis.category, Category::Crash, "{:?}", a.notes);
    assert_eq!(a.plans[0].action.name(), ActionName::Escalate);

    let usage = analyzer.usage();
    assert_eq!(usage.calls, 4);
    assert_eq!(usage.tokens_in, 2140 + 1870 + 1596 + 1985);
    assert_eq!(usage.tokens_out, 310 + 262 + 238 + 356);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    let first = &reqs[0];
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.headers["authorization"], "Bearer nightshift-llm");
    let body = first.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert_eq!(schema["additionalProperties"], false);
    let actions = schema["properties"]["plans"]["items"]["properties"]["action"]["enum"]
        .as_array()
        .unwrap();
    assert!(actions.iter().any(|a| a == "rollback"));
    assert!(
        !actions.iter().any(|a| a == "run-runbook"),
        "no runbook is registered"
    );
    let categories = schema["properties"]["category"]["enum"].as_array().unwrap();
    assert_eq!(categories.len(), Category::ALL.len());
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(
        body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("E5 rollout history")
    );
}

#[tokio::test]
async fn anthropic_answers_through_a_forced_tool() {
    let server = serve([Reply::fixture("anthropic/catalog-bad-release.json")]).await;
    let mut cfg = anthropic(&server);
    cfg.api_key_env = Some("CARGO_PKG_NAME".into());
    let analyzer = LlmAnalyzer::from_config(&cfg).unwrap();
    let b = Bundle::load("bad-rollout-catalog-crash");
    let a = analyzer.run(&b.input()).await;
    assert_eq!(a.analyzer, "llm:claude-sonnet-4-5");
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{:?}", a.notes);
    assert_eq!(a.plans[0].action.name(), ActionName::Rollback);
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/v1/messages");
    assert_eq!(reqs[0].headers["x-api-key"], "nightshift-llm");
    assert_eq!(reqs[0].headers["anthropic-version"], "2023-06-01");
    let body = reqs[0].json();
    assert_eq!(body["tool_choice"]["type"], "tool");
    assert_eq!(body["tool_choice"]["name"], "submit_analysis");
    assert_eq!(body["tools"][0]["name"], "submit_analysis");
    assert!(body["system"].as_str().unwrap().contains("untrusted data"));
    assert_eq!(analyzer.usage().tokens_in, 2310);
}

#[tokio::test]
async fn azure_uses_the_deployment_path_api_version_and_api_key_header() {
    let server = serve([Reply::fixture("openai/catalog-bad-release.json")]).await;
    let mut cfg = openai(&server);
    cfg.provider = ProviderKind::Azure;
    cfg.base_url = server.url();
    cfg.azure_deployment = Some("nightshift-gpt4o".into());
    cfg.api_key_env = Some("CARGO_PKG_NAME".into());
    let analyzer = LlmAnalyzer::from_config(&cfg).unwrap();
    let a = analyzer
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert_eq!(a.diagnosis.category, Category::BadRelease);
    let r = &server.requests()[0];
    assert_eq!(
        r.path,
        "/openai/deployments/nightshift-gpt4o/chat/completions"
    );
    assert_eq!(r.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(r.headers["api-key"], "nightshift-llm");
    assert!(!r.headers.contains_key("authorization"));
}

#[tokio::test]
async fn a_429_is_retried_after_the_time_retry_after_asks_for() {
    let limited = Reply::status(
        429,
        std::fs::read_to_string(
            nightshift_llm::replay::fixtures_dir().join("openai/rate-limited.json"),
        )
        .unwrap(),
    )
    .header("retry-after", "1");
    let server = serve([limited, Reply::fixture("openai/catalog-bad-release.json")]).await;
    let analyzer = LlmAnalyzer::from_config(&openai(&server)).unwrap();
    let a = analyzer
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{:?}", a.notes);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs[1].at - reqs[0].at >= Duration::from_millis(950),
        "the retry came after {:?}",
        reqs[1].at - reqs[0].at
    );
    assert_eq!(analyzer.usage().calls, 2);
}

#[tokio::test]
async fn an_overloaded_anthropic_is_retried() {
    let overloaded = Reply::status(
        529,
        std::fs::read_to_string(
            nightshift_llm::replay::fixtures_dir().join("anthropic/overloaded.json"),
        )
        .unwrap(),
    );
    let server = serve([
        overloaded,
        Reply::fixture("anthropic/catalog-bad-release.json"),
    ])
    .await;
    let mut cfg = anthropic(&server);
    cfg.max_backoff = "100ms".into();
    let a = LlmAnalyzer::from_config(&cfg)
        .unwrap()
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert_eq!(
        a.plans[0].action.name(),
        ActionName::Rollback,
        "{:?}",
        a.notes
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_model_that_does_not_answer_in_time_leaves_the_rules_in_charge() {
    let server =
        serve([Reply::fixture("openai/catalog-bad-release.json").delay(Duration::from_secs(5))])
            .await;
    let mut cfg = openai(&server);
    cfg.timeout = "300ms".into();
    cfg.max_retries = 1;
    cfg.max_backoff = "50ms".into();
    let analyzer = LlmAnalyzer::from_config(&cfg).unwrap();
    let b = Bundle::load("bad-rollout-catalog-crash");
    let a = analyzer.run(&b.input()).await;
    assert_eq!(server.requests().len(), 2, "one try and one retry");
    assert!(
        a.notes[0].contains("did not answer within") && a.notes[0].contains("rule analysis stands"),
        "{:?}",
        a.notes
    );
    let rules = nightshift_core::RuleAnalyzer::new().diagnose(&b.input());
    assert_eq!(a.diagnosis, rules.diagnosis);
    assert_eq!(a.plans, rules.plans);
    assert_eq!(analyzer.usage().fallbacks, 1);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = serve([Reply::status(401, r#"{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}"#)]).await;
    let a = LlmAnalyzer::from_config(&openai(&server))
        .unwrap()
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert_eq!(server.requests().len(), 1);
    assert!(a.notes[0].contains("HTTP 401"), "{:?}", a.notes);
}

#[tokio::test]
async fn a_missing_key_variable_is_a_config_error() {
    let mut cfg = nightshift_llm::LlmConfig::openai("http://127.0.0.1:9/v1", "m", None);
    cfg.api_key_env = Some("NIGHTSHIFT_TEST_SURELY_UNSET_KEY".into());
    let e = LlmAnalyzer::from_config(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("NIGHTSHIFT_TEST_SURELY_UNSET_KEY is not set"),
        "{e}"
    );
}
