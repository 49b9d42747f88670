//! PagerDuty, through the Events API v2: an incident that needs a human now pages, with the
//! incident id as the alert's `dedup_key`, so that every later event about it lands on the
//! same PagerDuty alert.
//!
//! - `trigger` when the incident is escalated, or when a plan has waited for approval longer
//!   than `approval_waiting_after` (the page is the reminder);
//! - `acknowledge` when a human approved the plan, if a trigger went out for the incident;
//! - `resolve` when the incident is resolved or closed, if a trigger went out for it.
//!
//! Whether a trigger went out is what this destination keeps per incident
//! ([`super::Delivered::keep`]): an incident that was never paged sends PagerDuty nothing,
//! whatever happens to it. A rejection sends nothing of its own: it escalates, and the
//! escalation triggers.
//!
//! Severity comes from the namespace's criticality in the policy: `high` → `critical`,
//! `medium` → `error`, `low` → `warning`; an escalation is at least `error`, since a human
//! has to act on it. The routing key is a secret: it is sent in the body and nowhere else,
//! never logged nor recorded.

use std::fmt;
use std::time::Duration;

use nightshift_core::notice::NotifyEvent;
use nightshift_core::policy::Criticality;
use nightshift_core::text::one_line;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Delivered, DeliveryError, Subject};

/// PagerDuty's Events API v2 endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// PagerDuty cuts a longer `payload.summary`.
pub const MAX_SUMMARY_CHARS: usize = 1024;

/// What this destination keeps about an incident once it paged for it.
const TRIGGERED: &str = "triggered";
/// ... once it acknowledged the page.
const ACKNOWLEDGED: &str = "acknowledged";
/// ... once it resolved the page.
const RESOLVED: &str = "resolved";

/// The event's action, as PagerDuty names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventAction {
    /// Opens (or adds to) the alert with the dedup key.
    Trigger,
    /// A human took it.
    Acknowledge,
    /// Over.
    Resolve,
}

/// The severity of a triggered alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wakes people up.
    Critical,
    /// Needs attention now.
    Error,
    /// Needs attention.
    Warning,
    /// For the record.
    Info,
}

/// The kinds of step PagerDuty hears of at all.
pub fn wants(event: NotifyEvent) -> bool {
    matches!(
        event,
        NotifyEvent::Escalated
            | NotifyEvent::ApprovalWaiting
            | NotifyEvent::Approved
            | NotifyEvent::Resolved
            | NotifyEvent::Closed
    )
}

/// What to send for `event`, given what was kept about the incident (`None`: nothing).
pub fn action_for(event: NotifyEvent, kept: Option<&str>) -> Option<EventAction> {
    let paged = matches!(kept, Some(TRIGGERED | ACKNOWLEDGED));
    match event {
        NotifyEvent::Escalated | NotifyEvent::ApprovalWaiting => Some(EventAction::Trigger),
        NotifyEvent::Approved if kept == Some(TRIGGERED) => Some(EventAction::Acknowledge),
        NotifyEvent::Resolved | NotifyEvent::Closed if paged => Some(EventAction::Resolve),
        _ => None,
    }
}

/// The severity of a page about `event` in a namespace as critical as `criticality`.
pub fn severity(event: NotifyEvent, criticality: Criticality) -> Severity {
    match (criticality, event) {
        (Criticality::High, _) => Severity::Critical,
        (Criticality::Medium, _) | (Criticality::Low, NotifyEvent::Escalated) => Severity::Error,
        (Criticality::Low, _) => Severity::Warning,
    }
}

/// One event, as posted.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The integration's key (secret).
    pub routing_key: String,
    /// What to do.
    pub event_action: EventAction,
    /// The incident id.
    pub dedup_key: String,
    /// What happened (trigger only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Links shown on the alert (trigger only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Value>,
    /// Who sent it (trigger only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Where to look (trigger only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
}

