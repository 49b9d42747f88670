//! The wire: OpenAI-compatible chat completions (OpenAI, Azure's deployment form, Ollama,
//! vLLM, llama.cpp) and Anthropic's Messages API, behind one conversation type. Requests
//! have a timeout, are retried with back-off on 429, 5xx, timeouts and connection errors
//! (honouring `Retry-After`), and pass a concurrency gate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::config::{ConfigError, Durations, LlmConfig, ProviderKind, StructuredOutput};
use crate::metrics::Metrics;

/// The tool through which Anthropic models hand in their answer.
pub const ANSWER_TOOL: &str = "submit_analysis";

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

/// Why a call failed after its retries.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A status that is not worth retrying, or still failing after the retries.
    #[error("{provider} answered HTTP {status}: {body}")]
    Status {
        /// Provider.
        provider: &'static str,
        /// Status code.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// No answer within the timeout, after the retries.
    #[error("{provider} did not answer within {timeout:?} ({attempts} attempts)")]
    Timeout {
        /// Provider.
        provider: &'static str,
        /// Per-request timeout.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// Connection or protocol failure, after the retries.
    #[error("unable to reach {provider} at {url}: {message}")]
    Transport {
        /// Provider.
        provider: &'static str,
        /// URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The body was not the provider's response format.
    #[error("unable to read the {provider} response: {message}")]
    Decode {
        /// Provider.
        provider: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl ProviderError {
    /// A short label for the failures metric.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Status { status: 429, .. } => "rate_limited",
            ProviderError::Status { status, .. } if *status >= 500 => "server_error",
            ProviderError::Status { .. } => "client_error",
            ProviderError::Timeout { .. } => "timeout",
            ProviderError::Transport { .. } => "transport",
            ProviderError::Decode { .. } => "decode",
        }
    }
}

/// A client for one configured model.
#[derive(Clone)]
pub struct ChatClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    cfg: LlmConfig,
    durations: Durations,
    key: Option<String>,
    gate: Semaphore,
    metrics: Metrics,
}

impl ChatClient {
    /// A client for `cfg`, reading the API key from the environment variable it names.
    pub fn new(cfg: &LlmConfig, metrics: Metrics) -> Result<Self, ConfigError> {
        let durations = cfg.validate("llm config")?;
        let key = match &cfg.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| ConfigError {
                origin: "llm config".into(),
                key: "api_key_env".into(),
                message: format!("the environment variable {var} is not set"),
            })?),
            None => None,
        };
        if cfg.endpoint().starts_with("https://") && !cfg!(feature = "https") {
            return Err(ConfigError {
                origin: "llm config".into(),
                key: "base_url".into(),
                message: format!(
                    "{} needs TLS: build with the `https` feature (cargo build --features nightshift-llm/https)",
                    cfg.endpoint()
                ),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(durations.timeout)
            .connect_timeout(durations.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ConfigError {
                origin: "llm config".into(),
                key: "*".into(),
                message: format!("unable to build the HTTP client: {e}"),
            })?;
        Ok(ChatClient {
            inner: Arc::new(Inner {
                http,
                cfg: cfg.clone(),
                durations,
                key,
                gate: Semaphore::new(cfg.concurrency),
                metrics,
            }),
        })
    }

    fn provider(&self) -> &'static str {
        self.inner.cfg.provider.as_str()
    }

    /// The URL requests go to.
    pub fn url(&self) -> String {
        let cfg = &self.inner.cfg;
        let base = cfg.endpoint();
        match cfg.provider {
            ProviderKind::Openai => format!("{base}/chat/completions"),
            ProviderKind::Azure => format!(
                "{base}/openai/deployments/{}/chat/completions?api-version={}",
                cfg.azure_deployment.as_deref().unwrap_or_default(),
                cfg.azure_api_version
            ),
            ProviderKind::Anthropic if base.ends_with("/v1") => format!("{base}/messages"),
            ProviderKind::Anthropic => format!("{base}/v1/messages"),
        }
    }

    /// The request body for `req`.
    pub fn body(&self, req: &Request<'_>) -> Value {
        match self.inner.cfg.provider {
            ProviderKind::Openai | ProviderKind::Azure => openai_body(&self.inner.cfg, req),
            ProviderKind::Anthropic => anthropic_body(&self.inner.cfg, req),
        }
    }

    /// Sends one request, retrying as configured, and reads the model's turn.
    pub async fn send(&self, req: &Request<'_>) -> Result<Turn, ProviderError> {
        let body = self.body(req);
        let url = self.url();
        let inner = &self.inner;
        let max = inner.cfg.max_retries;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            let outcome = {
                let _permit = inner
                    .gate
                    .acquire()
                    .await
                    .expect("the gate is never closed");
                self.post(&url, &body).await
            };
            let elapsed = started.elapsed();
            let (err, wait) = match outcome {
                Ok((status, headers, text)) if (200..300).contains(&status) => {
                    let turn = match inner.cfg.provider {
                        ProviderKind::Anthropic => anthropic_turn(&text),
                        _ => openai_turn(&text),
                    }
                    .map_err(|message| ProviderError::Decode {
                        provider: self.provider(),
                        message,
                    });
                    drop(headers);
                    match turn {
                        Ok(t) => {
                            inner.metrics.call(&inner.cfg, elapsed, t.usage, None);
                            return Ok(t);
                        }
                        Err(e) => {
                            inner.metrics.call(
                                &inner.cfg,
                                elapsed,
                                TokenUsage::default(),
                                Some(e.kind()),
                            );
                            return Err(e);
                        }
                    }
                }
                Ok((status, headers, text)) => {
                    let err = ProviderError::Status {
                        provider: self.provider(),
                        status,
                        body: text.chars().take(300).collect(),
                    };
                    let retryable = status == 429 || status == 529 || status >= 500;
                    if !retryable {
                        inner.metrics.call(
                            &inner.cfg,
                            elapsed,
                            TokenUsage::default(),
                            Some(err.kind()),
                        );
                        return Err(err);
                    }
                    (err, retry_after(&headers))
                }
                Err(e) => (e, None),
            };
            inner
                .metrics
                .call(&inner.cfg, elapsed, TokenUsage::default(), Some(err.kind()));
            if attempt > max {
                return Err(match err {
                    ProviderError::Timeout {
                        provider, timeout, ..
                    } => ProviderError::Timeout {
                        provider,
                        timeout,
                        attempts: attempt,
                    },
                    other => other,
                });
            }
            let backoff = Duration::from_millis(500u64.saturating_mul(1 << (attempt - 1).min(6)));
            let wait = wait.unwrap_or(backoff).min(inner.durations.max_backoff);
            tracing::warn!(error = %err, ?wait, attempt, "model request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn post(
        &self,
        url: &str,
        body: &Value,
    ) -> Result<(u16, reqwest::header::HeaderMap, String), ProviderError> {
        let inner = &self.inner;
        let mut rb = inner.http.post(url).json(body);
        match inner.cfg.provider {
            ProviderKind::Openai => {
                if let Some(k) = &inner.key {
                    rb = rb.bearer_auth(k);
                }
            }
            ProviderKind::Azure => {
                if let Some(k) = &inner.key {
                    rb = rb.header("api-key", k);
                }
            }
            ProviderKind::Anthropic => {
                rb = rb.header("anthropic-version", "2023-06-01");
                if let Some(k) = &inner.key {
                    rb = rb.header("x-api-key", k);
                }
            }
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                ProviderError::Timeout {
                    provider: self.provider(),
                    timeout: inner.durations.timeout,
                    attempts: 1,
                }
            } else {
                ProviderError::Transport {
                    provider: self.provider(),
                    url: url.to_string(),
                    message: e.to_string(),
                }
            }
        };
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(transport)?;
        Ok((status, headers, text))
    }
}

