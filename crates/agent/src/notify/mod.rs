//! Telling people: every step of an incident that people hear of (see
//! [`nightshift_core::notice`]) is queued in the store's outbox, in the transaction that
//! records the step, once per configured destination; [`outbox::Outbox`] delivers each
//! destination's queue in order from its own task, at least once, with back-off, on the
//! leader only, and records every outcome. Alert intake never waits for any of it.
//!
//! A destination is told of a step as a [`Subject`]: the step, and the incident as it stands
//! when the step is delivered (diagnosis, plan, decision, approval, actions, dry run,
//! verification), so that a chat message updated in place always shows the latest state.
//! [`route::Routing`] says which destination hears of which step.

pub mod outbox;
pub mod pagerduty;
pub mod route;
pub mod slack;
pub mod teams;
pub mod webhook;

use std::fmt;
use std::time::Duration;

use nightshift_core::notice::NotifyEvent;
use nightshift_core::policy::Criticality;
use nightshift_core::{Analysis, Incident, TimelineEntry};
use nightshift_store::{ActionRecord, Approval, DecisionRecord};

pub use outbox::{Outbox, OutboxSettings};
pub use pagerduty::PagerDuty;
pub use route::{Route, Routing};
pub use slack::{Slack, SlackSettings};
pub use teams::Teams;
pub use webhook::{Notification, Webhook};

/// One step to tell a destination of, with the incident as it stands.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The step's place in the timeline; with the destination's name, what makes a delivery
    /// unique.
    pub seq: i64,
    /// What happened.
    pub event: NotifyEvent,
    /// The step as recorded.
    pub entry: TimelineEntry,
    /// The incident now.
    pub incident: Incident,
    /// How critical its namespace is by the policy (routing and paging severity).
    pub criticality: Criticality,
    /// The latest analysis (diagnosis and plans).
    pub analysis: Option<Analysis>,
    /// The evidence the latest diagnosis cites, as collected (id, kind, resource, summary).
    pub evidence: Vec<nightshift_core::EvidenceItem>,
    /// The latest decided plan.
    pub decision: Option<DecisionRecord>,
    /// The latest approval request, with its answer.
    pub approval: Option<Approval>,
    /// Actions carried out or attempted, in order.
    pub actions: Vec<ActionRecord>,
    /// The latest dry run's answer (its report), if any.
    pub dry_run: Option<serde_json::Value>,
    /// The latest verification entry, if any.
    pub verification: Option<TimelineEntry>,
    /// A link to the incident in the agent's web console, when its URL is configured.
    pub link: Option<String>,
    /// What the knowledge base says of incidents like this one (`seen 3 times in 30 days;
    /// rollback fixed it 3 of 3 times; ...`), when anything.
    pub history: Option<String>,
}

impl Subject {
    /// A key that is the same each time this step is delivered to a destination (receivers
    /// drop a repeat with it).
    pub fn dedup_key(&self) -> String {
        format!("{}/{}", self.incident.id, self.seq)
    }

    /// The incident's namespace (`None` for a node).
    pub fn namespace(&self) -> Option<&str> {
        self.incident.resource.namespace()
    }

    /// A sentence for a human about this step.
    pub fn text(&self) -> String {
        let i = &self.incident;
        let text = match self.event {
            NotifyEvent::IncidentOpened => format!("Incident {} opened: {}", i.id, i.title),
            NotifyEvent::ApprovalNeeded => match &self.decision {
                Some(d) => format!(
                    "Incident {} needs approval: {} ({} risk, {})",
                    i.id,
                    d.plan.action,
                    risk_str(d.decision.risk),
                    d.decision.rule
                ),
                None => format!("Incident {} needs approval", i.id),
            },
            _ => format!("Incident {}: {}", i.id, self.entry.message),
        };
        match (&self.history, self.event) {
            (
                Some(h),
                NotifyEvent::ApprovalNeeded | NotifyEvent::Planned | NotifyEvent::Escalated,
            ) => format!("{text} ({h})"),
            _ => text,
        }
    }
}

/// The risk class as written in the policy.
pub fn risk_str(r: nightshift_core::Risk) -> &'static str {
    match r {
        nightshift_core::Risk::Low => "low",
        nightshift_core::Risk::Medium => "medium",
        nightshift_core::Risk::High => "high",
    }
}