impl Event {
    /// The event for `s`, or `None` when PagerDuty is to hear nothing of it.
    pub fn of(s: &Subject, kept: Option<&str>, routing_key: &str) -> Option<Event> {
        let action = action_for(s.event, kept)?;
        let mut event = Event {
            routing_key: routing_key.to_string(),
            event_action: action,
            dedup_key: s.incident.id.0.clone(),
            payload: None,
            links: vec![],
            client: None,
            client_url: None,
        };
        if action == EventAction::Trigger {
            event.payload = Some(payload(s));
            event.client = Some("Nightshift".into());
            event.client_url = s.link.clone();
            event.links = s
                .link
                .iter()
                .map(|href| json!({"href": href, "text": "Incident in Nightshift"}))
                .collect();
        }
        Some(event)
    }
}

/// The `payload` of a trigger: what an on-call engineer reads first.
fn payload(s: &Subject) -> Value {
    let i = &s.incident;
    // The title usually names the resource already; PagerDuty shows `source` beside it.
    let on = if i.title.contains(&i.resource.to_string()) {
        String::new()
    } else {
        format!(" on {}", i.resource)
    };
    let summary = match s.event {
        NotifyEvent::ApprovalWaiting => match &s.decision {
            Some(d) => format!(
                "{}{on}: the plan \"{}\" waits for approval: {}",
                i.id, d.plan.action, i.title
            ),
            None => format!("{}{on}: a plan waits for approval: {}", i.id, i.title),
        },
        _ => format!(
            "{}{on} escalated ({}): {}",
            i.id,
            super::teams::step_message(&s.entry),
            i.title
        ),
    };
    let mut details = json!({
        "incident": i.id.0,
        "state": i.state,
        "step": s.event.as_str(),
        "step_message": s.entry.message,
        "resource": i.resource.to_string(),
        "criticality": criticality_str(s.criticality),
        "attempts": i.attempts,
        "opened_at": i.opened_at,
    });
    if let Some(a) = &s.analysis {
        details["diagnosis"] = json!({
            "category": a.diagnosis.category.as_str(),
            "summary": a.diagnosis.summary,
            "confidence": a.diagnosis.confidence,
            "root_cause": a.diagnosis.root_cause.to_string(),
        });
    }
    if let Some(d) = &s.decision {
        details["plan"] = json!({
            "action": d.plan.action.to_string(),
            "rationale": d.plan.rationale,
        });
        details["decision"] = json!({
            "verdict": d.decision.verdict,
            "rule": d.decision.rule,
            "risk": super::risk_str(d.decision.risk),
        });
    }
    if let Some(a) = &s.approval {
        details["approval"] = json!({
            "status": a.status,
            "requested_at": a.requested_at,
            "deadline": a.deadline,
        });
    }
    if let Some(link) = &s.link {
        details["link"] = json!(link);
    }
    let mut p = json!({
        // `one_line` marks a cut with one more character.
        "summary": one_line(&summary, MAX_SUMMARY_CHARS - 1),
        "source": i.resource.to_string(),
        "severity": severity(s.event, s.criticality),
        "timestamp": s.entry.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "component": i.root_cause.as_ref().unwrap_or(&i.resource).to_string(),
        "custom_details": details,
    });
    if let Some(ns) = s.namespace() {
        p["group"] = json!(ns);
    }
    if let Some(c) = i.category {
        p["class"] = json!(c.as_str());
    }
    p
}

fn criticality_str(c: Criticality) -> &'static str {
    match c {
        Criticality::Low => "low",
        Criticality::Medium => "medium",
        Criticality::High => "high",
    }
}

/// What PagerDuty answers: `{"status": "success", ...}` or
/// `{"status": "invalid event", "message": ..., "errors": [...]}`.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<String>,
}

/// Sends events to one PagerDuty service.
pub struct PagerDuty {
    name: String,
    url: String,
    routing_key: String,
    client: reqwest::Client,
}

impl fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDuty")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("routing_key", &"<secret>")
            .finish()
    }
}

