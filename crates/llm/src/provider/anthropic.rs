//! Anthropic's Messages wire: the request body (the answer handed in through a forced tool)
//! and the model's turn.

use serde_json::{Value, json};

use super::{Message, Request, TokenUsage, ToolUse, Turn};
use crate::config::{LlmConfig, StructuredOutput};

/// The tool through which Anthropic models hand in their answer.
pub const ANSWER_TOOL: &str = "submit_analysis";

pub(super) fn body(cfg: &LlmConfig, req: &Request<'_>) -> Value {
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

pub(super) fn turn(text: &str) -> Result<Turn, String> {
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
