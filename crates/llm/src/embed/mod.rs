//! Embedding vectors for the knowledge base, from an OpenAI-compatible `/embeddings` endpoint
//! (OpenAI, Azure's gateway form excepted, vLLM, llama.cpp, LiteLLM, Ollama's `/v1`) or
//! Ollama's native `/api/embed`. Optional: without an `embeddings:` section the knowledge
//! base ranks by words and structure alone.
//!
//! The texts are redacted again before they leave the process (they were redacted when the
//! entry was written); answers are checked whole (one vector per text, in order, of one size,
//! finite and not all zero) and a broken one is refused with what was wrong, never stored.

pub mod local;

use std::time::Duration;

use nightshift_core::knowledge::vector::{EmbedFuture, Embedder};
use nightshift_core::units::parse_duration;
use nightshift_net::TlsSettings;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{ConfigError, check_base_url, check_key_env};
use crate::provider::{ProviderError, retrying};

/// Which embeddings protocol the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingProvider {
    /// `POST {base_url}/embeddings` with `{"model", "input": [...]}`, answering
    /// `{"data": [{"index", "embedding": [...]}]}`.
    #[default]
    Openai,
    /// Ollama's `POST {base_url}/api/embed` with `{"model", "input": [...]}`, answering
    /// `{"embeddings": [[...]]}`.
    Ollama,
}

impl EmbeddingProvider {
    /// As written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddingProvider::Openai => "openai",
            EmbeddingProvider::Ollama => "ollama",
        }
    }
}

/// The `embeddings:` section of the agent's configuration. `model` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingConfig {
    /// Protocol.
    pub provider: EmbeddingProvider,
    /// Base URL: `https://api.openai.com/v1`, `http://localhost:11434` (Ollama). Empty: the
    /// `llm:` section's, when that speaks the same protocol; else the provider's default.
    pub base_url: String,
    /// Model name (`text-embedding-3-small`, `nomic-embed-text`).
    pub model: String,
    /// Name of the environment variable holding the API key (never the key). Unset, with
    /// `base_url` unset too: the `llm:` section's.
    pub api_key_env: Option<String>,
    /// A PEM file of CA certificates trusted for `base_url` besides the system's roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
    /// OpenAI's `dimensions` (text-embedding-3 models can answer shorter vectors).
    pub dimensions: Option<u32>,
    /// Per-request timeout, e.g. `20s`.
    pub timeout: String,
    /// Retries of one request on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// Texts sent in one request at most.
    pub batch: usize,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            provider: EmbeddingProvider::Openai,
            base_url: String::new(),
            model: String::new(),
            api_key_env: None,
            ca_file: None,
            dimensions: None,
            timeout: "20s".into(),
            max_retries: 2,
            batch: 32,
        }
    }
}

impl EmbeddingConfig {
    /// Fills what is unset from the model analyzer's section: its endpoint, key and CA file
    /// when the embeddings' base URL is unset and the analyzer speaks OpenAI's protocol.
    pub fn inherit(&mut self, llm: Option<&crate::LlmConfig>) {
        let Some(llm) = llm else { return };
        if self.base_url.is_empty()
            && self.provider == EmbeddingProvider::Openai
            && llm.provider == crate::ProviderKind::Openai
        {
            self.base_url = llm.endpoint();
            if self.api_key_env.is_none() {
                self.api_key_env = llm.api_key_env.clone();
            }
            if self.ca_file.is_none() {
                self.ca_file = llm.ca_file.clone();
            }
        }
    }

    /// The base URL in use.
    pub fn endpoint(&self) -> String {
        let base = if self.base_url.is_empty() {
            match self.provider {
                EmbeddingProvider::Openai => "https://api.openai.com/v1",
                EmbeddingProvider::Ollama => "http://localhost:11434",
            }
        } else {
            self.base_url.as_str()
        };
        base.trim_end_matches('/').to_string()
    }

    /// The URL requests go to.
    pub fn url(&self) -> String {
        match self.provider {
            EmbeddingProvider::Openai => format!("{}/embeddings", self.endpoint()),
            EmbeddingProvider::Ollama => format!("{}/api/embed", self.endpoint()),
        }
    }

    /// The vectors' space: provider, model and size, so that a change of any of them makes
    /// every vector again rather than compare unlike ones.
    pub fn space(&self) -> String {
        match self.dimensions {
            Some(d) => format!("{}:{}@{d}", self.provider.as_str(), self.model),
            None => format!("{}:{}", self.provider.as_str(), self.model),
        }
    }

