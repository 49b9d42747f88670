//! The client for one configured model: its HTTP client, key, gate and metrics, and where
//! and how its requests go.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::{Request, anthropic, openai};
use crate::config::{ConfigError, Durations, LlmConfig, ProviderKind};
use crate::metrics::Metrics;

/// A client for one configured model.
#[derive(Clone)]
pub struct ChatClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    http: reqwest::Client,
    pub(super) cfg: LlmConfig,
    pub(super) durations: Durations,
    key: Option<String>,
    pub(super) gate: Semaphore,
    pub(super) metrics: Metrics,
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
        let http = nightshift_net::client(&cfg.tls())
            .map_err(|e| ConfigError {
                origin: "llm config".into(),
                key: "ca_file".into(),
                message: e.to_string(),
            })?
            .timeout(durations.timeout)
            .connect_timeout(durations.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ConfigError {
                origin: "llm config".into(),
                key: "*".into(),
                message: format!(
                    "unable to build the HTTP client: {}",
                    nightshift_net::explain(&e)
                ),
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

    pub(super) fn provider(&self) -> &'static str {
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
            ProviderKind::Openai | ProviderKind::Azure => openai::body(&self.inner.cfg, req),
            ProviderKind::Anthropic => anthropic::body(&self.inner.cfg, req),
        }
    }

    /// The request for `url` with `body` and the provider's credentials.
    pub(super) fn request(&self, url: &str, body: &Value) -> reqwest::RequestBuilder {
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
        rb
    }
}
