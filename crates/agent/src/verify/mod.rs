//! Checking that an action worked.
//!
//! [`criteria`] states what recovery after an action looks like ([`RecoveryCriteria`], plain
//! values); [`Verifier::check`] reads the cluster and answers [`VerifyStatus::Recovered`],
//! [`VerifyStatus::Pending`] or [`VerifyStatus::Failed`].
//!
//! # Time
//!
//! Windows and deadlines are measured in the cluster's time, never the agent's: "now" comes
//! from a [`ClusterClock`] (by default the API server's own clock, read from the
//! `creationTimestamp` of a dry-run-created ConfigMap), and how long a state has held comes from
//! the timestamps the cluster wrote (containers' `startedAt`, the Ready condition's
//! `lastTransitionTime`). `since` must be in the same clock: the engine takes it from
//! [`Verifier::now`] when verification starts, right after the action's outcome is recorded,
//! so a window never counts time from before the change.
//!
//! # Verdicts
//!
//! - `Recovered`: every expectation holds, and workload health has held for the whole
//!   stabilization window, which also starts no earlier than `since`.
//! - `Failed`: an expectation can no longer hold (the workload is gone, its rollout exceeded
//!   its progress deadline after the action, the changed container was OOMKilled at its new
//!   limit), or the deadline passed while something did not hold. A state that holds but is
//!   still inside its stabilization window when the deadline passes is given the rest of the
//!   window.
//! - `Pending`: otherwise, saying what is still missing. Read errors are Pending too: a
//!   flaky API is not a failed remedy, and the deadline still applies.

mod clock;
mod criteria;
mod health;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::Client;
use serde::{Deserialize, Serialize};

pub use clock::ClusterClock;
pub use criteria::{
    CriteriaContext, DEFAULT_DEADLINE, DEFAULT_STABILIZATION, Expectation, RecoveryCriteria,
    criteria,
};

use health::Finding;

/// Whether an action's target recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum VerifyStatus {
    /// Everything holds and has held for the stabilization window.
    Recovered,
    /// Not yet.
    Pending {
        /// What is still missing.
        why: String,
    },
    /// It did not work.
    Failed {
        /// Why not.
        why: String,
    },
}

/// One check's answer with what was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The verdict.
    pub status: VerifyStatus,
    /// For each expectation met, what was read that shows it, and how long it has held.
    pub measured: Vec<String>,
    /// The cluster's time of the check.
    pub at: DateTime<Utc>,
}

impl VerifyStatus {
    /// Whether the answer is final.
    pub fn is_final(&self) -> bool {
        !matches!(self, VerifyStatus::Pending { .. })
    }
}

/// Reads the cluster to tell whether an action's target recovered.
#[derive(Clone)]
pub struct Verifier {
    client: Client,
    clock: ClusterClock,
    /// The latest "now" returned, so that a lagging clock source never goes backwards.
    latest_ms: Arc<AtomicI64>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier on the API server's clock ([`ClusterClock::default`]).
    pub fn new(client: Client) -> Self {
        Verifier {
            client,
            clock: ClusterClock::default(),
            latest_ms: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// With another clock.
    pub fn with_clock(mut self, clock: ClusterClock) -> Self {
        self.clock = clock;
        self
    }

    /// The cluster's current time, never earlier than a previous answer.
    pub async fn now(&self) -> DateTime<Utc> {
        let t = self.clock.now(&self.client).await.timestamp_millis();
        let latest = self.latest_ms.fetch_max(t, Ordering::AcqRel).max(t);
        clock::to_utc(latest)
    }

    async fn finding(&self, e: &Expectation, since: DateTime<Utc>) -> Finding {
        let c = &self.client;
        match e {
            Expectation::WorkloadHealthy { workload, replicas } => {
                health::workload_healthy(c, workload, *replicas, since).await
            }
            Expectation::NoOomKillAfterChange {
                workload,
                container,
                memory_limit,
            } => {
                health::no_oom_kill_after(c, workload, container, memory_limit.as_deref(), since)
                    .await
            }
            Expectation::PodReplaced {
                namespace,
                pod,
                uid,
            } => health::pod_replaced(c, namespace, pod, uid.as_deref(), since).await,
            Expectation::NodeSchedulable { node, schedulable } => {
                health::node_schedulable(c, node, *schedulable).await
            }
            Expectation::NodeDrained { node } => health::node_drained(c, node).await,
        }
    }

    /// Checks `criteria` once, for an action taken at `since` (cluster time).
    pub async fn check(&self, criteria: &RecoveryCriteria, since: DateTime<Utc>) -> VerifyStatus {
        self.check_measured(criteria, since).await.status
    }

    /// Checks `criteria` once, as [`Verifier::check`] does, saying also what was read that
    /// shows each expectation met.
    pub async fn check_measured(
        &self,
        criteria: &RecoveryCriteria,
        since: DateTime<Utc>,
    ) -> Checked {
        let now = self.now().await;
        let mut pending = Vec::new();
        let mut measured = Vec::new();
        let mut settled: Option<DateTime<Utc>> = None;
        for e in &criteria.expectations {
            match self.finding(e, since).await {
                Finding::Failed(why) => {
                    return Checked {
                        status: VerifyStatus::Failed { why },
                        measured,
                        at: now,
                    };
                }
                Finding::Pending(why) => pending.push(why),
                Finding::Met {
                    settled_from,
                    measured: m,
                } => {
                    if let Some(t) = settled_from {
                        settled = Some(settled.map_or(t, |s| s.max(t)));
                    }
                    measured.push(m);
                }
            }
        }
        let status = verdict(criteria, since, now, pending, settled);
        if status == VerifyStatus::Recovered
            && let Some(t) = settled
        {
            measured.push(format!(
                "stable for {}s (window {}s)",
                (now - t.max(since)).num_seconds(),
                criteria.stabilization.as_secs()
            ));
        }
        Checked {
            status,
            measured,
            at: now,
        }
    }

    /// Checks every `poll` (real time) until the answer is final.
    pub async fn wait(
        &self,
        criteria: &RecoveryCriteria,
        since: DateTime<Utc>,
        poll: Duration,
    ) -> VerifyStatus {
        loop {
            let status = self.check(criteria, since).await;
            if status.is_final() {
                return status;
            }
            tracing::debug!(action = %criteria.action, ?status, "not recovered yet");
            tokio::time::sleep(poll).await;
        }
    }
}

/// The verdict of one check from the expectations not yet met (`pending`) and since when the
/// met ones have held (`settled`).
fn verdict(
    criteria: &RecoveryCriteria,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    pending: Vec<String>,
    settled: Option<DateTime<Utc>>,
) -> VerifyStatus {
    let elapsed = (now - since).to_std().unwrap_or_default();
    if !pending.is_empty() {
        let why = pending.join("; ");
        return if elapsed > criteria.deadline {
            VerifyStatus::Failed {
                why: format!(
                    "not recovered {}s after the {}: {why}",
                    criteria.deadline.as_secs(),
                    criteria.action
                ),
            }
        } else {
            VerifyStatus::Pending { why }
        };
    }
    if let Some(t) = settled {
        let from = t.max(since);
        let stable = (now - from).to_std().unwrap_or_default();
        if stable < criteria.stabilization {
            return VerifyStatus::Pending {
                why: format!(
                    "healthy; stable for {}s of the {}s stabilization window",
                    stable.as_secs(),
                    criteria.stabilization.as_secs()
                ),
            };
        }
    }
    VerifyStatus::Recovered
}