/// A successful delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// What to keep for the next delivery about the same incident (a message id), replacing
    /// what was kept; `None` keeps what there is.
    pub keep: Option<String>,
}

/// A failed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Whether trying again may succeed (the destination is down, slow or rate-limiting);
    /// a refusal of the request itself (a bad token, an unknown channel) is not.
    pub retry: bool,
    /// What went wrong, for the record and the log (never a secret).
    pub message: String,
    /// How long the destination asked to be left alone (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            retry: true,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure that will not go away by retrying.
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            retry: false,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A transport error (connection refused, timeout, TLS): worth retrying.
    pub fn transport(e: &reqwest::Error) -> Self {
        DeliveryError::transient(nightshift_net::explain(e))
    }

    /// An HTTP answer that is not a success: 408, 429 and 5xx are worth retrying, other 4xx
    /// are not. `body` is cut short for the record.
    pub fn status(
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &str,
    ) -> Self {
        let retry = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        DeliveryError {
            retry,
            message: format!(
                "HTTP {status}: {}",
                nightshift_core::text::one_line(body, 200)
            ),
            retry_after,
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Posts `body` as JSON to `url` with `headers`: a 2xx is a delivery, anything else a
/// [`DeliveryError`] whose message has passed through `scrub` (a URL or key that must not be
/// recorded). With `secret_url`, transport errors leave the URL out too.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &impl serde::Serialize,
    headers: &[(&str, String)],
    secret_url: bool,
    scrub: impl Fn(&str) -> String,
) -> Result<Delivered, DeliveryError> {
    let mut req = client.post(url).timeout(Duration::from_secs(10)).json(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.map_err(|e| {
        if secret_url {
            DeliveryError::transport(&e.without_url())
        } else {
            DeliveryError::transport(&e)
        }
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(Delivered::default());
    }
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Err(DeliveryError::status(status, &headers, &scrub(&body)))
}

/// Where notifications go.
#[derive(Debug)]
pub enum Destination {
    /// A generic JSON webhook.
    Webhook(Webhook),
    /// One Slack message per incident, updated in place, with approval buttons.
    Slack(Slack),
    /// A Microsoft Teams channel, through a Workflows webhook.
    Teams(Teams),
    /// A PagerDuty service, through the Events API v2.
    PagerDuty(PagerDuty),
}

impl Destination {
    /// The name the configuration gives it (the outbox's key and the metrics' label).
    pub fn name(&self) -> &str {
        match self {
            Destination::Webhook(w) => w.name(),
            Destination::Slack(s) => s.name(),
            Destination::Teams(t) => t.name(),
            Destination::PagerDuty(p) => p.name(),
        }
    }

    /// The kind, for logs and metrics (`webhook`, `slack`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Webhook(_) => "webhook",
            Destination::Slack(_) => "slack",
            Destination::Teams(_) => "teams",
            Destination::PagerDuty(_) => "pagerduty",
        }
    }

    /// Whether this kind of destination has anything to do with `event` at all (a pager
    /// cares about escalations, not about every step); routing narrows it further.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        match (self, event) {
            (Destination::Webhook(_), _) => true,
            // The message shows the incident as it stands: every step moves it.
            (Destination::Slack(_), _) => true,
            // A card per step: every step is news in a channel.
            (Destination::Teams(_), _) => true,
            // A pager hears of what needs a human now (see pagerduty.rs).
            (Destination::PagerDuty(_), event) => pagerduty::wants(event),
        }
    }

    /// Whether delivering `s` would send anything, given what the last delivery kept: a
    /// pager acknowledges or resolves only what it paged. A step with nothing to send is
    /// recorded as skipped, not as delivered.
    pub fn would_send(&self, s: &Subject, kept: Option<&str>) -> bool {
        match self {
            Destination::PagerDuty(p) => p.would_send(s, kept),
            Destination::Webhook(_) | Destination::Slack(_) | Destination::Teams(_) => true,
        }
    }

    /// Delivers one step. `kept` is what the last delivery about the same incident asked to
    /// keep ([`Delivered::keep`]).
    pub async fn deliver(
        &self,
        subject: &Subject,
        kept: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        match self {
            Destination::Webhook(w) => w.deliver(subject, kept).await,
            Destination::Slack(s) => s.deliver(subject, kept).await,
            Destination::Teams(t) => t.deliver(subject, kept).await,
            Destination::PagerDuty(p) => p.deliver(subject, kept).await,
        }
    }
}
