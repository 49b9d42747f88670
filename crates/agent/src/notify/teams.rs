//! Microsoft Teams, through a Workflows (Power Automate) webhook: the "Post to a channel when
//! a webhook request is received" template posts each request's Adaptive Card to a channel.
//!
//! A workflow cannot edit a card it posted, so the incident is kept current by posting its
//! new state: every step posts one card with the incident as it stands (diagnosis, plan,
//! decision with its rule and risk, approval, action, verification, dry run). The card's
//! button opens the web console: "Review and approve" while a plan waits for a human, "Open
//! incident" otherwise. A button that answers from Teams itself (`Action.Submit` or
//! `Action.Execute`) would need a registered Bot Framework bot; workflows cannot call back.
//!
//! The workflow's URL carries its signature (`sig=`): it is a secret, kept out of errors,
//! logs and the record.

use std::fmt;

use nightshift_core::notice::NotifyEvent;
use nightshift_core::policy::Criticality;
use nightshift_core::text::one_line;
use nightshift_core::{State, TimelineEntry, TimelineKind};
use serde_json::{Value, json};

use super::{Delivered, DeliveryError, Subject, risk_str};

/// The content type of an Adaptive Card attachment.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// The Adaptive Card version: the highest Teams renders on every client.
pub const CARD_VERSION: &str = "1.4";

/// The dry run's lines shown at most.
const DRY_RUN_LINES: usize = 30;
/// The characters of one dry-run line shown at most.
const DRY_RUN_LINE_CHARS: usize = 160;
/// The characters of one field shown at most.
const FIELD_CHARS: usize = 400;

/// The step's headline on a card ("Approval needed").
pub fn headline(event: NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::IncidentOpened => "Incident opened",
        NotifyEvent::Planned => "Plan decided",
        NotifyEvent::ApprovalNeeded => "Approval needed",
        NotifyEvent::ApprovalVote => "Approval vote recorded",
        NotifyEvent::ApprovalWaiting => "Still waiting for approval",
        NotifyEvent::Approved => "Approved",
        NotifyEvent::Rejected => "Rejected",
        NotifyEvent::Expired => "Approval expired",
        NotifyEvent::ActionTaken => "Action taken",
        NotifyEvent::Verified => "Verification",
        NotifyEvent::Resolved => "Resolved",
        NotifyEvent::Escalated => "Escalated to humans",
        NotifyEvent::Observed => "Observed only",
        NotifyEvent::Closed => "Closed",
        NotifyEvent::TrustChanged => "Autonomy changed",
    }
}

/// What the step says, without the `From -> To: ` of a transition.
pub fn step_message(entry: &TimelineEntry) -> &str {
    match (&entry.kind, entry.message.split_once(" -> ")) {
        (TimelineKind::Transition, Some((_, rest))) => {
            rest.split_once(": ").map_or(rest, |(_, why)| why)
        }
        _ => &entry.message,
    }
}

/// The title of the card's button: what a reader can do in the console.
pub fn button_title(s: &Subject) -> &'static str {
    if s.incident.state == State::AwaitingApproval {
        "Review and approve"
    } else {
        "Open incident"
    }
}

/// The request a workflow receives: a message with the card of `s` as its one attachment.
pub fn message(s: &Subject) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": ADAPTIVE_CARD,
            "contentUrl": null,
            "content": card(s),
        }],
    })
}

