//! A model server that replays recorded responses, for tests and the evaluation: it speaks
//! OpenAI chat completions (`/v1/chat/completions`, and Azure's
//! `/openai/deployments/NAME/chat/completions`) and Anthropic messages (`/v1/messages`),
//! answers each request with the recorded response of the first rule whose key occurs in
//! the request body (a scripted sequence per rule: the last reply repeats), and records
//! every request it received so tests can read exactly what left the process.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use nightshift_llm::replay::{Replay, Reply};
//! let server = Replay::new()
//!     .when("deployment/shop/checkout", [Reply::fixture("openai/checkout-oom.json")])
//!     .start()
//!     .await?;
//! let base_url = server.openai_url(); // http://127.0.0.1:PORT/v1
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

/// The recorded responses shipped with this crate (`crates/llm/tests/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One recorded response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
    /// Wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// A 200 with a JSON body.
    pub fn json(body: impl Into<String>) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// A response with any status.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            ..Reply::json(body)
        }
    }

    /// A 200 whose body is a file.
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        Ok(Reply::json(std::fs::read_to_string(path)?))
    }

    /// A 200 whose body is a fixture file under [`fixtures_dir`].
    ///
    /// # Panics
    /// When the file cannot be read: a test with a missing fixture cannot mean anything.
    pub fn fixture(name: &str) -> Self {
        let path = fixtures_dir().join(name);
        Reply::from_file(&path)
            .unwrap_or_else(|e| panic!("unable to read fixture {}: {e}", path.display()))
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Answered after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct Rule {
    needle: Option<String>,
    replies: Vec<Reply>,
    served: AtomicUsize,
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path.
    pub path: String,
    /// Query string.
    pub query: Option<String>,
    /// Headers (lowercase names).
    pub headers: BTreeMap<String, String>,
    /// Body as sent.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Rules of a replay server, in the order they are tried.
#[derive(Default)]
pub struct Replay {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    rules: Vec<ManifestRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestRule {
    #[serde(default)]
    contains: Option<String>,
    replies: Vec<ManifestReply>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestReply {
    file: Option<String>,
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    delay_ms: u64,
}

fn ok() -> u16 {
    200
}

impl Replay {
    /// No rules: every request gets a 404.
    pub fn new() -> Self {
        Replay::default()
    }

    /// Requests whose body contains `needle` get `replies` in turn (the last repeats).
    pub fn when(mut self, needle: &str, replies: impl IntoIterator<Item = Reply>) -> Self {
        self.rules.push(Rule {
            needle: Some(needle.to_string()),
            replies: replies.into_iter().collect(),
            served: AtomicUsize::new(0),
        });
        self
    }

    /// Every request no earlier rule took gets `replies` in turn (the last repeats).
    pub fn always(mut self, replies: impl IntoIterator<Item = Reply>) -> Self {
        self.rules.push(Rule {
            needle: None,
            replies: replies.into_iter().collect(),
            served: AtomicUsize::new(0),
        });
        self
    }

    /// Rules from a JSON manifest: `{"rules": [{"contains": "shop/checkout", "replies":
    /// [{"file": "openai/x.json", "status": 200, "headers": {}, "delay_ms": 0}]}]}`, files
    /// relative to the manifest.
    pub fn from_manifest(path: &Path) -> std::io::Result<Self> {
        let bad = |e: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        };
        let m: Manifest = serde_json::from_str(&std::fs::read_to_string(path)?)
            .map_err(|e| bad(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut replay = Replay::new();
        for r in m.rules {
            let mut replies = Vec::new();
            for rep in r.replies {
                let body = match &rep.file {
                    Some(f) => std::fs::read_to_string(dir.join(f))
                        .map_err(|e| bad(format!("{f}: {e}")))?,
                    None => "{}".to_string(),
                };
                let mut reply =
                    Reply::status(rep.status, body).delay(Duration::from_millis(rep.delay_ms));
                for (k, v) in rep.headers {
                    reply = reply.header(&k, &v);
                }
                replies.push(reply);
            }
            replay = match r.contains {
                Some(n) => replay.when(&n, replies),
                None => replay.always(replies),
            };
        }
        Ok(replay)
    }

    /// Serves on a free loopback port.
    pub async fn start(self) -> std::io::Result<ReplayServer> {
        let state = Arc::new(State {
            rules: self.rules,
            received: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let server = Loopback::start(move |uri, headers, body| {
            let st = st.clone();
            async move { st.answer(uri, headers, body).await }
        })
        .await?;
        Ok(ReplayServer {
            addr: server.addr,
            state,
            _server: server,
        })
    }
}

/// A server on a free loopback port answering every request with `answer`; stops when
/// dropped. Shared by the replay server and the local embeddings server.
pub(crate) struct Loopback {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Loopback {
    pub(crate) async fn start<F, Fut>(answer: F) -> std::io::Result<Loopback>
    where
        F: Fn(Uri, HeaderMap, Bytes) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Response> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| answer(uri, headers, body));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Loopback { addr, task })
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    rules: Vec<Rule>,
    received: Mutex<Vec<Received>>,
}

impl State {
    async fn answer(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let body = String::from_utf8_lossy(&body).into_owned();
        let received = Received {
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        v.to_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            body: body.clone(),
            at: Instant::now(),
        };
        if let Ok(mut r) = self.received.lock() {
            r.push(received);
        }
        let rule = self
            .rules
            .iter()
            .find(|r| r.needle.as_ref().is_none_or(|n| body.contains(n.as_str())));
        let Some(rule) = rule.filter(|r| !r.replies.is_empty()) else {
            return (
                StatusCode::NOT_FOUND,
                r#"{"error": {"message": "no recorded response matches this request"}}"#,
            )
                .into_response();
        };
        let i = rule.served.fetch_add(1, Ordering::SeqCst);
        let reply = &rule.replies[i.min(rule.replies.len() - 1)];
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        let mut resp = (
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reply.body.clone(),
        )
            .into_response();
        for (k, v) in &reply.headers {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::from_bytes(k.as_bytes()),
                axum::http::HeaderValue::from_str(v),
            ) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }
}

/// A running replay server; stops when dropped.
pub struct ReplayServer {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    _server: Loopback,
}

impl ReplayServer {
    /// Base URL for OpenAI-compatible clients (`http://ADDR/v1`).
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Base URL for Anthropic and Azure clients (`http://ADDR`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}
