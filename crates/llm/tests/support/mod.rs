//! Shared by the integration tests: evidence bundles captured from the scenarios, configs
//! pointing at a replay server, and a recording investigator.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_core::{AnalysisInput, Evidence, Incident};
use nightshift_llm::config::{AnalyzerMode, LlmConfig};
use nightshift_llm::replay::{ReplayServer, Reply, fixtures_dir};
use nightshift_llm::tools::{Investigator, Tool, ToolFuture};

/// A captured bundle: the incident as first analyzed and its evidence.
#[derive(Clone, serde::Deserialize)]
pub struct Bundle {
    pub scenario: String,
    pub incident: Incident,
    pub evidence: Evidence,
}

impl Bundle {
    /// `tests/fixtures/evidence/NAME.json`.
    pub fn load(name: &str) -> Bundle {
        let path = fixtures_dir().join("evidence").join(format!("{name}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn input(&self) -> AnalysisInput<'_> {
        AnalysisInput {
            incident: &self.incident,
            evidence: &self.evidence,
            history: &[],
        }
    }
}

/// An OpenAI-compatible config against the replay server, model-only, quick to give up.
pub fn openai(server: &ReplayServer) -> LlmConfig {
    LlmConfig {
        mode: AnalyzerMode::Llm,
        timeout: "2s".into(),
        max_backoff: "2s".into(),
        cache_ttl: "0s".into(),
        ..LlmConfig::openai(&server.openai_url(), "gpt-4o-mini", None)
    }
}

/// The same against the Anthropic-shaped endpoint.
pub fn anthropic(server: &ReplayServer) -> LlmConfig {
    LlmConfig {
        mode: AnalyzerMode::Llm,
        timeout: "2s".into(),
        max_backoff: "2s".into(),
        cache_ttl: "0s".into(),
        ..LlmConfig::anthropic(&server.url(), "claude-sonnet-4-5", None)
    }
}

/// A full chat-completion envelope around an answer.
pub fn openai_answer(answer: &serde_json::Value) -> Reply {
    Reply::json(
        serde_json::json!({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 1764295853,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.to_string()},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1500, "completion_tokens": 200, "total_tokens": 1700}
        })
        .to_string(),
    )
}

/// Every request body the server received, concatenated.
pub fn all_bodies(server: &ReplayServer) -> String {
    server
        .requests()
        .iter()
        .map(|r| r.body.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// An investigator that records its calls and answers with canned text.
#[derive(Clone, Default)]
pub struct Recorder {
    pub calls: Arc<Mutex<Vec<Tool>>>,
    pub answer: String,
}

impl Investigator for Recorder {
    fn run<'a>(&'a self, tool: &'a Tool) -> ToolFuture<'a> {
        self.calls.lock().unwrap().push(tool.clone());
        let answer = self.answer.clone();
        Box::pin(async move { Ok(answer) })
    }
}

pub const SHORT: Duration = Duration::from_millis(50);

/// A replay server answering every request with `replies` in turn.
pub async fn serve(replies: impl IntoIterator<Item = Reply>) -> ReplayServer {
    nightshift_llm::replay::Replay::new()
        .always(replies)
        .start()
        .await
        .expect("a loopback port")
}