/// The Adaptive Card of `s`.
pub fn card(s: &Subject) -> Value {
    let i = &s.incident;
    let mut body = vec![
        json!({
            "type": "Container",
            "style": style(i.state),
            "bleed": true,
            "items": [
                text(&format!("{} · {}", i.id, state_label(i.state)))
                    .with("size", "Medium")
                    .with("weight", "Bolder"),
                text(&i.title).with("spacing", "Small"),
            ],
        }),
        text(&format!(
            "{}: {}",
            headline(s.event),
            step_message(&s.entry)
        ))
        .with("weight", "Bolder"),
        facts(&[
            ("Resource", i.resource.to_string()),
            ("Criticality", criticality_str(s.criticality).to_string()),
            ("At", s.entry.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        ]),
    ];
    if let Some(a) = &s.analysis {
        let d = &a.diagnosis;
        body.push(section("Diagnosis"));
        body.push(text(&d.summary));
        body.push(facts(&[
            ("Category", d.category.to_string()),
            ("Confidence", percent(d.confidence)),
            ("Root cause", d.root_cause.to_string()),
            ("Analyzer", a.analyzer.clone()),
            ("Seen before", s.history.clone().unwrap_or_default()),
        ]));
    }
    if let Some(d) = &s.decision {
        body.push(section("Plan and decision"));
        body.push(facts(&[
            ("Plan", d.plan.action.to_string()),
            ("Why", d.plan.rationale.clone()),
            ("Plan confidence", percent(d.plan.confidence)),
            ("Decision", verdict_str(&d.decision.verdict)),
            ("Rule", d.decision.rule.clone()),
            ("Risk", risk_str(d.decision.risk).to_string()),
        ]));
    }
    if let Some(a) = &s.approval {
        let mut f = vec![(
            "Approval",
            serde_json::to_value(a.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        )];
        match &a.decided_by {
            Some(by) => f.push(("Answered by", by.clone())),
            None => f.push((
                "Expires",
                a.deadline.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            )),
        }
        if let Some(r) = &a.reason {
            f.push(("Reason", r.clone()));
        }
        body.push(facts(&f));
    }
    if let Some(a) = s.actions.last() {
        body.push(section("Action"));
        let mut f = vec![
            ("Action", a.action.to_string()),
            ("Status", a.status.to_string()),
        ];
        if let Some(summary) = a
            .outcome
            .as_ref()
            .and_then(|o| o.get("summary"))
            .and_then(Value::as_str)
        {
            f.push(("Outcome", summary.to_string()));
        }
        if let Some(e) = &a.error {
            f.push(("Error", e.clone()));
        }
        body.push(facts(&f));
    }
    if let Some(v) = &s.verification {
        let status = v
            .data
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or(&v.message);
        body.push(facts(&[(
            "Verification",
            format!("{status} ({})", v.at.format("%H:%M:%S UTC")),
        )]));
    }
    if let Some(lines) = s.dry_run.as_ref().and_then(dry_run_lines) {
        body.push(section("Dry run"));
        body.push(json!({
            "type": "Container",
            "style": "emphasis",
            "items": lines
                .iter()
                .map(|l| text(l).with("fontType", "Monospace").with("spacing", "None"))
                .collect::<Vec<_>>(),
        }));
    }
    let actions: Vec<Value> = s
        .link
        .iter()
        .map(|url| json!({"type": "Action.OpenUrl", "title": button_title(s), "url": url}))
        .collect();
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": actions,
    })
}

/// The dry run as lines of text, cut to a card's size; `None` when there is none.
fn dry_run_lines(report: &Value) -> Option<Vec<String>> {
    if report.is_null() {
        return None;
    }
    let full = match serde_json::from_value::<crate::act::DryRunReport>(report.clone()) {
        Ok(r) => r.to_string(),
        Err(_) => serde_json::to_string_pretty(report).unwrap_or_default(),
    };
    let all: Vec<&str> = full.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut lines: Vec<String> = all
        .iter()
        .take(DRY_RUN_LINES)
        .map(|l| one_line(l, DRY_RUN_LINE_CHARS))
        .collect();
    if all.len() > DRY_RUN_LINES {
        lines.push(format!("… {} more lines", all.len() - DRY_RUN_LINES));
    }
    (!lines.is_empty()).then_some(lines)
}

/// A wrapping TextBlock of one line of `s`, cut to a field's size.
fn text(s: &str) -> Value {
    json!({"type": "TextBlock", "text": one_line(s, FIELD_CHARS), "wrap": true})
}

fn section(title: &str) -> Value {
    text(title)
        .with("weight", "Bolder")
        .with("separator", true)
        .with("spacing", "Medium")
}

fn facts(pairs: &[(&str, String)]) -> Value {
    json!({
        "type": "FactSet",
        "facts": pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| json!({"title": k, "value": one_line(v, FIELD_CHARS)}))
            .collect::<Vec<_>>(),
    })
}

/// Adds a key to a JSON object in a builder's way.
trait With {
    fn with(self, key: &str, value: impl Into<Value>) -> Self;
}

impl With for Value {
    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self[key] = value.into();
        self
    }
}

fn style(state: State) -> &'static str {
    match state {
        State::Escalated | State::Rejected | State::Expired | State::Unresolved => "attention",
        State::AwaitingApproval => "warning",
        State::Resolved | State::Closed => "good",
        _ => "emphasis",
    }
}

/// The state as a reader says it ("awaiting approval").
pub fn state_label(state: State) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

fn verdict_str(v: &nightshift_core::Verdict) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

fn criticality_str(c: Criticality) -> &'static str {
    match c {
        Criticality::Low => "low",
        Criticality::Medium => "medium",
        Criticality::High => "high",
    }
}

fn percent(x: f64) -> String {
    format!("{:.0} %", (x * 100.0).clamp(0.0, 100.0))
}

