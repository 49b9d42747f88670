//! Simulated monitoring: the shipped Prometheus rule file evaluated on the cluster's own
//! samples in simulated time, and the Alertmanager version 4 webhooks a real Alertmanager
//! would post, delivered to the configured URL in order.

use std::time::Duration;

use nightshift_monitor::{Alertmanager, RouteConfig, RuleEvaluator, RuleFile, RuleOptions, Tsdb};
use tokio::sync::mpsc;

use crate::Simulation;
use crate::metrics::Sample;

/// Scrape and rule evaluation interval in simulated milliseconds.
pub const EVALUATION_INTERVAL_MS: i64 = 15_000;

/// Prometheus and Alertmanager, played in simulated time.
pub struct Monitoring {
    state: Option<State>,
}

struct State {
    tsdb: Tsdb,
    rules: RuleEvaluator,
    alertmanager: Alertmanager,
    next_scrape_ms: i64,
    outbox: mpsc::UnboundedSender<String>,
    poster: tokio::task::JoinHandle<()>,
}

/// Converts the sim's samples to the monitor crate's.
pub fn to_monitor_samples(samples: Vec<Sample>) -> Vec<nightshift_monitor::Sample> {
    samples
        .into_iter()
        .map(|s| nightshift_monitor::Sample::new(s.name, s.labels, s.value))
        .collect()
}

impl Monitoring {
    /// Monitoring that posts to `webhook`; with no webhook it does nothing.
    pub fn new(webhook: Option<String>, sim: &Simulation) -> Self {
        let Some(url) = webhook else {
            return Monitoring { state: None };
        };
        let rules = match RuleFile::shipped() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the shipped rule file does not load; monitoring is off");
                return Monitoring { state: None };
            }
        };
        let route = RouteConfig::shipped().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the shipped Alertmanager config does not load; using defaults");
            RouteConfig::default()
        });
        let options = RuleOptions {
            evaluation_interval: Duration::from_millis(EVALUATION_INTERVAL_MS as u64),
            external_url: "http://nightshift-sim:9090".into(),
            ..RuleOptions::default()
        };
        let (outbox, mut rx) = mpsc::unbounded_channel::<String>();
        let poster = tokio::spawn(async move {
            let client = match nightshift_net::client(&Default::default()).map(|b| b.build()) {
                Ok(Ok(client)) => client,
                Ok(Err(e)) => {
                    tracing::error!(error = %nightshift_net::explain(&e), "no client for the alert webhook; alerts are not sent");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "no client for the alert webhook; alerts are not sent");
                    return;
                }
            };
            while let Some(body) = rx.recv().await {
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .timeout(Duration::from_secs(10))
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), %url, "alert webhook refused a notification")
                    }
                    Err(e) => {
                        tracing::warn!(error = %nightshift_net::explain(&e), %url, "alert webhook unreachable")
                    }
                }
            }
        });
        Monitoring {
            state: Some(State {
                tsdb: Tsdb::new(Duration::from_secs(3600)),
                rules: RuleEvaluator::new(rules, options),
                alertmanager: Alertmanager::new(route),
                next_scrape_ms: sim.clock().now_ms(),
                outbox,
                poster,
            }),
        }
    }

    /// Called after each simulated second: scrape and evaluate when due, then hand over the
    /// notifications Alertmanager would send by now.
    pub async fn after_step(&mut self, sim: &Simulation) {
        let Some(st) = self.state.as_mut() else {
            return;
        };
        let now = sim.clock().now_ms();
        if now >= st.next_scrape_ms {
            st.next_scrape_ms = now + EVALUATION_INTERVAL_MS;
            if let Err(e) = st.tsdb.ingest(now, to_monitor_samples(sim.samples())) {
                tracing::warn!(error = %e, "scrape refused");
            }
            let eval = st.rules.evaluate(&st.tsdb, now);
            for e in &eval.errors {
                tracing::warn!(error = %e, "rule evaluation failed");
            }
            for r in st.alertmanager.receive(now, &eval.to_send) {
                tracing::warn!(error = %r, "alert rejected");
            }
        }
        for n in st.alertmanager.flush_due(now) {
            let _ = st.outbox.send(n.payload.to_go_json());
        }
    }

    /// Waits until every queued notification has been delivered.
    pub async fn flush(&mut self) {
        if let Some(st) = self.state.take() {
            drop(st.outbox);
            let _ = st.poster.await;
        }
    }
}
