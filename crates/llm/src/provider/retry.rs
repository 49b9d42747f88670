//! Sending: each attempt passes the concurrency gate; 429, 529, 5xx, timeouts and connection
//! errors are retried with exponential back-off, or after the wait `Retry-After` asks for,
//! never longer than the configured ceiling.

use std::time::{Duration, Instant};

use super::{ChatClient, ProviderError, Request, TokenUsage, Turn, anthropic, openai};
use crate::config::ProviderKind;

impl ChatClient {
    /// Sends one request, retrying as configured, and reads the model's turn.
    pub async fn send(&self, req: &Request<'_>) -> Result<Turn, ProviderError> {
        let body = self.body(req);
        let url = self.url();
        let inner = &self.inner;
        let max = inner.cfg.max_retries;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            let outcome = {
                let _permit = inner
                    .gate
                    .acquire()
                    .await
                    .expect("the gate is never closed");
                self.post(&url, &body).await
            };
            let elapsed = started.elapsed();
            let (err, wait) = match outcome {
                Ok((status, headers, text)) if (200..300).contains(&status) => {
                    let turn = match inner.cfg.provider {
                        ProviderKind::Anthropic => anthropic::turn(&text),
                        _ => openai::turn(&text),
                    }
                    .map_err(|message| ProviderError::Decode {
                        provider: self.provider(),
                        message,
                    });
                    drop(headers);
                    match turn {
                        Ok(t) => {
                            inner.metrics.call(&inner.cfg, elapsed, t.usage, None);
                            return Ok(t);
                        }
                        Err(e) => {
                            inner.metrics.call(
                                &inner.cfg,
                                elapsed,
                                TokenUsage::default(),
                                Some(e.kind()),
                            );
                            return Err(e);
                        }
                    }
                }
                Ok((status, headers, text)) => {
                    let err = ProviderError::Status {
                        provider: self.provider(),
                        status,
                        body: text.chars().take(300).collect(),
                    };
                    let retryable = status == 429 || status == 529 || status >= 500;
                    if !retryable {
                        inner.metrics.call(
                            &inner.cfg,
                            elapsed,
                            TokenUsage::default(),
                            Some(err.kind()),
                        );
                        return Err(err);
                    }
                    (err, retry_after(&headers))
                }
                Err(e) => (e, None),
            };
            inner
                .metrics
                .call(&inner.cfg, elapsed, TokenUsage::default(), Some(err.kind()));
            if attempt > max {
                return Err(match err {
                    ProviderError::Timeout {
                        provider, timeout, ..
                    } => ProviderError::Timeout {
                        provider,
                        timeout,
                        attempts: attempt,
                    },
                    other => other,
                });
            }
            let backoff = Duration::from_millis(500u64.saturating_mul(1 << (attempt - 1).min(6)));
            let wait = wait.unwrap_or(backoff).min(inner.durations.max_backoff);
            tracing::warn!(error = %err, ?wait, attempt, "model request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// The wait a 429/503 asks for: `retry-after-ms`, or `Retry-After` in seconds or as an
/// HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    Some(Duration::from_millis(secs.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_after_in_seconds_milliseconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new()), None);
    }
}
