//! What the pages show: the records of the store turned into plain strings for the templates,
//! and the templates themselves.

use askama::Template;
use chrono::{DateTime, Utc};
use nightshift_core::evidence::EvidenceData;
use nightshift_core::{Incident, State, TimelineEntry, TimelineKind};
use nightshift_store::{
    ActionRecord, AnalysisRecord, Approval, DecisionRecord, EvidenceRound, NoticeRecord,
};

use super::session::Flash;

/// The header every page carries: who is signed in, and the token of the sign-out form.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The identity's name (`None` on the sign-in page).
    pub who: Option<String>,
    /// Its role.
    pub role: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage {
    /// Header.
    pub chrome: Chrome,
    /// The double-submitted token of the form.
    pub csrf: String,
    /// Where to go after signing in.
    pub next: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The identity provider's name and the link that starts signing in there, when
    /// `console.oidc` is configured.
    pub oidc: Option<(String, String)>,
}

/// A page that reports a refusal or a failure.
#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    /// Header.
    pub chrome: Chrome,
    /// The status, e.g. `403 Forbidden`.
    pub title: String,
    /// The sentence.
    pub message: String,
}

/// One row of the incident list.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    /// Id.
    pub id: String,
    /// State.
    pub state: String,
    /// Whether it waits for an approval.
    pub awaiting: bool,
    /// Namespace, or `-`.
    pub namespace: String,
    /// Resource.
    pub resource: String,
    /// Title.
    pub title: String,
    /// Category, or `-`.
    pub category: String,
    /// When it was opened.
    pub opened: String,
    /// How long ago.
    pub age: String,
    /// Time from opening to resolution, or `-`.
    pub ttm: String,
}

/// The incident list.
#[derive(Template)]
#[template(path = "console/incidents.html")]
pub struct IncidentsPage {
    /// Header.
    pub chrome: Chrome,
    /// The rows of this page.
    pub rows: Vec<IncidentRow>,
    /// Incidents matching the filters.
    pub matching: usize,
    /// The states offered in the filter.
    pub states: Vec<&'static str>,
    /// The namespaces offered in the filter.
    pub namespaces: Vec<String>,
    /// The state filter (`""`: any).
    pub state: String,
    /// The namespace filter (`""`: any).
    pub namespace: String,
    /// The search text.
    pub q: String,
    /// The page shown, from 1.
    pub page: usize,
    /// Pages in all.
    pub pages: usize,
    /// The previous page's link.
    pub prev: Option<String>,
    /// The next page's link.
    pub next: Option<String>,
}

/// A timeline entry.
#[derive(Debug, Clone)]
pub struct EntryView {
    /// When.
    pub at: String,
    /// Kind.
    pub kind: String,
    /// Message.
    pub message: String,
}

/// An evidence item a diagnosis cites.
#[derive(Debug, Clone)]
pub struct EvidenceView {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Resource.
    pub resource: String,
    /// Summary.
    pub summary: String,
    /// Log lines, when it is a log.
    pub logs: Option<String>,
}

/// The latest diagnosis.
#[derive(Debug, Clone)]
pub struct DiagnosisView {
    /// Category.
    pub category: String,
    /// Confidence, in percent.
    pub confidence: String,
    /// Root cause.
    pub root_cause: String,
    /// Summary.
    pub summary: String,
    /// Which analyzer.
    pub analyzer: String,
    /// Evidence cited and found in the latest round.
    pub evidence: Vec<EvidenceView>,
    /// Ids cited but not in the latest round.
    pub missing: Vec<String>,
    /// Plans, best first.
    pub plans: Vec<PlanView>,
}

/// A plan.
#[derive(Debug, Clone)]
pub struct PlanView {
    /// Action.
    pub action: String,
    /// Confidence, in percent.
    pub confidence: String,
    /// Why.
    pub rationale: String,
    /// What should follow.
    pub expected: String,
}

/// The policy's latest decision.
#[derive(Debug, Clone)]
pub struct DecisionView {
    /// The plan's action.
    pub action: String,
    /// Verdict.
    pub verdict: String,
    /// Rule.
    pub rule: String,
    /// Risk.
    pub risk: String,
    /// Factors.
    pub factors: Vec<String>,
}