/// Posts cards to one workflow.
pub struct Teams {
    name: String,
    url: String,
    client: reqwest::Client,
}

impl fmt::Debug for Teams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Teams")
            .field("name", &self.name)
            .field("url", &"<secret>")
            .finish()
    }
}

impl Teams {
    /// A destination named `name` posting to the workflow at `url` (secret) through `client`.
    pub fn new(name: impl Into<String>, url: impl Into<String>, client: reqwest::Client) -> Self {
        Teams {
            name: name.into(),
            url: url.into(),
            client,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) async fn deliver(
        &self,
        s: &Subject,
        _kept: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        // The URL carries the workflow's signature: never in an error.
        super::post_json(&self.client, &self.url, &message(s), &[], true, |t| {
            self.redact(t)
        })
        .await
    }

    /// `text` without the workflow's URL or its signature.
    fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&self.url, "<workflow url>");
        if let Ok(url) = reqwest::Url::parse(&self.url) {
            for (k, v) in url.query_pairs() {
                if k == "sig" && !v.is_empty() {
                    out = out.replace(v.as_ref(), "<signature>");
                }
            }
        }
        out
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use axum::http::StatusCode;
    use nightshift_core::{
        Action, Analysis, Category, Decision, Diagnosis, Incident, IncidentId, Plan, ResourceRef,
        Risk, Verdict,
    };
    use nightshift_store::{Approval, ApprovalId, ApprovalStatus, DecisionId, DecisionRecord};

    /// A step of an incident on `deployment/shop/api` with a diagnosis, a plan that needs
    /// approval, and a console link.
    pub(crate) fn subject(event: NotifyEvent, state: State) -> Subject {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let resource = ResourceRef::deployment("shop", "api");
        let plan = Plan {
            action: Action::RolloutRestart {
                target: resource.clone(),
            },
            confidence: 0.9,
            rationale: "a deadlock; a restart clears it".into(),
            expected_outcome: "every replica ready".into(),
        };
        Subject {
            seq: 7,
            event,
            entry: TimelineEntry {
                at,
                kind: TimelineKind::Transition,
                message: "a step".into(),
                data: json!({}),
            },
            incident: Incident {
                id: IncidentId("inc-000001".into()),
                state,
                resource: resource.clone(),
                title: "api replicas not ready".into(),
                category: Some(Category::Hang),
                root_cause: Some(resource.clone()),
                attempts: 0,
                opened_at: at,
                updated_at: at,
                resolved_at: None,
            },
            criticality: Criticality::High,
            analysis: Some(Analysis {
                diagnosis: Diagnosis {
                    category: Category::Hang,
                    summary: "one replica is deadlocked".into(),
                    evidence: vec![],
                    root_cause: resource.clone(),
                    confidence: 0.87,
                },
                plans: vec![plan.clone()],
                analyzer: "rules".into(),
                notes: vec![],
            }),
            evidence: vec![],
            decision: Some(DecisionRecord {
                id: DecisionId(1),
                incident: IncidentId("inc-000001".into()),
                attempt: 0,
                plan,
                decision: Decision {
                    verdict: Verdict::NeedsApproval,
                    risk: Risk::High,
                    rule: "risk: high → approval".into(),
                    factors: vec![],
                },
                decided_at: at,
            }),
            approval: Some(Approval {
                id: ApprovalId(1),
                incident: IncidentId("inc-000001".into()),
                decision: Some(DecisionId(1)),
                status: ApprovalStatus::Pending,
                requested_at: at,
                deadline: at + chrono::Duration::minutes(15),
                decided_by: None,
                reason: None,
                decided_at: None,
                votes: vec![],
            }),
            actions: vec![],
            dry_run: None,
            verification: None,
            history: None,
            link: Some("https://ns.example/incidents/inc-000001".into()),
        }
    }

    fn button(card: &Value) -> (&str, &str) {
        let a = &card["actions"][0];
        assert_eq!(a["type"], "Action.OpenUrl");
        (a["title"].as_str().unwrap(), a["url"].as_str().unwrap())
    }

