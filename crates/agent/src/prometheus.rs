//! PromQL ranges for the evidence: when a Prometheus is configured, the collector asks its HTTP
//! API (`/api/v1/query_range`) how a workload's memory working set, CPU, restarts and 5xx
//! error ratio moved over the last half hour, and adds each series to the bundle as an
//! [`EvidenceData::Metric`] summary (current, min, max, trend per minute, limit, window).
//!
//! Prometheus is optional help, never a dependency: every request has a timeout, and a
//! Prometheus that is down, slow or answers with an error only leaves its items out.
//!
//! The queries follow the conventions of kube-state-metrics and cAdvisor (`namespace`, `pod`,
//! `container` labels) and of the usual HTTP metrics (`http_requests_total` with `code`), as
//! the simulated cluster exposes them. A workload's pods are matched by name, as the
//! Kubernetes mixin's dashboards do: `<deployment>-<hash>-<suffix>`, `<statefulset>-<ordinal>`,
//! `<daemonset>-<suffix>`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nightshift_core::{EvidenceData, ResourceRef, WorkloadKind};
use nightshift_net::TlsSettings;
use serde::Deserialize;

/// Where the Prometheus is and how much to ask of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090`.
    pub url: String,
    /// How far back the ranges go (default 30 minutes).
    pub window: Duration,
    /// Resolution of the ranges (default 30 seconds).
    pub step: Duration,
    /// Time allowed for each request (default 5 seconds).
    pub timeout: Duration,
    /// What an https URL's certificate is checked against beyond the system's roots.
    pub tls: TlsSettings,
}

impl PrometheusConfig {
    /// The defaults for a Prometheus at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PrometheusConfig {
            url: url.into(),
            window: Duration::from_secs(30 * 60),
            step: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            tls: TlsSettings::default(),
        }
    }
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The configured URL is not one.
    #[error(
        "the Prometheus URL {url:?} is not valid: {message}; expected e.g. http://prometheus:9090"
    )]
    Url {
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// No client could be built for it (its CA file does not load).
    #[error("no client for Prometheus at {url}: {message}")]
    Client {
        /// The Prometheus.
        url: String,
        /// Why.
        message: String,
    },
    /// The request failed (connection refused, timeout, refused certificate, unreadable
    /// body).
    #[error(
        "unable to query Prometheus at {url}: {}",
        nightshift_net::explain(source)
    )]
    Request {
        /// The Prometheus.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// Prometheus answered with an error.
    #[error("Prometheus at {url} refused the query {query:?}: {error}")]
    Query {
        /// The Prometheus.
        url: String,
        /// The query.
        query: String,
        /// Its `errorType: error`.
        error: String,
    },
}

/// One series of a range query: its labels and its `(unix seconds, value)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Points, oldest first; values that are not numbers (NaN from a division by zero) are
    /// left out.
    pub points: Vec<(f64, f64)>,
}