/// An action.
#[derive(Debug, Clone)]
pub struct ActionView {
    /// Attempt.
    pub attempt: u32,
    /// Action.
    pub action: String,
    /// Status.
    pub status: String,
    /// When intended.
    pub intended: String,
    /// When finished, or `-`.
    pub finished: String,
    /// Outcome or error, in a sentence.
    pub outcome: String,
    /// The whole recorded outcome, for a `<details>`.
    pub detail: Option<String>,
}

/// A vote.
#[derive(Debug, Clone)]
pub struct VoteView {
    /// Who.
    pub by: String,
    /// Verdict.
    pub verdict: String,
    /// Reason, or `-`.
    pub reason: String,
    /// When.
    pub at: String,
}

/// An approval request.
#[derive(Debug, Clone)]
pub struct ApprovalView {
    /// Status.
    pub status: String,
    /// Requested.
    pub requested: String,
    /// Deadline.
    pub deadline: String,
    /// Votes.
    pub votes: Vec<VoteView>,
}

/// A notification.
#[derive(Debug, Clone)]
pub struct NoticeView {
    /// Destination.
    pub destination: String,
    /// Event.
    pub event: String,
    /// Status.
    pub status: String,
    /// Tries.
    pub attempts: u32,
    /// Last error, or `-`.
    pub error: String,
}

/// One incident.
#[derive(Template)]
#[template(path = "console/incident.html")]
pub struct IncidentPage {
    /// Header.
    pub chrome: Chrome,
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// State.
    pub state: String,
    /// Resource.
    pub resource: String,
    /// Opened.
    pub opened: String,
    /// Attempts.
    pub attempts: u32,
    /// Shown once: what the last answer did.
    pub flash: Option<Flash>,
    /// Whether the approval form is shown.
    pub can_approve: bool,
    /// Why it is not, when the incident waits.
    pub approve_note: Option<String>,
    /// Timeline.
    pub timeline: Vec<EntryView>,
    /// The latest diagnosis.
    pub diagnosis: Option<DiagnosisView>,
    /// The latest decision.
    pub decision: Option<DecisionView>,
    /// The latest dry run's report.
    pub dry_run: Option<String>,
    /// Actions.
    pub actions: Vec<ActionView>,
    /// Verification entries.
    pub verifications: Vec<EntryView>,
    /// Approvals.
    pub approvals: Vec<ApprovalView>,
    /// Notifications.
    pub notices: Vec<NoticeView>,
}

/// A value's name as the API spells it (`awaiting_approval`, `high`, ...).
pub fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// A time as the pages show it.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration, coarsely: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// A row of the list.
pub fn row(i: &Incident, now: DateTime<Utc>) -> IncidentRow {
    IncidentRow {
        id: i.id.0.clone(),
        state: label(&i.state),
        awaiting: i.state == State::AwaitingApproval,
        namespace: i.resource.namespace().unwrap_or("-").to_string(),
        resource: i.resource.to_string(),
        title: i.title.clone(),
        category: i.category.map_or("-".into(), |c| c.to_string()),
        opened: time(i.opened_at),
        age: span((now - i.opened_at).num_seconds()),
        ttm: i
            .resolved_at
            .map_or("-".into(), |r| span((r - i.opened_at).num_seconds())),
    }
}

fn entry(e: &TimelineEntry) -> EntryView {
    EntryView {
        at: time(e.at),
        kind: label(&e.kind),
        message: e.message.clone(),
    }
}

fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Everything the store holds about an incident.
pub struct Record<'a> {
    /// The incident.
    pub incident: &'a Incident,
    /// Its timeline.
    pub timeline: &'a [TimelineEntry],
    /// Its analyses.
    pub analyses: &'a [AnalysisRecord],
    /// The latest evidence round.
    pub evidence: Option<&'a EvidenceRound>,
    /// Decisions.
    pub decisions: &'a [DecisionRecord],
    /// Actions.
    pub actions: &'a [ActionRecord],
    /// Approvals.
    pub approvals: &'a [Approval],
    /// Notifications.
    pub notices: &'a [NoticeRecord],
}