impl PagerDuty {
    /// A destination named `name` sending to the service of `routing_key` through `url`
    /// (normally [`DEFAULT_URL`]).
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        routing_key: impl Into<String>,
        client: reqwest::Client,
    ) -> Self {
        PagerDuty {
            name: name.into(),
            url: url.into(),
            routing_key: routing_key.into(),
            client,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `s` is anything to tell PagerDuty, given what was sent before.
    pub(super) fn would_send(&self, s: &Subject, kept: Option<&str>) -> bool {
        Event::of(s, kept, &self.routing_key).is_some()
    }

    pub(super) async fn deliver(
        &self,
        s: &Subject,
        kept: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        let Some(event) = Event::of(s, kept, &self.routing_key) else {
            // Nothing to tell PagerDuty (never paged): done, with nothing sent.
            return Ok(Delivered::default());
        };
        let resp = self
            .client
            .post(&self.url)
            .timeout(Duration::from_secs(10))
            .json(&event)
            .send()
            .await
            .map_err(|e| DeliveryError::transport(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        let body = body.replace(&self.routing_key, "<routing key>");
        if status.is_success() {
            let keep = match event.event_action {
                EventAction::Trigger => TRIGGERED,
                EventAction::Acknowledge => ACKNOWLEDGED,
                EventAction::Resolve => RESOLVED,
            };
            return Ok(Delivered {
                keep: Some(keep.to_string()),
            });
        }
        let mut error = DeliveryError::status(status, &headers, &body);
        if let Ok(a) = serde_json::from_str::<Answer>(&body)
            && !a.status.is_empty()
        {
            let mut message = format!("PagerDuty answered HTTP {status}: {}", a.status);
            if !a.message.is_empty() {
                message.push_str(": ");
                message.push_str(&a.message);
            }
            if !a.errors.is_empty() {
                message.push_str(" (");
                message.push_str(&a.errors.join("; "));
                message.push(')');
            }
            error.message = one_line(&message, 300);
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::teams::tests::subject;
    use axum::http::StatusCode;
    use nightshift_core::State;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn pages_on_escalation_and_long_waits_and_follows_up_only_what_it_paged() {
        use NotifyEvent::*;
        assert_eq!(action_for(Escalated, None), Some(EventAction::Trigger));
        assert_eq!(
            action_for(ApprovalWaiting, None),
            Some(EventAction::Trigger)
        );
        assert_eq!(
            action_for(Approved, Some(TRIGGERED)),
            Some(EventAction::Acknowledge)
        );
        assert_eq!(action_for(Approved, None), None, "never paged");
        assert_eq!(action_for(Approved, Some(RESOLVED)), None);
        for done in [Resolved, Closed] {
            assert_eq!(
                action_for(done, Some(TRIGGERED)),
                Some(EventAction::Resolve)
            );
            assert_eq!(
                action_for(done, Some(ACKNOWLEDGED)),
                Some(EventAction::Resolve)
            );
            assert_eq!(action_for(done, None), None, "never paged");
            assert_eq!(action_for(done, Some(RESOLVED)), None, "resolved once");
        }
        for quiet in [IncidentOpened, Planned, ApprovalNeeded, Rejected, Expired] {
            assert_eq!(action_for(quiet, Some(TRIGGERED)), None, "{quiet}");
        }
        assert!(wants(Escalated) && wants(Closed) && !wants(Planned) && !wants(Rejected));
    }

    #[test]
    fn severity_follows_criticality_and_an_escalation_is_at_least_an_error() {
        use NotifyEvent::*;
        assert_eq!(
            severity(ApprovalWaiting, Criticality::High),
            Severity::Critical
        );
        assert_eq!(severity(Escalated, Criticality::High), Severity::Critical);
        assert_eq!(
            severity(ApprovalWaiting, Criticality::Medium),
            Severity::Error
        );
        assert_eq!(
            severity(ApprovalWaiting, Criticality::Low),
            Severity::Warning
        );
        assert_eq!(severity(Escalated, Criticality::Low), Severity::Error);
    }

    #[test]
    fn a_trigger_carries_what_pagerduty_requires() {
        let mut s = subject(NotifyEvent::Escalated, State::Escalated);
        s.criticality = Criticality::Medium;
        s.incident.title = "x".repeat(3000);
        let e = serde_json::to_value(Event::of(&s, None, KEY).unwrap()).unwrap();
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["dedup_key"], "inc-000001");
        assert_eq!(e["routing_key"], KEY);
        let p = &e["payload"];
        assert!(p["summary"].as_str().unwrap().chars().count() <= MAX_SUMMARY_CHARS);
        assert_eq!(p["source"], "deployment/shop/api");
        assert_eq!(p["severity"], "error");
        assert_eq!(p["group"], "shop");
        assert!(p["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            p["custom_details"]["decision"]["rule"],
            "risk: high → approval"
        );
        assert_eq!(
            e["links"][0]["href"],
            "https://ns.example/incidents/inc-000001"
        );
        assert_eq!(e["client"], "Nightshift");
        // A follow-up names only the alert.
        let s = subject(NotifyEvent::Resolved, State::Resolved);
        let e = serde_json::to_value(Event::of(&s, Some(TRIGGERED), KEY).unwrap()).unwrap();
        assert_eq!(e["event_action"], "resolve");
        assert!(e.get("payload").is_none() && e.get("links").is_none());
    }

    /// A PagerDuty that answers every event with `status` and `body`.
    async fn answering(
        status: StatusCode,
        headers: Vec<(&'static str, &'static str)>,
        body: Value,
    ) -> String {
        let app = axum::Router::new().route(
            "/v2/enqueue",
            axum::routing::post(move || {
                let (headers, body) = (headers.clone(), body.clone());
                async move {
                    let mut r =
                        axum::response::IntoResponse::into_response((status, axum::Json(body)));
                    for (k, v) in headers {
                        r.headers_mut().insert(k, v.parse().unwrap());
                    }
                    r
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v2/enqueue", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        url
    }

    fn client() -> reqwest::Client {
        nightshift_net::client(&Default::default())
            .unwrap()
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn answers_are_read_as_pagerduty_documents_them() {
        let s = subject(NotifyEvent::Escalated, State::Escalated);
        let ok = answering(
            StatusCode::ACCEPTED,
            vec![],
            json!({"status": "success", "message": "Event processed", "dedup_key": "inc-000001"}),
        )
        .await;
        let pd = PagerDuty::new("pager", ok, KEY, client());
        assert_eq!(
            pd.deliver(&s, None).await.unwrap().keep.as_deref(),
            Some(TRIGGERED)
        );
        // Nothing to send: no request, nothing kept.
        let never = subject(NotifyEvent::Resolved, State::Resolved);
        assert_eq!(pd.deliver(&never, None).await.unwrap().keep, None);

        let invalid = answering(
            StatusCode::BAD_REQUEST,
            vec![],
            json!({"status": "invalid event", "message": "Event object is invalid", "errors": [format!("routing_key {KEY} is wrong")]}),
        )
        .await;
        let e = PagerDuty::new("pager", invalid, KEY, client())
            .deliver(&s, None)
            .await
            .unwrap_err();
        assert!(!e.retry, "{e}");
        assert!(
            e.message.contains("invalid event") && e.message.contains("Event object is invalid"),
            "{e}"
        );
        assert!(
            !e.message.contains(KEY),
            "the routing key never reaches the record: {e}"
        );

        let limited = answering(
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "30")],
            json!({"status": "throttle event", "message": "Requests for this service are arriving too quickly."}),
        )
        .await;
        let e = PagerDuty::new("pager", limited, KEY, client())
            .deliver(&s, None)
            .await
            .unwrap_err();
        assert!(
            e.retry && e.retry_after == Some(Duration::from_secs(30)),
            "{e:?}"
        );

        let down = answering(StatusCode::BAD_GATEWAY, vec![], json!({})).await;
        let e = PagerDuty::new("pager", down, KEY, client())
            .deliver(&s, None)
            .await
            .unwrap_err();
        assert!(e.retry, "{e}");
        assert!(!format!("{:?}", PagerDuty::new("p", DEFAULT_URL, KEY, client())).contains(KEY));
    }
}