/// A Prometheus HTTP API client for range queries.
#[derive(Debug, Clone)]
pub struct Prometheus {
    /// The client, or why none could be built: Prometheus is optional help, so a client that
    /// cannot be built fails each query with the reason (logged) rather than the start.
    http: Result<reqwest::Client, String>,
    config: PrometheusConfig,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<AnswerData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct AnswerData {
    #[serde(default)]
    result: Vec<AnswerSeries>,
}

#[derive(Deserialize)]
struct AnswerSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// A metric item for the bundle: the workload it is about, its summary line and data.
pub type RangeItem = (ResourceRef, String, EvidenceData);

impl Prometheus {
    /// A client for the Prometheus of `config`. A CA file that does not load (the agent's
    /// configuration has already checked it) is logged and fails every query with the reason.
    pub fn new(config: PrometheusConfig) -> Self {
        let http = nightshift_net::client(&config.tls)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.timeout(config.timeout)
                    .build()
                    .map_err(|e| nightshift_net::explain(&e))
            });
        if let Err(e) = &http {
            tracing::error!(url = %config.url, error = %e, "no client for Prometheus; its ranges are left out of the evidence");
        }
        Prometheus { http, config }
    }

    /// The configuration.
    pub fn config(&self) -> &PrometheusConfig {
        &self.config
    }

    /// `query` evaluated from `start` to `end` every `step`.
    pub async fn query_range(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<Series>, PrometheusError> {
        let url = format!(
            "{}/api/v1/query_range",
            self.config.url.trim_end_matches('/')
        );
        // The query URL is long and the query is logged beside the error: the base will do.
        let request_error = |source: reqwest::Error| PrometheusError::Request {
            url: self.config.url.clone(),
            source: source.without_url(),
        };
        let seconds = |t: DateTime<Utc>| format!("{:.3}", t.timestamp_millis() as f64 / 1000.0);
        let url = reqwest::Url::parse_with_params(
            &url,
            &[
                ("query", query.to_string()),
                ("start", seconds(start)),
                ("end", seconds(end)),
                ("step", format!("{}", step.as_secs_f64().max(1.0))),
            ],
        )
        .map_err(|e| PrometheusError::Url {
            url: self.config.url.clone(),
            message: e.to_string(),
        })?;
        let http = self
            .http
            .as_ref()
            .map_err(|message| PrometheusError::Client {
                url: self.config.url.clone(),
                message: message.clone(),
            })?;
        let answer: Answer = http
            .get(url)
            .send()
            .await
            .map_err(request_error)?
            .json()
            .await
            .map_err(request_error)?;
        if answer.status != "success" {
            return Err(PrometheusError::Query {
                url: self.config.url.clone(),
                query: query.to_string(),
                error: answer.error.unwrap_or_else(|| answer.status.clone()),
            });
        }
        Ok(answer
            .data
            .map(|d| d.result)
            .unwrap_or_default()
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                points: s
                    .values
                    .into_iter()
                    .filter_map(|(t, v)| {
                        v.parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .map(|v| (t, v))
                    })
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect())
    }

    /// The ranges of a workload up to `now`: memory working set and CPU per container (with
    /// their limits), restarts, and the 5xx error ratio. Queries that fail are logged and
    /// left out; the rest come back whatever happens to the others.
    pub async fn workload_ranges(
        &self,
        workload: &ResourceRef,
        now: DateTime<Utc>,
    ) -> Vec<RangeItem> {
        let ResourceRef::Workload {
            kind,
            namespace,
            name,
        } = workload
        else {
            return Vec::new();
        };
        let pods = format!(
            "namespace=\"{}\",pod=~\"{}\"",
            promql_string(namespace),
            promql_string(&pod_pattern(*kind, name))
        );
        let containers = format!("{pods},container!=\"\",container!=\"POD\"");
        let queries = [
            format!("max by (container) (container_memory_working_set_bytes{{{containers}}})"),
            format!("max by (container) (container_spec_memory_limit_bytes{{{containers}}})"),
            format!(
                "max by (container) (rate(container_cpu_usage_seconds_total{{{containers}}}[5m])) * 1000"
            ),
            format!("max by (container) (container_spec_cpu_quota{{{containers}}}) / 100"),
            format!("sum(increase(kube_pod_container_status_restarts_total{{{pods}}}[5m]))"),
            format!(
                "sum(rate(http_requests_total{{{pods},code=~\"5..\"}}[5m])) / sum(rate(http_requests_total{{{pods}}}[5m]))"
            ),
        ];
        let start = now
            - chrono::Duration::from_std(self.config.window)
                .unwrap_or(chrono::Duration::minutes(30));
        let answers = futures::future::join_all(
            queries
                .iter()
                .map(|q| self.query_range(q, start, now, self.config.step)),
        )
        .await;
        let mut results: Vec<Vec<Series>> = Vec::new();
        for (q, a) in queries.iter().zip(answers) {
            match a {
                Ok(series) => results.push(series),
                Err(e) => {
                    tracing::warn!(query = %q, error = %e, "a PromQL range for the evidence failed");
                    results.push(Vec::new());
                }
            }
        }
        let [memory, memory_limit, cpu, cpu_limit, restarts, errors] =
            <[Vec<Series>; 6]>::try_from(results).unwrap_or_default();
        let window = self.config.window.as_secs();
        let subject = |container: Option<&String>| match container {
            Some(c) => format!("{namespace}/{name}/{c}"),
            None => format!("{namespace}/{name}"),
        };
        let limit_of = |limits: &[Series], container: Option<&String>| {
            limits
                .iter()
                .find(|l| l.labels.get("container") == container)
                .and_then(|l| l.points.last().map(|p| p.1))
                .filter(|l| *l > 0.0)
        };
        let mut out = Vec::new();
        for s in &memory {
            let c = s.labels.get("container");
            let limit = limit_of(&memory_limit, c);
            // A restart starts the working set again: the trend is that of the current run.
            let m = Summary::of(&s.points, true);
            out.push((
                workload.clone(),
                format!(
                    "{} memory over {}m: now {} MiB, {}..{} MiB, {:+.1} MiB/min{}",
                    subject(c),
                    window / 60,
                    mib(m.current),
                    mib(m.min),
                    mib(m.max),
                    m.trend / f64::from(1 << 20),
                    limit
                        .map(|l| format!(", limit {} MiB", mib(l)))
                        .unwrap_or_default()
                ),
                m.data(
                    "container_memory_working_set_bytes",
                    subject(c),
                    limit,
                    window,
                ),
            ));
        }
        for s in &cpu {
            let c = s.labels.get("container");
            let limit = limit_of(&cpu_limit, c);
            let m = Summary::of(&s.points, false);
            out.push((
                workload.clone(),
                format!(
                    "{} cpu over {}m: now {:.0}m, {:.0}..{:.0}m{}",
                    subject(c),
                    window / 60,
                    m.current,
                    m.min,
                    m.max,
                    limit
                        .map(|l| format!(", limit {l:.0}m"))
                        .unwrap_or_default()
                ),
                m.data("container_cpu_usage_millicores", subject(c), limit, window),
            ));
        }
        for s in restarts.iter().take(1) {
            let m = Summary::of(&s.points, false);
            out.push((
                workload.clone(),
                format!(
                    "{} restarts per 5m over {}m: now {:.0}, at most {:.0}",
                    subject(None),
                    window / 60,
                    m.current,
                    m.max
                ),
                m.data("container_restarts_per_5m", subject(None), None, window),
            ));
        }
        for s in errors.iter().take(1) {
            let m = Summary::of(&s.points, false);
            out.push((
                workload.clone(),
                format!(
                    "{} 5xx error ratio over {}m: now {:.1}%, {:.1}..{:.1}%",
                    subject(None),
                    window / 60,
                    m.current * 100.0,
                    m.min * 100.0,
                    m.max * 100.0
                ),
                m.data("http_5xx_error_ratio", subject(None), None, window),
            ));
        }
        out
    }
}

