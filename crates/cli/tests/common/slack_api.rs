//! A local stand-in for Slack on loopback, speaking the shapes Slack documents: the Web API
//! methods `chat.postMessage`, `chat.update`, `views.open` and `apps.connections.open`
//! (HTTP 200 with `{"ok": true, ...}`, or `{"ok": false, "error": ...}` when refused), the
//! `response_url` an interaction carries, and a Socket Mode WebSocket. It checks the bot
//! token, can be rate-limiting (429 with `Retry-After` and `{"ok":false,"error":"ratelimited"}`)
//! or down (503) for a while, and records every call.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The channel id the stand-in gives every channel.
pub const CHANNEL_ID: &str = "C0NIGHTSHIFT";

/// How the stand-in answers Web API calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As Slack does.
    Up,
    /// HTTP 429, `Retry-After: 1`, `{"ok":false,"error":"ratelimited"}`.
    RateLimited,
    /// HTTP 503.
    Unavailable,
}

/// One Web API call that Slack accepted or refused for what it was (not for the mode).
#[derive(Debug, Clone)]
pub struct Call {
    /// The method, e.g. `chat.postMessage`.
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// What Slack answered.
    pub answer: Value,
}

#[derive(Default)]
struct Inner {
    bot_token: String,
    app_token: String,
    mode: Mutex<Option<Mode>>,
    refused: AtomicUsize,
    calls: Mutex<Vec<Call>>,
    messages: Mutex<BTreeMap<String, Value>>,
    next_ts: AtomicU64,
    responses: Mutex<Vec<Value>>,
    socket_url: Mutex<String>,
    sockets: Mutex<Vec<mpsc::UnboundedSender<String>>>,
    acks: Mutex<Vec<Value>>,
}

/// The running stand-in.
#[derive(Clone)]
pub struct FakeSlack {
    /// The Web API's base URL (`api_url` in the configuration).
    pub api_url: String,
    /// Where a `response_url` points (append anything).
    pub response_base: String,
    inner: Arc<Inner>,
}

impl FakeSlack {
    /// Starts it on 127.0.0.1, accepting `bot_token` and, for Socket Mode, `app_token`.
    pub async fn start(bot_token: &str, app_token: &str) -> FakeSlack {
        let inner = Arc::new(Inner {
            bot_token: bot_token.to_string(),
            app_token: app_token.to_string(),
            next_ts: AtomicU64::new(1),
            ..Default::default()
        });
        let app = axum::Router::new()
            .route("/api/{method}", post(web_api))
            .route("/response/{id}", post(response_url))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *inner.socket_url.lock().unwrap() = format!("ws://{}/link", ws.local_addr().unwrap());
        let socket_inner = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                let inner = socket_inner.clone();
                tokio::spawn(async move { socket(inner, stream).await });
            }
        });
        FakeSlack {
            api_url: format!("http://{addr}/api"),
            response_base: format!("http://{addr}/response"),
            inner,
        }
    }

    /// Answers every Web API call as `mode` says from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = Some(mode);
    }

    /// Calls refused by the mode (rate-limited or down).
    pub fn refused(&self) -> usize {
        self.inner.refused.load(Ordering::SeqCst)
    }

    /// Every call answered for what it was, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// The calls of one method that Slack accepted.
    pub fn accepted(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.answer["ok"] == true)
            .collect()
    }

    /// Messages posted to the channel itself (thread replies left out).
    pub fn top_level_posts(&self) -> Vec<Call> {
        self.accepted("chat.postMessage")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_none())
            .collect()
    }

    /// Replies posted in a thread.
    pub fn thread_replies(&self) -> Vec<Call> {
        self.accepted("chat.postMessage")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_some())
            .collect()
    }

    /// The blocks of a message as it stands now.
    pub fn message(&self, ts: &str) -> Option<Value> {
        self.inner.messages.lock().unwrap().get(ts).cloned()
    }

    /// What was posted to response URLs, in order.
    pub fn responses(&self) -> Vec<Value> {
        self.inner.responses.lock().unwrap().clone()
    }

    /// Sends a Socket Mode envelope to every connected client; how many got it.
    pub fn push_envelope(&self, envelope: &Value) -> usize {
        let text = envelope.to_string();
        let sockets = self.inner.sockets.lock().unwrap();
        sockets
            .iter()
            .filter(|s| s.send(text.clone()).is_ok())
            .count()
    }

    /// Acknowledgements received over Socket Mode.
    pub fn acks(&self) -> Vec<Value> {
        self.inner.acks.lock().unwrap().clone()
    }
}

