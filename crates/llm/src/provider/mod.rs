//! The wire: OpenAI-compatible chat completions (OpenAI, Azure's deployment form, Ollama,
//! vLLM, llama.cpp) and Anthropic's Messages API, behind one conversation type. Requests
//! have a timeout, are retried with back-off on 429, 5xx, timeouts and connection errors
//! (honouring `Retry-After`), and pass a concurrency gate.
//!
//! - `client`: [`ChatClient`], the HTTP client for one configured model.
//! - `retry`: sending with retries, back-off and `Retry-After`, through the concurrency gate.
//! - `openai` and `anthropic`: each wire format, request body and answer.
//! - `error`: [`ProviderError`].

mod anthropic;
mod client;
mod error;
mod openai;
mod retry;

use serde_json::Value;

pub use anthropic::ANSWER_TOOL;
pub use client::ChatClient;
pub use error::ProviderError;
pub(crate) use retry::retrying;

/// A tool the model may call.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// Name.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// JSON schema of its arguments.
    pub parameters: Value,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    /// The provider's id of the call.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments (a JSON object, or the raw text when it did not parse).
    pub arguments: Value,
}

/// A tool's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The call it answers.
    pub id: String,
    /// What the tool returned (already redacted and fenced).
    pub content: String,
    /// Whether it is an error.
    pub is_error: bool,
}

/// One message after the system prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// From Nightshift.
    User(String),
    /// From the model.
    Assistant {
        /// Text, if any.
        text: Option<String>,
        /// Tool calls, if any.
        calls: Vec<ToolUse>,
    },
    /// Answers to the model's tool calls, with an optional note after them.
    ToolResults {
        /// Results in call order.
        results: Vec<ToolResult>,
        /// Text after the results.
        then: Option<String>,
    },
}

/// A conversation with the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// System prompt.
    pub system: String,
    /// Messages in order.
    pub messages: Vec<Message>,
}

/// Tokens a call cost, as the provider reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Input (prompt) tokens.
    pub input: u64,
    /// Output (completion) tokens.
    pub output: u64,
}

/// One answer of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Its text: the answer for OpenAI-style providers (or for Anthropic without a forced
    /// tool), or the answer tool's input as JSON.
    pub text: Option<String>,
    /// Anthropic: the answer tool call, whose result must carry any feedback.
    pub answer_call: Option<ToolUse>,
    /// Investigation tool calls.
    pub calls: Vec<ToolUse>,
    /// Why it stopped (`stop`, `tool_calls`, `length`, `end_turn`, `max_tokens`, ...).
    pub finish: String,
    /// Tokens.
    pub usage: TokenUsage,
}

impl Turn {
    /// Whether the output was cut off by the token limit.
    pub fn truncated(&self) -> bool {
        matches!(self.finish.as_str(), "length" | "max_tokens")
    }
}

/// One request: the conversation, the tools offered and the answer's schema.
pub struct Request<'a> {
    /// The conversation.
    pub conversation: &'a Conversation,
    /// Investigation tools (empty: none offered).
    pub tools: &'a [ToolDef],
    /// The answer's JSON schema.
    pub schema: &'a Value,
    /// The model must answer now: no investigation tools.
    pub force_answer: bool,
}