/// The incident page of `r`; the approval part is filled in by the caller.
pub fn incident_page(r: &Record<'_>, chrome: Chrome) -> IncidentPage {
    let i = r.incident;
    let diagnosis = r.analyses.last().map(|a| {
        let d = &a.analysis.diagnosis;
        let mut evidence = vec![];
        let mut missing = vec![];
        for id in &d.evidence {
            match r.evidence.and_then(|round| round.evidence.get(id)) {
                Some(item) => evidence.push(EvidenceView {
                    id: id.0.clone(),
                    kind: label(&item.kind),
                    resource: item.resource.to_string(),
                    summary: item.summary.clone(),
                    logs: match &item.data {
                        EvidenceData::Logs { lines, .. } => Some(lines.join("\n")),
                        _ => None,
                    },
                }),
                None => missing.push(id.0.clone()),
            }
        }
        DiagnosisView {
            category: d.category.to_string(),
            confidence: percent(d.confidence),
            root_cause: d.root_cause.to_string(),
            summary: d.summary.clone(),
            analyzer: a.analysis.analyzer.clone(),
            evidence,
            missing,
            plans: a
                .analysis
                .plans
                .iter()
                .map(|p| PlanView {
                    action: p.action.to_string(),
                    confidence: percent(p.confidence),
                    rationale: p.rationale.clone(),
                    expected: p.expected_outcome.clone(),
                })
                .collect(),
        }
    });
    let decision = r.decisions.last().map(|d| DecisionView {
        action: d.plan.action.to_string(),
        verdict: label(&d.decision.verdict),
        rule: d.decision.rule.clone(),
        risk: label(&d.decision.risk),
        factors: d.decision.factors.clone(),
    });
    let dry_run = r
        .timeline
        .iter()
        .rev()
        .find(|e| e.kind == TimelineKind::DryRun)
        .map(|e| match &e.data["report"] {
            serde_json::Value::Null => e.message.clone(),
            serde_json::Value::String(s) => s.clone(),
            report => serde_json::to_string_pretty(report).unwrap_or_default(),
        });
    IncidentPage {
        chrome,
        id: i.id.0.clone(),
        title: i.title.clone(),
        state: label(&i.state),
        resource: i.resource.to_string(),
        opened: time(i.opened_at),
        attempts: i.attempts,
        flash: None,
        can_approve: false,
        approve_note: None,
        timeline: r.timeline.iter().map(entry).collect(),
        diagnosis,
        decision,
        dry_run,
        actions: r
            .actions
            .iter()
            .map(|a| ActionView {
                attempt: a.attempt,
                action: a.action.to_string(),
                status: label(&a.status),
                intended: time(a.intended_at),
                finished: a.finished_at.map_or("-".into(), time),
                outcome: match (&a.error, &a.outcome) {
                    (Some(e), _) => e.clone(),
                    (None, Some(o)) => match (o["status"].as_str(), o["summary"].as_str()) {
                        (Some(status), Some(summary)) => format!("{status}: {summary}"),
                        (None, Some(summary)) => summary.to_string(),
                        _ => o.to_string(),
                    },
                    (None, None) => "-".into(),
                },
                detail: a
                    .outcome
                    .as_ref()
                    .and_then(|o| serde_json::to_string_pretty(o).ok()),
            })
            .collect(),
        verifications: r
            .timeline
            .iter()
            .filter(|e| e.kind == TimelineKind::Verification)
            .map(entry)
            .collect(),
        approvals: r
            .approvals
            .iter()
            .map(|a| ApprovalView {
                status: label(&a.status),
                requested: time(a.requested_at),
                deadline: time(a.deadline),
                votes: a
                    .votes
                    .iter()
                    .map(|v| VoteView {
                        by: v.by.clone(),
                        verdict: label(&v.verdict),
                        reason: v.reason.clone().unwrap_or_else(|| "-".into()),
                        at: time(v.at),
                    })
                    .collect(),
            })
            .collect(),
        notices: r
            .notices
            .iter()
            .map(|n| NoticeView {
                destination: n.destination.clone(),
                event: n.event.to_string(),
                status: label(&n.status),
                attempts: n.attempts,
                error: n.error.clone().unwrap_or_else(|| "-".into()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_record_is_escaped() {
        let page = ErrorPage {
            chrome: Chrome {
                who: Some("<b>eve</b>".into()),
                role: "viewer".into(),
                csrf: "\"><script>".into(),
            },
            title: "404 Not Found".into(),
            message: "incident <script>alert(1)</script> not found".into(),
        }
        .render()
        .unwrap();
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<b>eve"), "{page}");
        assert!(page.contains("&#60;script&#62;alert(1)"), "{page}");
    }

    #[test]
    fn spans_are_coarse() {
        assert_eq!(span(-3), "0s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(3 * 3600 + 5 * 60), "3h 5m");
        assert_eq!(span(2 * 86400 + 4 * 3600), "2d 4h");
    }
}
