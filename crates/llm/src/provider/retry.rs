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
        let provider = self.provider();
        let (text, elapsed) = {
            let attempt = || async {
                let _permit = inner
                    .gate
                    .acquire()
                    .await
                    .expect("the gate is never closed");
                send_once(
                    provider,
                    &url,
                    inner.durations.timeout,
                    self.request(&url, &body),
                )
                .await
            };
            let failed = |elapsed: Duration, err: &ProviderError| {
                inner
                    .metrics
                    .call(&inner.cfg, elapsed, TokenUsage::default(), Some(err.kind()));
            };
            retry_loop(
                inner.cfg.max_retries,
                inner.durations.max_backoff,
                attempt,
                failed,
            )
            .await?
        };
        let turn = match inner.cfg.provider {
            ProviderKind::Anthropic => anthropic::turn(&text),
            _ => openai::turn(&text),
        }
        .map_err(|message| ProviderError::Decode { provider, message });
        match turn {
            Ok(t) => {
                inner.metrics.call(&inner.cfg, elapsed, t.usage, None);
                Ok(t)
            }
            Err(e) => {
                inner
                    .metrics
                    .call(&inner.cfg, elapsed, TokenUsage::default(), Some(e.kind()));
                Err(e)
            }
        }
    }
}

/// Sends what `request` builds, retrying like the model's calls (429, 529, 5xx, timeouts and
/// connection errors, honouring `Retry-After`, at most `max_backoff` between attempts), and
/// answers the body of the first 2xx answer.
pub(crate) async fn retrying(
    provider: &'static str,
    url: &str,
    max_retries: u32,
    timeout: Duration,
    max_backoff: Duration,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Result<String, ProviderError> {
    let attempt = || send_once(provider, url, timeout, request());
    let (text, _) = retry_loop(max_retries, max_backoff, attempt, |_, _| {}).await?;
    Ok(text)
}

/// One attempt's answer: the body of a 2xx answer, or what failed and how long to wait
/// before the next attempt when it is worth one (`None` as the wait: not retryable).
type Attempt = Result<String, (ProviderError, Option<Option<Duration>>)>;

async fn send_once(
    provider: &'static str,
    url: &str,
    timeout: Duration,
    rb: reqwest::RequestBuilder,
) -> Attempt {
    let transport = |e: reqwest::Error| {
        let err = if e.is_timeout() {
            ProviderError::Timeout {
                provider,
                timeout,
                attempts: 1,
            }
        } else {
            ProviderError::Transport {
                provider,
                url: url.to_string(),
                // The URL is already in this error's message.
                message: nightshift_net::explain(&e.without_url()),
            }
        };
        (err, Some(None))
    };
    let resp = rb.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.map_err(transport)?;
    if (200..300).contains(&status) {
        return Ok(text);
    }
    let err = ProviderError::Status {
        provider,
        status,
        body: text.chars().take(300).collect(),
    };
    let retryable = status == 429 || status == 529 || status >= 500;
    Err((err, retryable.then(|| retry_after(&headers))))
}

/// Runs `attempt` until it answers, fails in a way not worth retrying, or has failed
/// `max_retries + 1` times; `failed` hears of each failed attempt. Answers the body and how
/// long the answering attempt took.
async fn retry_loop<F, Fut>(
    max_retries: u32,
    max_backoff: Duration,
    attempt: F,
    failed: impl Fn(Duration, &ProviderError),
) -> Result<(String, Duration), ProviderError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let mut n = 0u32;
    loop {
        n += 1;
        let started = Instant::now();
        let outcome = attempt().await;
        let elapsed = started.elapsed();
        let (err, wait) = match outcome {
            Ok(text) => return Ok((text, elapsed)),
            Err((err, None)) => {
                failed(elapsed, &err);
                return Err(err);
            }
            Err((err, Some(wait))) => (err, wait),
        };
        failed(elapsed, &err);
        if n > max_retries {
            return Err(match err {
                ProviderError::Timeout {
                    provider, timeout, ..
                } => ProviderError::Timeout {
                    provider,
                    timeout,
                    attempts: n,
                },
                other => other,
            });
        }
        let backoff = Duration::from_millis(500u64.saturating_mul(1 << (n - 1).min(6)));
        let wait = wait.unwrap_or(backoff).min(max_backoff);
        tracing::warn!(error = %err, ?wait, attempt = n, "request failed; retrying");
        tokio::time::sleep(wait).await;
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