    /// Checks that the configuration can work; errors name the key (`embeddings.model`).
    pub fn validate(&self, origin: &str) -> Result<Duration, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            origin: origin.into(),
            key: format!("embeddings.{key}"),
            message,
        };
        if self.model.trim().is_empty() {
            return Err(err(
                "model",
                "no model named; e.g. text-embedding-3-small, nomic-embed-text".into(),
            ));
        }
        check_base_url(&self.endpoint()).map_err(|m| err("base_url", m))?;
        check_key_env(self.api_key_env.as_deref()).map_err(|m| err("api_key_env", m))?;
        self.tls()
            .check()
            .map_err(|e| err("ca_file", e.to_string()))?;
        if self.dimensions == Some(0) {
            return Err(err("dimensions", "must be at least 1".into()));
        }
        if self.batch == 0 {
            return Err(err("batch", "must be at least 1".into()));
        }
        let timeout =
            parse_duration(&self.timeout).map_err(|e| err("timeout", format!("{e}; e.g. 20s")))?;
        if timeout.is_zero() {
            return Err(err("timeout", "must be above zero".into()));
        }
        Ok(timeout)
    }

    fn tls(&self) -> TlsSettings {
        TlsSettings {
            ca_file: self.ca_file.clone(),
        }
    }
}

/// A client of one configured embeddings endpoint.
pub struct EmbeddingClient {
    http: reqwest::Client,
    cfg: EmbeddingConfig,
    space: String,
    key: Option<String>,
    timeout: Duration,
}

impl EmbeddingClient {
    /// A client for `cfg`, reading the API key from the variable it names: unset, the start
    /// is refused with its name.
    pub fn new(cfg: &EmbeddingConfig, origin: &str) -> Result<Self, ConfigError> {
        Self::with_env(cfg, origin, |v| std::env::var(v).ok())
    }

    /// [`EmbeddingClient::new`], reading variables through `env`.
    pub fn with_env(
        cfg: &EmbeddingConfig,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let timeout = cfg.validate(origin)?;
        let err = |key: &str, message: String| ConfigError {
            origin: origin.into(),
            key: format!("embeddings.{key}"),
            message,
        };
        let key = match &cfg.api_key_env {
            Some(var) => Some(env(var).ok_or_else(|| {
                err(
                    "api_key_env",
                    format!("the environment variable {var} is not set"),
                )
            })?),
            None => None,
        };
        let http = nightshift_net::client(&cfg.tls())
            .map_err(|e| err("ca_file", e.to_string()))?
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| {
                err(
                    "*",
                    format!(
                        "unable to build the HTTP client: {}",
                        nightshift_net::explain(&e)
                    ),
                )
            })?;
        Ok(EmbeddingClient {
            http,
            space: cfg.space(),
            cfg: cfg.clone(),
            key,
            timeout,
        })
    }

    /// Vectors for `texts`, in order, in requests of at most `batch` texts.
    pub async fn vectors(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ProviderError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.cfg.batch.max(1)) {
            out.extend(self.request(chunk).await?);
        }
        Ok(out)
    }

    async fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ProviderError> {
        let provider = self.provider();
        let input: Vec<String> = texts
            .iter()
            .map(|t| nightshift_core::redact::redact(t))
            .collect();
        let mut body = json!({"model": self.cfg.model, "input": input});
        match self.cfg.provider {
            EmbeddingProvider::Openai => {
                body["encoding_format"] = json!("float");
                if let Some(d) = self.cfg.dimensions {
                    body["dimensions"] = json!(d);
                }
            }
            EmbeddingProvider::Ollama => {
                if let Some(d) = self.cfg.dimensions {
                    body["dimensions"] = json!(d);
                }
            }
        }
        let url = self.cfg.url();
        let text = retrying(
            provider,
            &url,
            self.cfg.max_retries,
            self.timeout,
            Duration::from_secs(30),
            || {
                let mut rb = self.http.post(&url).json(&body);
                if let Some(k) = &self.key {
                    rb = rb.bearer_auth(k);
                }
                rb
            },
        )
        .await?;
        decode(self.cfg.provider, &text, texts.len())
            .map_err(|message| ProviderError::Decode { provider, message })
    }

    fn provider(&self) -> &'static str {
        match self.cfg.provider {
            EmbeddingProvider::Openai => "embeddings (openai)",
            EmbeddingProvider::Ollama => "embeddings (ollama)",
        }
    }
}

impl Embedder for EmbeddingClient {
    fn space(&self) -> &str {
        &self.space
    }

    fn embed<'a>(&'a self, texts: &'a [String]) -> EmbedFuture<'a> {
        Box::pin(async move { self.vectors(texts).await.map_err(|e| e.to_string()) })
    }
}