/// The wait a 429/503 asks for: `retry-after-ms`, or `Retry-After` in seconds or as an
/// HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    Some(Duration::from_millis(secs.max(0) as u64))
}

fn openai_body(cfg: &LlmConfig, req: &Request<'_>) -> Value {
    let mut messages = vec![json!({"role": "system", "content": req.conversation.system})];
    for m in &req.conversation.messages {
        match m {
            Message::User(t) => messages.push(json!({"role": "user", "content": t})),
            Message::Assistant { text, calls } => {
                let mut msg = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    msg["tool_calls"] = calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function", "function": {
                                "name": c.name,
                                "arguments": match &c.arguments {
                                    Value::String(s) => s.clone(),
                                    v => v.to_string(),
                                }
                            }})
                        })
                        .collect();
                }
                messages.push(msg);
            }
            Message::ToolResults { results, then } => {
                for r in results {
                    messages
                        .push(json!({"role": "tool", "tool_call_id": r.id, "content": r.content}));
                }
                if let Some(t) = then {
                    messages.push(json!({"role": "user", "content": t}));
                }
            }
        }
    }
    let mut body = json!({
        "model": cfg.model,
        "messages": messages,
        "temperature": cfg.temperature,
        "max_tokens": cfg.max_output_tokens,
    });
    match cfg.structured_output {
        StructuredOutput::JsonSchema => {
            body["response_format"] = json!({"type": "json_schema", "json_schema": {
                "name": crate::answer::schema_name(),
                "strict": true,
                "schema": req.schema,
            }});
        }
        StructuredOutput::JsonObject => body["response_format"] = json!({"type": "json_object"}),
        StructuredOutput::Prompt => {}
    }
    if !req.tools.is_empty() && !req.force_answer {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters
                }})
            })
            .collect();
        body["tool_choice"] = json!("auto");
    }
    body
}

