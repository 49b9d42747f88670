//! The model analyzer: investigation and planning with any OpenAI-compatible or Anthropic
//! model, safely bounded.
//!
//! - [`provider`]: OpenAI chat completions (and Azure's form, Ollama, vLLM, llama.cpp) and
//!   Anthropic's Messages API, with timeouts, retries honouring `Retry-After`, and a
//!   concurrency gate.
//! - [`answer`]: the answer's JSON schema (generated from Rust types, narrowed to the actions
//!   the policy allows) and the checks that turn the model's text into typed plans.
//! - [`compress`] and [`prompt`]: small prompts from redacted, folded evidence, untrusted
//!   text fenced as data.
//! - [`tools`]: read-only investigation tools through tool calling.
//! - [`analyzer`]: [`LlmAnalyzer`], hybrid with the rule analyzer by default.
//! - [`embed`]: embedding vectors for the knowledge base (OpenAI-compatible or Ollama).
//! - [`metrics`]: calls, tokens, latency, failures and cost; [`Usage`] for reports.
//! - [`replay`]: a server that replays recorded provider responses, for tests and the
//!   evaluation.
//!
//! Whatever the model writes, only catalogue actions come out, each one checked against the
//! policy; the model's text never becomes a command.

// Every public item of the crate carries a doc comment: the compiler reports each public
// module, type, field, variant, function and constant without one.
#![warn(missing_docs)]

pub mod analyzer;
pub mod answer;
pub mod cache;
pub mod compress;
pub mod config;
pub mod embed;
pub mod metrics;
pub mod prompt;
pub mod provider;
pub mod replay;
pub mod tokens;
pub mod tools;

pub use analyzer::{LlmAnalyzer, ModelFailure};
pub use config::{AnalyzerMode, ConfigError, LlmConfig, Price, ProviderKind, StructuredOutput};
pub use metrics::{Metrics, Usage};