fn not_ok(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

/// A section's text over 3000 characters, or more than 50 blocks, is refused as Slack does.
fn blocks_problem(body: &Value) -> Option<&'static str> {
    let blocks = body.get("blocks")?.as_array()?;
    if blocks.len() > 50 {
        return Some("invalid_blocks");
    }
    for b in blocks {
        if b["type"] == "section"
            && b["text"]["text"]
                .as_str()
                .is_some_and(|t| t.chars().count() > 3000)
        {
            return Some("invalid_blocks");
        }
        if b["type"] == "header"
            && b["text"]["text"]
                .as_str()
                .is_some_and(|t| t.chars().count() > 150)
        {
            return Some("invalid_blocks");
        }
    }
    None
}

async fn web_api(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mode = inner.mode.lock().unwrap().unwrap_or(Mode::Up);
    match mode {
        Mode::RateLimited => {
            inner.refused.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                Json(not_ok("ratelimited")),
            )
                .into_response();
        }
        Mode::Unavailable => {
            inner.refused.fetch_add(1, Ordering::SeqCst);
            return (StatusCode::SERVICE_UNAVAILABLE, "service unavailable").into_response();
        }
        Mode::Up => {}
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = if method == "apps.connections.open" {
        &inner.app_token
    } else {
        &inner.bot_token
    };
    let answer = if auth != format!("Bearer {token}") {
        not_ok(if auth.is_empty() {
            "not_authed"
        } else {
            "invalid_auth"
        })
    } else {
        answer(&inner, &method, &body)
    };
    inner.calls.lock().unwrap().push(Call {
        method,
        body,
        answer: answer.clone(),
    });
    Json(answer).into_response()
}

fn answer(inner: &Inner, method: &str, body: &Value) -> Value {
    match method {
        "chat.postMessage" => {
            let Some(channel) = body["channel"].as_str() else {
                return not_ok("channel_not_found");
            };
            if channel != CHANNEL_ID && !channel.starts_with('#') {
                return not_ok("channel_not_found");
            }
            if body["text"].as_str().is_none() && body.get("blocks").is_none() {
                return not_ok("no_text");
            }
            if body["text"]
                .as_str()
                .is_some_and(|t| t.chars().count() > 40_000)
            {
                return not_ok("msg_too_long");
            }
            if let Some(problem) = blocks_problem(body) {
                return not_ok(problem);
            }
            let mut messages = inner.messages.lock().unwrap();
            if let Some(parent) = body["thread_ts"].as_str()
                && !messages.contains_key(parent)
            {
                return not_ok("thread_not_found");
            }
            let n = inner.next_ts.fetch_add(1, Ordering::SeqCst);
            let ts = format!("1700000000.{n:06}");
            if body.get("thread_ts").is_none() {
                messages.insert(ts.clone(), body["blocks"].clone());
            }
            json!({
                "ok": true,
                "channel": CHANNEL_ID,
                "ts": ts,
                "message": {"type": "message", "text": body["text"], "ts": ts},
            })
        }
        "chat.update" => {
            if body["channel"] != CHANNEL_ID {
                return not_ok("channel_not_found");
            }
            if let Some(problem) = blocks_problem(body) {
                return not_ok(problem);
            }
            let ts = body["ts"].as_str().unwrap_or_default().to_string();
            let mut messages = inner.messages.lock().unwrap();
            let Some(m) = messages.get_mut(&ts) else {
                return not_ok("message_not_found");
            };
            *m = body["blocks"].clone();
            json!({"ok": true, "channel": CHANNEL_ID, "ts": ts, "text": body["text"]})
        }
        "views.open" => {
            if body["trigger_id"].as_str().is_none_or(str::is_empty) {
                return not_ok("invalid_trigger_id");
            }
            if body["view"]["type"] != "modal" {
                return not_ok("invalid_arguments");
            }
            let mut view = body["view"].clone();
            view["id"] = json!("V0REJECT");
            json!({"ok": true, "view": view})
        }
        "apps.connections.open" => {
            json!({"ok": true, "url": inner.socket_url.lock().unwrap().clone()})
        }
        _ => not_ok("unknown_method"),
    }
}

async fn response_url(
    State(inner): State<Arc<Inner>>,
    Path(_id): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    inner.responses.lock().unwrap().push(body);
    Json(json!({"ok": true}))
}

/// One Socket Mode client: `hello`, then envelopes the test pushes; acknowledgements kept.
async fn socket(inner: Arc<Inner>, stream: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    inner.sockets.lock().unwrap().push(tx);
    let hello = json!({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0NIGHTSHIFT"}});
    if ws.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(text) = out else { return };
                if ws.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
            incoming = ws.next() => {
                match incoming {
                    Some(Ok(Message::Text(t))) => {
                        if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                            inner.acks.lock().unwrap().push(v);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
        }
    }
}
