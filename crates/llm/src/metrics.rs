//! What the model costs: calls, tokens in and out, latency, failures and estimated cost, as
//! Prometheus metrics ([`Metrics::register`] adds them to the agent's registry) and as plain
//! counters ([`Usage`]) for the evaluation's report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::config::LlmConfig;
use crate::provider::TokenUsage;

type Labels = Vec<(String, String)>;

/// What an analyzer spent so far (shared by its clones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Requests sent to the model, retries included.
    pub calls: u64,
    /// Input tokens the provider reported.
    pub tokens_in: u64,
    /// Output tokens the provider reported.
    pub tokens_out: u64,
    /// Analyses that fell back to the rules because the model failed.
    pub fallbacks: u64,
    /// Analyses answered from the cache.
    pub cache_hits: u64,
}

impl Usage {
    /// Tokens in and out.
    pub fn tokens(&self) -> u64 {
        self.tokens_in + self.tokens_out
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    fallbacks: AtomicU64,
    cache_hits: AtomicU64,
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0])
}

/// The model analyzer's metrics. Clones share their values.
#[derive(Clone)]
pub struct Metrics {
    counters: Arc<Counters>,
    requests: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    failures: Family<Labels, Counter>,
    cost: Family<Labels, Counter<f64, AtomicU64>>,
    analyses: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            counters: Arc::default(),
            requests: Family::default(),
            tokens: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            failures: Family::default(),
            cost: Family::default(),
            analyses: Family::default(),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("usage", &self.usage())
            .finish()
    }
}

impl Metrics {
    /// Adds the metrics to `registry` (the agent's `/metrics`, or any other). Registering
    /// into several registries shares the same values.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "nightshift_llm_requests",
            "Requests sent to the model, by provider, model and outcome",
            self.requests.clone(),
        );
        registry.register(
            "nightshift_llm_tokens",
            "Tokens the provider reported, by direction (input, output)",
            self.tokens.clone(),
        );
        registry.register(
            "nightshift_llm_request_duration_seconds",
            "Time from sending a request to its answer",
            self.latency.clone(),
        );
        registry.register(
            "nightshift_llm_failures",
            "Failed requests, by kind (rate_limited, server_error, timeout, ...)",
            self.failures.clone(),
        );
        registry.register(
            "nightshift_llm_cost",
            "Estimated cost from the configured price table (currency of the table)",
            self.cost.clone(),
        );
        registry.register(
            "nightshift_llm_analyses",
            "Analyses by how they were answered (model, rules, fallback, cache)",
            self.analyses.clone(),
        );
    }

    /// The counters so far.
    pub fn usage(&self) -> Usage {
        let c = &self.counters;
        Usage {
            calls: c.calls.load(Ordering::Relaxed),
            tokens_in: c.tokens_in.load(Ordering::Relaxed),
            tokens_out: c.tokens_out.load(Ordering::Relaxed),
            fallbacks: c.fallbacks.load(Ordering::Relaxed),
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// Records one request: its latency, tokens, and failure kind if it failed.
    pub fn call(
        &self,
        cfg: &LlmConfig,
        elapsed: Duration,
        usage: TokenUsage,
        failure: Option<&str>,
    ) {
        let base = vec![
            ("provider".to_string(), cfg.provider.as_str().to_string()),
            ("model".to_string(), cfg.model.clone()),
        ];
        let with = |k: &str, v: &str| {
            let mut l = base.clone();
            l.push((k.to_string(), v.to_string()));
            l
        };
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        self.counters
            .tokens_in
            .fetch_add(usage.input, Ordering::Relaxed);
        self.counters
            .tokens_out
            .fetch_add(usage.output, Ordering::Relaxed);
        self.requests
            .get_or_create(&with(
                "outcome",
                if failure.is_some() {
                    "failure"
                } else {
                    "success"
                },
            ))
            .inc();
        self.latency
            .get_or_create(&base)
            .observe(elapsed.as_secs_f64());
        self.tokens
            .get_or_create(&with("direction", "input"))
            .inc_by(usage.input);
        self.tokens
            .get_or_create(&with("direction", "output"))
            .inc_by(usage.output);
        if let Some(kind) = failure {
            self.failures.get_or_create(&with("kind", kind)).inc();
        }
        if let Some(price) = cfg.price() {
            let cost =
                usage.input as f64 * price.input / 1e6 + usage.output as f64 * price.output / 1e6;
            self.cost.get_or_create(&base).inc_by(cost);
        }
    }

    /// Records how an analysis was answered: `model`, `rules`, `fallback` or `cache`.
    pub fn analysis(&self, how: &str) {
        match how {
            "fallback" => self.counters.fallbacks.fetch_add(1, Ordering::Relaxed),
            "cache" => self.counters.cache_hits.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        self.analyses
            .get_or_create(&vec![("answered_by".to_string(), how.to_string())])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Price;

    #[test]
    fn counts_calls_tokens_failures_and_cost() {
        let mut cfg = LlmConfig::openai("http://127.0.0.1:1/v1", "m", None);
        cfg.prices.insert(
            "m".into(),
            Price {
                input: 2.0,
                output: 10.0,
            },
        );
        let m = Metrics::default();
        let shared = m.clone();
        m.call(
            &cfg,
            Duration::from_millis(300),
            TokenUsage {
                input: 1_000_000,
                output: 100_000,
            },
            None,
        );
        m.call(
            &cfg,
            Duration::from_secs(1),
            TokenUsage::default(),
            Some("timeout"),
        );
        m.analysis("fallback");
        let u = shared.usage();
        assert_eq!(
            (u.calls, u.tokens_in, u.tokens_out, u.fallbacks),
            (2, 1_000_000, 100_000, 1)
        );
        let mut reg = Registry::default();
        m.register(&mut reg);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        assert!(
            text.contains("nightshift_llm_cost_total{provider=\"openai\",model=\"m\"} 3.0"),
            "{text}"
        );
        assert!(
            text.contains(
                "nightshift_llm_failures_total{provider=\"openai\",model=\"m\",kind=\"timeout\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("nightshift_llm_tokens_total{provider=\"openai\",model=\"m\",direction=\"input\"} 1000000"), "{text}");
        assert!(
            text.contains("nightshift_llm_request_duration_seconds_count"),
            "{text}"
        );
    }
}