/// A series as the bundle keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    current: f64,
    min: f64,
    max: f64,
    /// Least-squares slope, per minute.
    trend: f64,
}

impl Summary {
    /// Summarises `points` (not empty). With `since_reset`, the trend is taken over the points
    /// after the last fall of more than a fifth of the range (a restart of a gauge that
    /// grows), so a leak that is OOMKilled every few minutes still shows its growth.
    fn of(points: &[(f64, f64)], since_reset: bool) -> Self {
        let values = points.iter().map(|p| p.1);
        let min = values.clone().fold(f64::INFINITY, f64::min);
        let max = values.fold(f64::NEG_INFINITY, f64::max);
        let mut from = 0;
        if since_reset {
            for i in 1..points.len() {
                if points[i - 1].1 - points[i].1 > 0.2 * (max - min).max(f64::EPSILON) {
                    from = i;
                }
            }
        }
        Summary {
            current: points.last().map_or(0.0, |p| p.1),
            min,
            max,
            trend: slope(&points[from..]) * 60.0,
        }
    }

    fn data(self, name: &str, subject: String, limit: Option<f64>, window: u64) -> EvidenceData {
        EvidenceData::Metric {
            name: name.into(),
            subject,
            current: self.current,
            min: self.min,
            max: self.max,
            trend_per_minute: self.trend,
            limit,
            window_seconds: window,
        }
    }
}

/// Least-squares slope of `(seconds, value)` points, per second (0 with fewer than two).
fn slope(points: &[(f64, f64)]) -> f64 {
    if points.len() < 2 {
        return 0.0;
    }
    let n = points.len() as f64;
    let (mt, mv) = points
        .iter()
        .fold((0.0, 0.0), |(t, v), p| (t + p.0 / n, v + p.1 / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), p| {
        (num + (p.0 - mt) * (p.1 - mv), den + (p.0 - mt).powi(2))
    });
    if den > 0.0 { num / den } else { 0.0 }
}

fn mib(bytes: f64) -> u64 {
    (bytes / f64::from(1 << 20)).round().max(0.0) as u64
}

/// A regular expression for the names of a workload's pods.
fn pod_pattern(kind: WorkloadKind, name: &str) -> String {
    let name = regex::escape(name);
    match kind {
        WorkloadKind::StatefulSet => format!("{name}-[0-9]+"),
        WorkloadKind::DaemonSet => format!("{name}-[a-z0-9]+"),
        WorkloadKind::Deployment => format!("{name}-[a-z0-9]+-[a-z0-9]+"),
    }
}

/// `s` inside a double-quoted PromQL string.
fn promql_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_of_a_leak_is_that_of_its_current_run() {
        // Grows 10 a minute, falls back at t=300 (a restart), grows 10 a minute again.
        let points: Vec<(f64, f64)> = (0..10)
            .map(|i| {
                let t = f64::from(i) * 60.0;
                let v = if i < 5 {
                    100.0 + 10.0 * f64::from(i)
                } else {
                    100.0 + 10.0 * f64::from(i - 5)
                };
                (t, v)
            })
            .collect();
        let s = Summary::of(&points, true);
        assert!((s.trend - 10.0).abs() < 1e-9, "{s:?}");
        assert_eq!((s.min, s.max, s.current), (100.0, 140.0, 140.0));
        let flat = Summary::of(&points, false);
        assert!(flat.trend.abs() < 5.0, "{flat:?}");
        assert_eq!(slope(&points[..1]), 0.0);
    }

    #[test]
    fn pods_are_matched_by_their_workload_names() {
        let re =
            |kind, name| regex::Regex::new(&format!("^(?:{})$", pod_pattern(kind, name))).unwrap();
        let d = re(WorkloadKind::Deployment, "orders");
        assert!(d.is_match("orders-7f9c6b5d4-x2k8p"));
        assert!(
            !d.is_match("orders-worker-7f9c6b5d4-x2k8p"),
            "another deployment"
        );
        let s = re(WorkloadKind::StatefulSet, "orders-db");
        assert!(s.is_match("orders-db-0") && !s.is_match("orders-db-primary"));
        assert_eq!(promql_string(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(
            pod_pattern(WorkloadKind::Deployment, "a.b"),
            r"a\.b-[a-z0-9]+-[a-z0-9]+"
        );
    }
}