    #[test]
    fn a_message_is_one_adaptive_card_with_the_incident_as_it_stands() {
        let s = subject(NotifyEvent::ApprovalNeeded, State::AwaitingApproval);
        let m = message(&s);
        assert_eq!(m["type"], "message");
        let attachments = m["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0]["contentType"], ADAPTIVE_CARD);
        assert!(attachments[0]["contentUrl"].is_null());
        let card = &attachments[0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let text = card.to_string();
        for shown in [
            "inc-000001 · awaiting approval",
            "Approval needed",
            "one replica is deadlocked",
            "87 %",
            "rollout-restart",
            "risk: high → approval",
            "\"high\"",
        ] {
            assert!(text.contains(shown), "{shown} missing from {text}");
        }
        assert_eq!(
            button(card),
            (
                "Review and approve",
                "https://ns.example/incidents/inc-000001"
            )
        );
        let after = subject(NotifyEvent::Approved, State::Approved);
        assert_eq!(button(&card_of(&after)).0, "Open incident");
    }

    #[test]
    fn a_transition_says_why_without_the_states() {
        let mut s = subject(NotifyEvent::Escalated, State::Escalated);
        s.entry.message = "Expired -> Escalated: nobody approved in time: see the policy".into();
        assert_eq!(
            step_message(&s.entry),
            "nobody approved in time: see the policy"
        );
        s.entry.kind = TimelineKind::Note;
        assert_eq!(step_message(&s.entry), s.entry.message);
    }

    fn card_of(s: &Subject) -> Value {
        card(s)
    }

    #[test]
    fn a_long_dry_run_is_cut_to_a_card_size_in_monospace() {
        let mut s = subject(NotifyEvent::ActionTaken, State::Verifying);
        let changes: Vec<Value> = (0..500)
            .map(|n| json!({"object": "deployment/shop/api", "field": format!("spec.f{n}"), "from": "a".repeat(500), "to": "b"}))
            .collect();
        s.dry_run = Some(json!({
            "action": "rollout-restart", "target": null, "summary": "restart deployment shop/api",
            "changes": changes, "pods": [],
        }));
        s.incident.title = "t".repeat(10_000);
        let card = card(&s);
        let size = card.to_string().len();
        assert!(size < 20_000, "a card of {size} bytes");
        let text = card.to_string();
        assert!(text.contains("Monospace") && text.contains("restart deployment shop/api"));
        assert!(text.contains("more lines"), "the cut is said");
        // No link configured: no button.
        s.link = None;
        assert!(card_of(&s)["actions"].as_array().unwrap().is_empty());
    }

    /// A workflow that answers every post with `status` (and `retry-after`, if given),
    /// echoing the request line in its body.
    async fn workflow(status: StatusCode, retry_after: Option<&'static str>) -> String {
        let app = axum::Router::new().route(
            "/workflows/w1/triggers/manual/paths/invoke",
            axum::routing::post(move |uri: axum::http::Uri| async move {
                let mut r = axum::response::IntoResponse::into_response((
                    status,
                    format!("bad request to {uri}"),
                ));
                if let Some(v) = retry_after {
                    r.headers_mut().insert("retry-after", v.parse().unwrap());
                }
                r
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/workflows/w1/triggers/manual/paths/invoke?api-version=1&sig=S3CRETSIG",
            l.local_addr().unwrap()
        );
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
    async fn answers_retries_and_refusals_and_the_signature_stays_secret() {
        let s = subject(NotifyEvent::Planned, State::Planned);
        for ok in [StatusCode::ACCEPTED, StatusCode::OK] {
            let t = Teams::new("teams", workflow(ok, None).await, client());
            assert_eq!(t.deliver(&s, None).await.unwrap(), Delivered::default());
        }
        let t = Teams::new(
            "teams",
            workflow(StatusCode::TOO_MANY_REQUESTS, Some("7")).await,
            client(),
        );
        let e = t.deliver(&s, None).await.unwrap_err();
        assert!(
            e.retry && e.retry_after == Some(std::time::Duration::from_secs(7)),
            "{e:?}"
        );
        let t = Teams::new(
            "teams",
            workflow(StatusCode::INTERNAL_SERVER_ERROR, None).await,
            client(),
        );
        assert!(t.deliver(&s, None).await.unwrap_err().retry);
        let t = Teams::new(
            "teams",
            workflow(StatusCode::BAD_REQUEST, None).await,
            client(),
        );
        let e = t.deliver(&s, None).await.unwrap_err();
        assert!(!e.retry, "{e}");
        assert!(!e.message.contains("S3CRETSIG"), "{e}");
        // Nobody listening: a transport error, without the URL.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = format!("http://{}/x?sig=S3CRETSIG", l.local_addr().unwrap());
        drop(l);
        let e = Teams::new("teams", gone.clone(), client())
            .deliver(&s, None)
            .await
            .unwrap_err();
        assert!(e.retry, "{e}");
        assert!(!e.message.contains("S3CRETSIG"), "{e}");
        assert!(!format!("{:?}", Teams::new("t", gone, client())).contains("S3CRETSIG"));
    }
}
