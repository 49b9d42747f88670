//! OpenAI's chat completions wire (also Azure's deployment form, Ollama, vLLM and
//! llama.cpp): the request body and the model's turn.

use serde_json::{Value, json};

use super::{Message, Request, TokenUsage, ToolUse, Turn};
use crate::config::{LlmConfig, StructuredOutput};

pub(super) fn body(cfg: &LlmConfig, req: &Request<'_>) -> Value {
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

pub(super) fn turn(text: &str) -> Result<Turn, String> {
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
