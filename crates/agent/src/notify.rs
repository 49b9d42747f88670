//! Outgoing notifications through a generic webhook: new incidents, approvals needed, actions
//! taken, escalations. Chat integrations (Slack, Teams) plug in behind the same interface.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nightshift_core::{Action, Decision, Incident, Plan};
use serde::Serialize;
use tokio::sync::mpsc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// An incident opened.
    IncidentOpened,
    /// A plan waits for a human.
    ApprovalNeeded,
    /// An action ran.
    ActionTaken,
    /// Handed to humans.
    Escalated,
}

/// One notification, as posted (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// What happened.
    pub kind: NotificationKind,
    /// Incident id.
    pub incident: String,
    /// Its title.
    pub title: String,
    /// Its resource.
    pub resource: String,
    /// Its state.
    pub state: String,
    /// A sentence for a human.
    pub text: String,
    /// Details (plan, decision, action).
    pub details: serde_json::Value,
}

impl Notification {
    fn base(
        kind: NotificationKind,
        i: &Incident,
        text: String,
        details: serde_json::Value,
    ) -> Self {
        Notification {
            kind,
            incident: i.id.0.clone(),
            title: i.title.clone(),
            resource: i.resource.to_string(),
            state: format!("{:?}", i.state),
            text,
            details,
        }
    }

    /// An incident opened.
    pub fn opened(i: &Incident) -> Self {
        Self::base(
            NotificationKind::IncidentOpened,
            i,
            format!("Incident {} opened: {}", i.id, i.title),
            serde_json::json!({}),
        )
    }

    /// Approval needed.
    pub fn approval_needed(i: &Incident, plan: &Plan, decision: &Decision) -> Self {
        Self::base(
            NotificationKind::ApprovalNeeded,
            i,
            format!(
                "Incident {} needs approval: {} ({:?} risk, {}). Approve with `nightshift approve {} --as NAME`.",
                i.id, plan.action, decision.risk, decision.rule, i.id
            ),
            serde_json::json!({"plan": plan, "decision": decision}),
        )
    }

    /// An action ran.
    pub fn action_taken(i: &Incident, action: &Action, summary: &str) -> Self {
        Self::base(
            NotificationKind::ActionTaken,
            i,
            format!("Incident {}: {summary}", i.id),
            serde_json::json!({"action": action}),
        )
    }

    /// Escalated.
    pub fn escalated(i: &Incident, why: &str) -> Self {
        Self::base(
            NotificationKind::Escalated,
            i,
            format!("Incident {} escalated: {why}", i.id),
            serde_json::json!({"why": why}),
        )
    }
}

/// Notifications waiting for delivery; past this many, new ones are dropped (and logged)
/// rather than held in memory without bound or waited for.
const QUEUE: usize = 1024;

/// Posts notifications to a URL from a background task, a few tries each. Handing one over
/// never waits: alert intake and the incident loops must not depend on a receiver that is
/// slow, hangs or is down.
#[derive(Debug, Clone)]
pub struct Notifier {
    url: String,
    queue: mpsc::Sender<Notification>,
    dropped: Arc<AtomicU64>,
}

impl Notifier {
    /// A notifier posting to `url`; starts its delivery task on the current Tokio runtime.
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        let (queue, mut rx) = mpsc::channel::<Notification>(QUEUE);
        let client = reqwest::Client::new();
        let target = url.clone();
        tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                deliver(&client, &target, &n).await;
            }
        });
        Notifier {
            url,
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues one notification for delivery and returns at once. When the queue is full (the
    /// receiver has been failing for a while) the notification is dropped and logged.
    pub fn send(&self, n: Notification) {
        if let Err(e) = self.queue.try_send(n) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let incident = match &e {
                mpsc::error::TrySendError::Full(n) | mpsc::error::TrySendError::Closed(n) => {
                    n.incident.clone()
                }
            };
            tracing::warn!(url = %self.url, %incident, dropped, "notification queue full; notification dropped");
        }
    }

    /// Notifications dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Posts one notification, up to three tries with back-off; failures are logged, never fatal.
async fn deliver(client: &reqwest::Client, url: &str, n: &Notification) {
    for attempt in 0..3u32 {
        let r = client
            .post(url)
            .timeout(Duration::from_secs(5))
            .json(n)
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().is_success() => return,
            Ok(resp) => {
                tracing::warn!(status = %resp.status(), url, incident = %n.incident, "notification refused")
            }
            Err(e) => {
                tracing::warn!(error = %e, url, incident = %n.incident, "notification failed")
            }
        }
        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
}
