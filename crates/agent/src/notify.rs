//! Outgoing notifications through a generic webhook: new incidents, approvals needed, actions
//! taken, escalations. Chat integrations (Slack, Teams) plug in behind the same interface.

use std::time::Duration;

use nightshift_core::{Action, Decision, Incident, Plan};
use serde::Serialize;

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
                i.id,
                crate::engine::describe_action(&plan.action),
                decision.risk,
                decision.rule,
                i.id
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

/// Posts notifications to a URL, a few tries each, without blocking the loop for long.
#[derive(Debug, Clone)]
pub struct Notifier {
    url: String,
    client: reqwest::Client,
}

impl Notifier {
    /// A notifier posting to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Notifier {
            url: url.into(),
            client: reqwest::Client::new(),
        }
    }

    /// Sends one notification; failures are logged, never fatal.
    pub async fn send(&self, n: Notification) {
        for attempt in 0..3u32 {
            let r = self
                .client
                .post(&self.url)
                .timeout(Duration::from_secs(5))
                .json(&n)
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => return,
                Ok(resp) => {
                    tracing::warn!(status = %resp.status(), url = %self.url, "notification refused")
                }
                Err(e) => tracing::warn!(error = %e, url = %self.url, "notification failed"),
            }
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
        }
    }
}
