//! The `llm:` section of the agent's configuration file: which model, where, with which key,
//! and the bounds every analysis stays within.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use nightshift_core::units::parse_duration;
use nightshift_net::TlsSettings;
use serde::{Deserialize, Serialize};

/// Which wire protocol the model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// OpenAI chat completions, and everything that speaks them: Ollama, vLLM, llama.cpp,
    /// LiteLLM and most gateways.
    #[default]
    Openai,
    /// Azure OpenAI: a deployment name in the path and an `api-version` in the query.
    Azure,
    /// Anthropic's Messages API.
    Anthropic,
}

impl ProviderKind {
    /// The name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Azure => "azure",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

/// Whether the model is asked only when the rules are unsure, or always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnalyzerMode {
    /// Rules first; the model when the rules are unsure or the evidence is unfamiliar.
    #[default]
    Hybrid,
    /// The model for every incident; the rules only when it fails.
    Llm,
}

/// How the answer's shape is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StructuredOutput {
    /// `response_format: json_schema` with `strict` (OpenAI, Azure, vLLM, recent Ollama), or
    /// a forced tool whose input schema is the answer's (Anthropic).
    #[default]
    JsonSchema,
    /// `response_format: json_object`, the schema in the prompt (older servers).
    JsonObject,
    /// The schema in the prompt only (servers that know neither).
    Prompt,
}

/// What a million tokens cost, in the currency of the table (USD by convention).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million input tokens.
    pub input: f64,
    /// Per million output tokens.
    pub output: f64,
}

/// The model analyzer's configuration. Every key but `model` has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Wire protocol.
    pub provider: ProviderKind,
    /// Base URL: `https://api.openai.com/v1`, `http://localhost:11434/v1` (Ollama),
    /// `https://NAME.openai.azure.com` (Azure), `https://api.anthropic.com` (Anthropic).
    /// Empty: the provider's public endpoint.
    pub base_url: String,
    /// A PEM file of CA certificates trusted for `base_url` besides the system's roots (a
    /// private gateway's CA). Unset in the agent's file: the top-level `tls.ca_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Model name (for Azure: informational; the deployment decides).
    pub model: String,
    /// Name of the environment variable holding the API key (never the key itself). Unset:
    /// no key is sent (Ollama, vLLM on a private network).
    pub api_key_env: Option<String>,
    /// Azure: the deployment name.
    pub azure_deployment: Option<String>,
    /// Azure: the `api-version` query parameter.
    pub azure_api_version: String,
    /// `hybrid` (default) or `llm`.
    pub mode: AnalyzerMode,
    /// How the answer's shape is enforced.
    pub structured_output: StructuredOutput,
    /// Offer the read-only investigation tools (for models with tool calling).
    pub tools: bool,
    /// Per-request timeout, e.g. `60s`.
    pub timeout: String,
    /// Retries of one request on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// Longest wait between retries, whatever `Retry-After` asks, e.g. `30s`.
    pub max_backoff: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Model calls per incident analysis (investigation steps and the answer).
    pub max_steps: u32,
    /// Input tokens one incident analysis may spend over all its calls.
    pub max_input_tokens: u64,
    /// Output tokens per call.
    pub max_output_tokens: u32,
    /// Sampling temperature.
    pub temperature: f64,
    /// Hybrid: the model is consulted when the rules' confidence is below this.
    pub confidence_threshold: f64,
    /// Hybrid: when rules and model disagree, confidence is lowered to at most this, so the
    /// policy hands the plan to a human.
    pub disagreement_confidence: f64,
    /// The same incident signature within this window reuses the previous answer, e.g. `15m`.
    pub cache_ttl: String,
    /// Price per million tokens by model name, for the cost estimate in the metrics.
    pub prices: BTreeMap<String, Price>,
    /// Prometheus base URL for the `prom_range` investigation tool.
    pub prometheus_url: Option<String>,
    /// Runbooks the model may propose with `run-runbook` (none by default).
    pub runbooks: Vec<String>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            provider: ProviderKind::Openai,
            base_url: String::new(),
            ca_file: None,
            model: String::new(),
            api_key_env: None,
            azure_deployment: None,
            azure_api_version: "2024-10-21".into(),
            mode: AnalyzerMode::Hybrid,
            structured_output: StructuredOutput::JsonSchema,
            tools: true,
            timeout: "60s".into(),
            max_retries: 2,
            max_backoff: "30s".into(),
            concurrency: 2,
            max_steps: 6,
            max_input_tokens: 24_000,
            max_output_tokens: 1_500,
            temperature: 0.0,
            confidence_threshold: 0.8,
            disagreement_confidence: 0.5,
            cache_ttl: "15m".into(),
            prices: BTreeMap::new(),
            prometheus_url: None,
            runbooks: Vec::new(),
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}: llm.{key}: {message}")]
pub struct ConfigError {
    /// Where the configuration came from (a file name, or `llm config`).
    pub origin: String,
    /// The key at fault.
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
}

/// The durations of a configuration, parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Durations {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Longest back-off.
    pub max_backoff: Duration,
    /// Answer reuse window.
    pub cache_ttl: Duration,
}

impl LlmConfig {
    /// An OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp).
    pub fn openai(base_url: &str, model: &str, api_key_env: Option<&str>) -> Self {
        LlmConfig {
            provider: ProviderKind::Openai,
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: api_key_env.map(str::to_string),
            ..LlmConfig::default()
        }
    }

    /// Anthropic's Messages API.
    pub fn anthropic(base_url: &str, model: &str, api_key_env: Option<&str>) -> Self {
        LlmConfig {
            provider: ProviderKind::Anthropic,
            ..LlmConfig::openai(base_url, model, api_key_env)
        }
    }

