//! The incident page: the record of one incident turned into plain strings for its template,
//! and the time axis drawn from its timeline.

use askama::Template;
use nightshift_core::evidence::EvidenceData;
use nightshift_core::{Incident, TimelineEntry, TimelineKind};
use nightshift_store::{
    ActionRecord, AnalysisRecord, Approval, DecisionRecord, EvidenceRound, NoticeRecord,
};

use super::axis::{Axis, axis};
use super::recorded::{JobView, NoteView, SeenBeforeView, jobs, notes, seen_before};
use super::session::Flash;
use super::view::{Chrome, label, span, time};
use crate::act::DryRunReport;

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

/// An item of the evidence bundle.
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
    /// Log lines, when it is a log, as the analyzers saw them.
    pub logs: Option<String>,
    /// The other details, when they say more than the summary.
    pub detail: Option<String>,
    /// Whether the latest diagnosis cites it.
    pub cited: bool,
    /// The element id of its folded parts.
    pub anchor: String,
}

/// The evidence bundle of the latest collection.
#[derive(Debug, Clone)]
pub struct BundleView {
    /// Collection round.
    pub round: u32,
    /// When it was collected.
    pub collected: String,
    /// Bytes the items take.
    pub bytes: usize,
    /// Items left out for the budget.
    pub truncated: usize,
    /// Items, most relevant first.
    pub items: Vec<EvidenceView>,
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
    /// When, and for which attempt.
    pub when: String,
    /// Evidence cited and found in the latest round: id, kind, summary.
    pub cited: Vec<(String, String, String)>,
    /// Ids cited but not in the latest round.
    pub missing: Vec<String>,
    /// The analyzer's notes (fallbacks, disagreements, a model's usage).
    pub notes: Vec<String>,
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

/// A field a dry run says would change.
#[derive(Debug, Clone)]
pub struct ChangeView {
    /// The object.
    pub object: String,
    /// The field.
    pub field: String,
    /// The value before, or `(absent)`.
    pub from: String,
    /// The value after, or `(removed)`.
    pub to: String,
}

/// The latest dry run.
#[derive(Debug, Clone)]
pub struct DryRunView {
    /// When.
    pub at: String,
    /// Its line.
    pub summary: String,
    /// The fields that would change.
    pub changes: Vec<ChangeView>,
    /// The pods it would disrupt.
    pub pods: Vec<String>,
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

/// A verification's verdict with the criteria it checked and what it measured.
#[derive(Debug, Clone)]
pub struct VerificationView {
    /// When.
    pub at: String,
    /// `recovered`, `failed`, ...
    pub status: String,
    /// Its line.
    pub message: String,
    /// What had to hold.
    pub criteria: Vec<String>,
    /// What was read.
    pub measured: Vec<String>,
    /// The windows, e.g. `stable for 120s, within 600s`.
    pub windows: Option<String>,
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
    /// Time to mitigate, when resolved.
    pub ttm: Option<String>,
    /// Attempts.
    pub attempts: u32,
    /// Shown once: what the last answer did.
    pub flash: Option<Flash>,
    /// Whether the approval form is shown.
    pub can_approve: bool,
    /// Why it is not, when the incident waits.
    pub approve_note: Option<String>,
    /// The plan waiting for the answer, with its risk: shown beside the form.
    pub waiting_plan: Option<String>,
    /// What the knowledge base said about it.
    pub seen_before: Option<SeenBeforeView>,
    /// People's notes, oldest first.
    pub notes: Vec<NoteView>,
    /// Whether the note form is shown.
    pub can_note: bool,
    /// Runbook Jobs it ran.
    pub jobs: Vec<JobView>,
    /// The time axis.
    pub axis: Axis,
    /// Timeline.
    pub timeline: Vec<EntryView>,
    /// The evidence bundle of the latest collection.
    pub bundle: Option<BundleView>,
    /// The latest diagnosis.
    pub diagnosis: Option<DiagnosisView>,
    /// The latest decision.
    pub decision: Option<DecisionView>,
    /// The latest dry run.
    pub dry_run: Option<DryRunView>,
    /// Actions.
    pub actions: Vec<ActionView>,
    /// Verifications.
    pub verifications: Vec<VerificationView>,
    /// Approvals.
    pub approvals: Vec<ApprovalView>,
    /// Notifications.
    pub notices: Vec<NoticeView>,
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

fn bundle(round: &EvidenceRound, cited: &[String]) -> BundleView {
    let items = round
        .evidence
        .items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let (logs, detail) = match &item.data {
                EvidenceData::Logs { lines, .. } => (Some(lines.join("\n")), None),
                other => (
                    None,
                    serde_json::to_value(other)
                        .ok()
                        .filter(|v| v.as_object().is_some_and(|o| o.len() > 1))
                        .and_then(|v| serde_json::to_string_pretty(&v).ok()),
                ),
            };
            EvidenceView {
                id: item.id.0.clone(),
                kind: label(&item.kind),
                resource: item.resource.to_string(),
                summary: item.summary.clone(),
                logs,
                detail,
                cited: cited.contains(&item.id.0),
                anchor: format!("ev-{n}"),
            }
        })
        .collect();
    BundleView {
        round: round.round,
        collected: time(round.collected_at),
        bytes: round.evidence.bytes,
        truncated: round.evidence.truncated,
        items,
    }
}

fn diagnosis(a: &AnalysisRecord, evidence: Option<&EvidenceRound>) -> DiagnosisView {
    let d = &a.analysis.diagnosis;
    let mut cited = vec![];
    let mut missing = vec![];
    for id in &d.evidence {
        match evidence.and_then(|round| round.evidence.get(id)) {
            Some(item) => cited.push((id.0.clone(), label(&item.kind), item.summary.clone())),
            None => missing.push(id.0.clone()),
        }
    }
    DiagnosisView {
        category: d.category.to_string(),
        confidence: percent(d.confidence),
        root_cause: d.root_cause.to_string(),
        summary: d.summary.clone(),
        analyzer: a.analysis.analyzer.clone(),
        when: format!("{}, attempt {}", time(a.analyzed_at), a.attempt),
        cited,
        missing,
        notes: a.analysis.notes.clone(),
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
}

fn dry_run(e: &TimelineEntry) -> DryRunView {
    let report = serde_json::from_value::<DryRunReport>(e.data["report"].clone()).ok();
    DryRunView {
        at: time(e.at),
        summary: e.message.clone(),
        changes: report
            .iter()
            .flat_map(|r| r.changes.iter())
            .map(|c| ChangeView {
                object: c.object.clone(),
                field: c.field.clone(),
                from: c.from.clone().unwrap_or_else(|| "(absent)".into()),
                to: c.to.clone().unwrap_or_else(|| "(removed)".into()),
            })
            .collect(),
        pods: report
            .iter()
            .flat_map(|r| r.pods.iter())
            .map(ToString::to_string)
            .collect(),
    }
}

/// A window in whole minutes when it is one, otherwise in seconds: `90s`, `2m`.
fn exact(seconds: u64) -> String {
    if seconds >= 60 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

pub(super) fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn verification(e: &TimelineEntry) -> VerificationView {
    let d = &e.data;
    VerificationView {
        at: time(e.at),
        status: d["status"].as_str().unwrap_or("-").to_string(),
        message: e.message.clone(),
        criteria: strings(&d["criteria"]),
        measured: strings(&d["measured"]),
        windows: match (d["stabilization_s"].as_u64(), d["deadline_s"].as_u64()) {
            (Some(s), Some(dl)) => Some(format!(
                "must hold for {} and recover within {}",
                exact(s),
                exact(dl)
            )),
            _ => None,
        },
    }
}

fn action(a: &ActionRecord) -> ActionView {
    ActionView {
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
    }
}

fn approval(a: &Approval) -> ApprovalView {
    ApprovalView {
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
    }
}

/// The incident page of `r`; the approval part is filled in by the caller.
pub fn incident_page(r: &Record<'_>, chrome: Chrome) -> IncidentPage {
    let i = r.incident;
    let latest = r.analyses.last();
    let cited: Vec<String> = latest
        .map(|a| {
            a.analysis
                .diagnosis
                .evidence
                .iter()
                .map(|e| e.0.clone())
                .collect()
        })
        .unwrap_or_default();
    let decision = r.decisions.last().map(|d| DecisionView {
        action: d.plan.action.to_string(),
        verdict: label(&d.decision.verdict),
        rule: d.decision.rule.clone(),
        risk: label(&d.decision.risk),
        factors: d.decision.factors.clone(),
    });
    let waiting_plan = decision
        .as_ref()
        .map(|d| format!("{} (risk {}, rule {})", d.action, d.risk, d.rule));
    IncidentPage {
        chrome,
        id: i.id.0.clone(),
        title: i.title.clone(),
        state: label(&i.state),
        resource: i.resource.to_string(),
        opened: time(i.opened_at),
        ttm: i.resolved_at.map(|t| span((t - i.opened_at).num_seconds())),
        attempts: i.attempts,
        flash: None,
        can_approve: false,
        approve_note: None,
        waiting_plan,
        seen_before: seen_before(r.timeline),
        notes: notes(r.timeline),
        can_note: false,
        jobs: jobs(r.timeline),
        axis: axis(i, r.timeline),
        timeline: r.timeline.iter().map(entry).collect(),
        bundle: r.evidence.map(|e| bundle(e, &cited)),
        diagnosis: latest.map(|a| diagnosis(a, r.evidence)),
        decision,
        dry_run: r
            .timeline
            .iter()
            .rev()
            .find(|e| e.kind == TimelineKind::DryRun)
            .map(dry_run),
        actions: r.actions.iter().map(action).collect(),
        verifications: r
            .timeline
            .iter()
            .filter(|e| e.kind == TimelineKind::Verification)
            .map(verification)
            .collect(),
        approvals: r.approvals.iter().map(approval).collect(),
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
    use crate::console::axis::tests::e;

    #[test]
    fn verification_entries_show_criteria_and_measurements() {
        let mut entry = e(10, TimelineKind::Verification, "Recovered");
        entry.data = serde_json::json!({
            "status": "recovered",
            "criteria": ["deployment/shop/web rolled out with every pod Ready"],
            "measured": ["deployment/shop/web: 3 of 3 replicas updated and available"],
            "stabilization_s": 90,
            "deadline_s": 600,
        });
        let v = verification(&entry);
        assert_eq!(v.status, "recovered");
        assert_eq!(v.criteria.len(), 1);
        assert!(v.measured[0].contains("3 of 3"));
        assert_eq!(
            v.windows.as_deref(),
            Some("must hold for 90s and recover within 10m")
        );
        // Entries written before criteria were recorded still show.
        let old = verification(&e(10, TimelineKind::Verification, "Recovered"));
        assert!(old.criteria.is_empty() && old.windows.is_none());
    }
}
