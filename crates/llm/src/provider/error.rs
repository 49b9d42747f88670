//! Why a call failed after its retries.

use std::time::Duration;

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