    /// Reads a bare `llm:` mapping (the section's body) from YAML text; `origin` names it.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: LlmConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError {
            origin: origin.into(),
            key: "*".into(),
            message: e.to_string(),
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// The base URL in use: the configured one, or the provider's public endpoint.
    pub fn endpoint(&self) -> String {
        let base = if self.base_url.is_empty() {
            match self.provider {
                ProviderKind::Openai => "https://api.openai.com/v1",
                ProviderKind::Azure => "",
                ProviderKind::Anthropic => "https://api.anthropic.com",
            }
        } else {
            self.base_url.as_str()
        };
        base.trim_end_matches('/').to_string()
    }

    /// Checks that the configuration can work; errors name the key and what would be right.
    pub fn validate(&self, origin: &str) -> Result<Durations, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            origin: origin.into(),
            key: key.into(),
            message,
        };
        if self.model.trim().is_empty() && self.provider != ProviderKind::Azure {
            return Err(err(
                "model",
                "no model named; e.g. gpt-4o-mini, claude-sonnet-4-5, llama3.1:8b".into(),
            ));
        }
        if self.provider == ProviderKind::Azure {
            if self.base_url.is_empty() {
                return Err(err(
                    "base_url",
                    "Azure needs the resource endpoint, e.g. https://NAME.openai.azure.com".into(),
                ));
            }
            if self.azure_deployment.as_deref().unwrap_or("").is_empty() {
                return Err(err(
                    "azure_deployment",
                    "Azure needs the deployment name".into(),
                ));
            }
        }
        check_base_url(&self.endpoint()).map_err(|m| err("base_url", m))?;
        self.tls()
            .check()
            .map_err(|e| err("ca_file", e.to_string()))?;
        check_key_env(self.api_key_env.as_deref()).map_err(|m| err("api_key_env", m))?;
        let duration = |key: &str, v: &str| {
            parse_duration(v).map_err(|e| err(key, format!("{e}; e.g. 30s, 2m")))
        };
        let d = Durations {
            timeout: duration("timeout", &self.timeout)?,
            max_backoff: duration("max_backoff", &self.max_backoff)?,
            cache_ttl: duration("cache_ttl", &self.cache_ttl)?,
        };
        if d.timeout.is_zero() {
            return Err(err("timeout", "must be above zero".into()));
        }
        for (key, v) in [
            ("confidence_threshold", self.confidence_threshold),
            ("disagreement_confidence", self.disagreement_confidence),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(err(key, format!("{v} is not between 0 and 1")));
            }
        }
        if self.concurrency == 0 {
            return Err(err("concurrency", "must be at least 1".into()));
        }
        if self.max_steps == 0 {
            return Err(err("max_steps", "must be at least 1".into()));
        }
        if self.max_input_tokens < 1_000 {
            return Err(err(
                "max_input_tokens",
                format!(
                    "{} leaves no room for a prompt; use at least 1000",
                    self.max_input_tokens
                ),
            ));
        }
        Ok(d)
    }

    /// The durations, parsed (defaults where unreadable; [`LlmConfig::validate`] reports).
    pub fn durations(&self) -> Durations {
        let d = |v: &str, default: u64| parse_duration(v).unwrap_or(Duration::from_secs(default));
        Durations {
            timeout: d(&self.timeout, 60),
            max_backoff: d(&self.max_backoff, 30),
            cache_ttl: d(&self.cache_ttl, 900),
        }
    }

    /// What the model's https connections trust beyond the system's roots.
    pub fn tls(&self) -> TlsSettings {
        TlsSettings {
            ca_file: self.ca_file.clone(),
        }
    }

    /// The price of this config's model, if the table has it.
    pub fn price(&self) -> Option<Price> {
        self.prices.get(&self.model).copied()
    }
}

/// A base URL must be http or https.
pub(crate) fn check_base_url(base: &str) -> Result<(), String> {
    if base.starts_with("http://") || base.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("{base:?} is not an http:// or https:// URL"))
    }
}

/// A key variable must be a variable's name: a key pasted in its place is refused without
/// being repeated.
pub(crate) fn check_key_env(env: Option<&str>) -> Result<(), String> {
    match env {
        Some(env)
            if env.is_empty()
                || env.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) =>
        {
            // The value is not repeated: it may well be the key itself.
            Err(format!(
                "a value of {} characters that is not an environment variable name (letters, digits and _); name the variable that holds the key, not the key",
                env.chars().count()
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_section_and_names_what_is_wrong() {
        let c = LlmConfig::from_yaml(
            "provider: anthropic\nmodel: claude-sonnet-4-5\napi_key_env: ANTHROPIC_API_KEY\nprices: {claude-sonnet-4-5: {input: 3, output: 15}}\n",
            "nightshift.yaml",
        )
        .unwrap();
        assert_eq!(c.provider, ProviderKind::Anthropic);
        assert_eq!(c.endpoint(), "https://api.anthropic.com");
        assert_eq!(c.price().unwrap().output, 15.0);
        assert_eq!(c.max_steps, 6);
        let e = LlmConfig::from_yaml("model: x\nmodle: y\n", "nightshift.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nightshift.yaml") && e.contains("modle"), "{e}");
        let e = LlmConfig::from_yaml("model: x\napi_key_env: sk-abc123\n", "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("llm.api_key_env") && e.contains("not the key"),
            "{e}"
        );
        let e = LlmConfig::from_yaml(
            "provider: azure\nbase_url: https://x.openai.azure.com\n",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("azure_deployment"), "{e}");
        let e = LlmConfig::from_yaml("model: m\ntimeout: soon\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("llm.timeout"), "{e}");
        let e = LlmConfig::from_yaml("model: m\nca_file: /nonexistent/ca.pem\n", "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("llm.ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
    }
}
