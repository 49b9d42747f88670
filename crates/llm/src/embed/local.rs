//! An embeddings server on loopback for tests, the evaluation and offline demonstrations. It
//! speaks OpenAI's `POST /v1/embeddings` and Ollama's `POST /api/embed` with their real
//! request and answer shapes, checks the bearer key when it has one, records every request
//! (so a test reads exactly what left the process), and can be told to misbehave first
//! (an error status, a wrong number of vectors, a body that is not JSON, a slow answer).
//!
//! Its vectors come from a table of concepts: each word of a text counts toward the concepts
//! that list it (`oomkilled`, `heap` and `memory` toward one), and any other word toward one
//! of a few hashed dimensions, weakly. Two texts that speak of the same things in other
//! words are near, which is what a real model does and what word search cannot.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::replay::Loopback;

/// Dimensions words outside every concept are hashed into.
const HASHED: usize = 32;
/// How much a word outside every concept weighs, against 1 for a concept's word.
const HASHED_WEIGHT: f32 = 0.25;

/// A way to misbehave, once each, before answering properly.
#[derive(Debug, Clone)]
pub enum Trouble {
    /// This status, with an OpenAI-style error body.
    Status(u16),
    /// One vector fewer than texts.
    WrongCount,
    /// A body that is not JSON.
    Garbage,
    /// Wait this long, then answer properly.
    Slow(Duration),
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    /// Path.
    pub path: String,
    /// `authorization` header, if any.
    pub authorization: Option<String>,
    /// Body as JSON (`Null` when it was not).
    pub body: Value,
}

impl EmbedRequest {
    /// The texts it asked vectors for.
    pub fn texts(&self) -> Vec<String> {
        match &self.body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The server's settings.
#[derive(Debug, Clone, Default)]
pub struct LocalEmbeddings {
    concepts: Vec<Vec<String>>,
    key: Option<String>,
    trouble: Vec<Trouble>,
}

impl LocalEmbeddings {
    /// No concepts yet: every word is hashed.
    pub fn new() -> Self {
        LocalEmbeddings::default()
    }

    /// A concept: the words (lower case) that speak of it.
    pub fn concept(mut self, words: &[&str]) -> Self {
        self.concepts
            .push(words.iter().map(|w| w.to_lowercase()).collect());
        self
    }

    /// A few concepts of incidents, for demonstrations: memory, crashes, networking,
    /// certificates, disks, configuration.
    pub fn incidents() -> Self {
        LocalEmbeddings::new()
            .concept(&[
                "oomkilled",
                "oom",
                "memory",
                "heap",
                "leak",
                "rss",
                "exhausted",
            ])
            .concept(&[
                "crashloopbackoff",
                "crash",
                "panic",
                "segfault",
                "exited",
                "restarts",
            ])
            .concept(&[
                "timeout",
                "timed",
                "unreachable",
                "refused",
                "connection",
                "dns",
            ])
            .concept(&["certificate", "tls", "x509", "expired", "handshake"])
            .concept(&["disk", "volume", "full", "inode", "evicted", "ephemeral"])
            .concept(&[
                "config",
                "configmap",
                "setting",
                "flag",
                "env",
                "misconfigured",
            ])
    }

    /// Requests must carry `Authorization: Bearer <key>`; others get a 401.
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }

    /// Misbehaves this way once, before answering properly (in the order given).
    pub fn trouble(mut self, t: Trouble) -> Self {
        self.trouble.push(t);
        self
    }

    /// The vector this server answers for `text`.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0_f32; self.concepts.len() + HASHED];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let word = word.to_lowercase();
            let mut known = false;
            for (i, c) in self.concepts.iter().enumerate() {
                if c.contains(&word) {
                    v[i] += 1.0;
                    known = true;
                }
            }
            if !known {
                let h = nightshift_core::knowledge::vector::text_hash(&word) as u64;
                v[self.concepts.len() + (h % HASHED as u64) as usize] += HASHED_WEIGHT;
            }
        }
        // A text of no words still gets a vector (a real model answers one for any input).
        if v.iter().all(|x| *x == 0.0) {
            v[self.concepts.len()] = 1.0;
        }
        v
    }

    /// Serves on a free loopback port.
    pub async fn start(self) -> std::io::Result<LocalEmbeddingServer> {
        let state = Arc::new(State {
            trouble: Mutex::new(self.trouble.clone().into_iter().rev().collect()),
            settings: self,
            received: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let server = Loopback::start(move |uri, headers, body| {
            let st = st.clone();
            async move { st.answer(uri, headers, body).await }
        })
        .await?;
        Ok(LocalEmbeddingServer {
            addr: server.addr,
            state,
            _server: server,
        })
    }
}

struct State {
    settings: LocalEmbeddings,
    trouble: Mutex<Vec<Trouble>>,
    received: Mutex<Vec<EmbedRequest>>,
}

impl State {
    async fn answer(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let request = EmbedRequest {
            path: uri.path().to_string(),
            authorization: authorization.clone(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        if let Ok(mut r) = self.received.lock() {
            r.push(request.clone());
        }
        let error = |status: StatusCode, message: &str| {
            (
                status,
                [("content-type", "application/json")],
                json!({"error": {"message": message, "type": "invalid_request_error"}}).to_string(),
            )
                .into_response()
        };
        let openai = match uri.path() {
            "/v1/embeddings" => true,
            "/api/embed" => false,
            other => return error(StatusCode::NOT_FOUND, &format!("no route {other}")),
        };
        if let Some(key) = &self.settings.key
            && authorization.as_deref() != Some(format!("Bearer {key}").as_str())
        {
            return error(StatusCode::UNAUTHORIZED, "Incorrect API key provided");
        }
        let Some(model) = request.body["model"].as_str().map(str::to_string) else {
            return error(
                StatusCode::BAD_REQUEST,
                "you must provide a model parameter",
            );
        };
        let texts = request.texts();
        if texts.is_empty() {
            return error(StatusCode::BAD_REQUEST, "input must not be empty");
        }
        let trouble = self.trouble.lock().ok().and_then(|mut t| t.pop());
        let mut vectors: Vec<Vec<f32>> = texts.iter().map(|t| self.settings.vector(t)).collect();
        match trouble {
            Some(Trouble::Status(s)) => {
                let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return error(
                    status,
                    "the server had an error while processing your request",
                );
            }
            Some(Trouble::Garbage) => {
                return (StatusCode::OK, "<html>upstream gateway</html>").into_response();
            }
            Some(Trouble::WrongCount) => {
                vectors.pop();
            }
            Some(Trouble::Slow(d)) => tokio::time::sleep(d).await,
            None => {}
        }
        let body = if openai {
            json!({
                "object": "list",
                "data": vectors.iter().enumerate().map(|(i, v)| json!({
                    "object": "embedding", "index": i, "embedding": v,
                })).collect::<Vec<_>>(),
                "model": model,
                "usage": {"prompt_tokens": texts.iter().map(|t| t.split_whitespace().count()).sum::<usize>(), "total_tokens": 0},
            })
        } else {
            json!({"model": model, "embeddings": vectors})
        };
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// A running embeddings server; stops when dropped.
pub struct LocalEmbeddingServer {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    _server: Loopback,
}

impl LocalEmbeddingServer {
    /// Base URL for the OpenAI protocol (`http://ADDR/v1`).
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Base URL for Ollama's protocol (`http://ADDR`).
    pub fn ollama_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<EmbedRequest> {
        self.state
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}