/// Reads an answer: one vector per text, in the texts' order, all of one size, each finite
/// and not all zero.
pub fn decode(
    provider: EmbeddingProvider,
    text: &str,
    expected: usize,
) -> Result<Vec<Vec<f32>>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let vectors: Vec<Vec<f32>> = match provider {
        EmbeddingProvider::Openai => {
            let data = v
                .get("data")
                .and_then(Value::as_array)
                .ok_or("no \"data\" list")?;
            let mut by_index: Vec<Option<Vec<f32>>> = vec![None; data.len()];
            for (pos, item) in data.iter().enumerate() {
                let index = match item.get("index") {
                    None => pos,
                    Some(i) => i
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .filter(|i| *i < data.len())
                        .ok_or_else(|| format!("data[{pos}].index {i} is out of range"))?,
                };
                let values = floats(item.get("embedding"))
                    .map_err(|m| format!("data[{pos}].embedding: {m}"))?;
                if by_index[index].replace(values).is_some() {
                    return Err(format!("index {index} answered twice"));
                }
            }
            by_index.into_iter().flatten().collect()
        }
        EmbeddingProvider::Ollama => v
            .get("embeddings")
            .and_then(Value::as_array)
            .ok_or("no \"embeddings\" list")?
            .iter()
            .enumerate()
            .map(|(i, e)| floats(Some(e)).map_err(|m| format!("embeddings[{i}]: {m}")))
            .collect::<Result<_, _>>()?,
    };
    if vectors.len() != expected {
        return Err(format!("{} vectors for {expected} texts", vectors.len()));
    }
    if let Some(first) = vectors.first()
        && let Some((i, v)) = vectors
            .iter()
            .enumerate()
            .find(|(_, v)| v.len() != first.len())
    {
        return Err(format!(
            "vector {i} has {} values, vector 0 has {}",
            v.len(),
            first.len()
        ));
    }
    if let Some(i) = vectors
        .iter()
        .position(|v| nightshift_core::knowledge::vector::normalized(v).is_none())
    {
        return Err(format!("vector {i} is empty or all zero"));
    }
    Ok(vectors)
}

fn floats(v: Option<&Value>) -> Result<Vec<f32>, String> {
    let list = v.and_then(Value::as_array).ok_or("not a list of numbers")?;
    list.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_f64()
                .map(|f| f as f32)
                .filter(|f| f.is_finite())
                .ok_or_else(|| format!("value {i} is not a finite number"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_whole_and_broken_ones_named() {
        let ok = r#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0,1]},{"object":"embedding","index":0,"embedding":[1,0]}],"model":"m","usage":{"prompt_tokens":4,"total_tokens":4}}"#;
        assert_eq!(
            decode(EmbeddingProvider::Openai, ok, 2).unwrap(),
            vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            "put back in the order of the texts"
        );
        let ollama = r#"{"model":"nomic-embed-text","embeddings":[[0.5,0.5],[0.1,0.2]]}"#;
        assert_eq!(
            decode(EmbeddingProvider::Ollama, ollama, 2).unwrap().len(),
            2
        );
        for (body, expected, want) in [
            ("<html>", 1, "not JSON"),
            (r#"{"error":{"message":"x"}}"#, 1, "no \"data\" list"),
            (
                r#"{"data":[{"index":0,"embedding":[1]}]}"#,
                2,
                "1 vectors for 2 texts",
            ),
            (
                r#"{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[1,2]}]}"#,
                2,
                "vector 1 has 2 values",
            ),
            (r#"{"data":[{"index":0,"embedding":[0,0]}]}"#, 1, "all zero"),
            (
                r#"{"data":[{"index":0,"embedding":["a"]}]}"#,
                1,
                "value 0 is not",
            ),
            (
                r#"{"data":[{"index":5,"embedding":[1]}]}"#,
                1,
                "out of range",
            ),
            (
                r#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}"#,
                2,
                "answered twice",
            ),
            (r#"{"data":[{"index":0,"embedding":[1e999]}]}"#, 1, "not"),
        ] {
            let e = decode(EmbeddingProvider::Openai, body, expected).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
        let e = decode(EmbeddingProvider::Ollama, r#"{"embedding":[1]}"#, 1).unwrap_err();
        assert!(e.contains("no \"embeddings\" list"), "{e}");
    }

    #[test]
    fn configuration_names_what_is_wrong_and_inherits_the_analyzers_endpoint() {
        let e = EmbeddingConfig::default().validate("f.yaml").unwrap_err();
        assert_eq!(e.key, "embeddings.model");
        let mut c = EmbeddingConfig {
            model: "text-embedding-3-small".into(),
            ..EmbeddingConfig::default()
        };
        c.api_key_env = Some("sk-live-123".into());
        assert_eq!(c.validate("f").unwrap_err().key, "embeddings.api_key_env");
        c.api_key_env = None;
        c.inherit(Some(&crate::LlmConfig::openai(
            "http://gateway:8080/v1/",
            "gpt-4o-mini",
            Some("GATEWAY_KEY"),
        )));
        assert_eq!(c.url(), "http://gateway:8080/v1/embeddings");
        assert_eq!(c.api_key_env.as_deref(), Some("GATEWAY_KEY"));
        assert_eq!(c.space(), "openai:text-embedding-3-small");
        let o = EmbeddingConfig {
            provider: EmbeddingProvider::Ollama,
            model: "nomic-embed-text".into(),
            dimensions: Some(256),
            ..EmbeddingConfig::default()
        };
        assert_eq!(o.url(), "http://localhost:11434/api/embed");
        assert_eq!(o.space(), "ollama:nomic-embed-text@256");
        let mut t = o.clone();
        t.timeout = "soon".into();
        assert_eq!(t.validate("f").unwrap_err().key, "embeddings.timeout");
    }
}