fn openai_turn(text: &str) -> Result<Turn, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let choice = v
        .pointer("/choices/0")
        .ok_or("no choices in the response")?;
    let msg = choice
        .get("message")
        .ok_or("no message in the first choice")?;
    let calls = msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| {
                    let raw = c
                        .pointer("/function/arguments")
                        .cloned()
                        .unwrap_or(Value::Null);
                    let arguments = match &raw {
                        Value::String(s) => serde_json::from_str(s).unwrap_or(raw.clone()),
                        _ => raw.clone(),
                    };
                    ToolUse {
                        id: c
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or("call")
                            .to_string(),
                        name: c
                            .pointer("/function/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        arguments,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Turn {
        text: msg
            .get("content")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string),
        answer_call: None,
        calls,
        finish: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        usage: TokenUsage {
            input: v
                .pointer("/usage/prompt_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            output: v
                .pointer("/usage/completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        },
    })
}

fn anthropic_body(cfg: &LlmConfig, req: &Request<'_>) -> Value {
    let mut messages = Vec::new();
    for m in &req.conversation.messages {
        match m {
            Message::User(t) => messages.push(json!({"role": "user", "content": t})),
            Message::Assistant { text, calls } => {
                let mut content = Vec::new();
                if let Some(t) = text {
                    content.push(json!({"type": "text", "text": t}));
                }
                for c in calls {
                    let input = match &c.arguments {
                        Value::Object(_) => c.arguments.clone(),
                        _ => json!({}),
                    };
                    content.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            Message::ToolResults { results, then } => {
                let mut content: Vec<Value> = results
                    .iter()
                    .map(|r| {
                        json!({"type": "tool_result", "tool_use_id": r.id, "content": r.content, "is_error": r.is_error})
                    })
                    .collect();
                if let Some(t) = then {
                    content.push(json!({"type": "text", "text": t}));
                }
                messages.push(json!({"role": "user", "content": content}));
            }
        }
    }
    let mut body = json!({
        "model": cfg.model,
        "max_tokens": cfg.max_output_tokens,
        "temperature": cfg.temperature,
        "system": req.conversation.system,
        "messages": messages,
    });
    let forced = cfg.structured_output != StructuredOutput::Prompt;
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(
            |t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}),
        )
        .collect();
    if forced {
        tools.push(json!({
            "name": ANSWER_TOOL,
            "description": "Hand in the diagnosis and the ranked plans.",
            "input_schema": req.schema,
        }));
    }
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools);
        body["tool_choice"] = if forced && (req.force_answer || req.tools.is_empty()) {
            json!({"type": "tool", "name": ANSWER_TOOL})
        } else if forced {
            json!({"type": "any"})
        } else {
            json!({"type": "auto"})
        };
    }
    body
}

fn anthropic_turn(text: &str) -> Result<Turn, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no content in the response")?;
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    let mut answer_call = None;
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(t) = b.get("text").and_then(Value::as_str) {
                    texts.push(t.to_string());
                }
            }
            Some("tool_use") => {
                let call = ToolUse {
                    id: b
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("toolu")
                        .to_string(),
                    name: b
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    arguments: b.get("input").cloned().unwrap_or(Value::Null),
                };
                if call.name == ANSWER_TOOL {
                    answer_call = Some(call);
                } else {
                    calls.push(call);
                }
            }
            _ => {}
        }
    }
    let text = match &answer_call {
        Some(c) => Some(c.arguments.to_string()),
        None => Some(texts.join("\n")).filter(|t| !t.trim().is_empty()),
    };
    Ok(Turn {
        text,
        answer_call,
        calls,
        finish: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        usage: TokenUsage {
            input: v
                .pointer("/usage/input_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            output: v
                .pointer("/usage/output_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_after_in_seconds_milliseconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new()), None);
    }
}
