//! Incidents and their state machine. The timeline is the audit log: every transition is an
//! appended, timestamped entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Category;
use crate::resource::ResourceRef;

/// Incident id (`inc-000042`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IncidentId(pub String);

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an incident is in the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Just opened.
    Open,
    /// Gathering evidence.
    Collecting,
    /// An analyzer is working.
    Analyzing,
    /// A plan is chosen and decided.
    Planned,
    /// Waiting for a human.
    AwaitingApproval,
    /// A human approved.
    Approved,
    /// A human rejected.
    Rejected,
    /// Nobody answered in time.
    Expired,
    /// The action is being carried out.
    Acting,
    /// Waiting for recovery.
    Verifying,
    /// Recovered.
    Resolved,
    /// Did not recover; goes back to analyzing.
    Unresolved,
    /// Handed to humans.
    Escalated,
    /// Observe mode: recorded, nothing done.
    Observed,
    /// Done.
    Closed,
}

impl State {
    /// Whether the state machine allows `self → to`.
    pub fn can_go_to(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (Open, Collecting)
                | (Collecting, Analyzing)
                | (Analyzing, Planned)
                | (Analyzing, Escalated)
                | (Analyzing, Observed)
                | (Planned, AwaitingApproval)
                | (Planned, Acting)
                | (Planned, Escalated)
                | (Planned, Observed)
                | (Planned, Resolved)
                | (AwaitingApproval, Approved)
                | (AwaitingApproval, Rejected)
                | (AwaitingApproval, Expired)
                | (Approved, Acting)
                | (Rejected, Escalated)
                | (Expired, Escalated)
                | (Acting, Verifying)
                | (Acting, Escalated)
                | (Verifying, Resolved)
                | (Verifying, Unresolved)
                | (Unresolved, Analyzing)
                | (Unresolved, Escalated)
                | (Resolved, Closed)
                | (Escalated, Closed)
                | (Observed, Closed)
                | (Observed, Collecting)
                | (Escalated, Resolved)
                | (Escalated, Collecting)
        )
    }

    /// Terminal or waiting on nobody.
    pub fn is_final(self) -> bool {
        matches!(self, State::Closed)
    }
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// A state change.
    Transition,
    /// A signal joined the incident.
    Signal,
    /// Evidence was collected.
    Evidence,
    /// A diagnosis.
    Diagnosis,
    /// A plan was chosen.
    Plan,
    /// The policy decided.
    Decision,
    /// A human approved or rejected.
    Approval,
    /// The intent to act was recorded (write-ahead).
    Intent,
    /// The dry run's answer.
    DryRun,
    /// The action was carried out (or failed).
    Action,
    /// Verification result.
    Verification,
    /// A notification went out.
    Notification,
    /// Anything else worth a line.
    Note,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: TimelineKind,
    /// One line for humans.
    pub message: String,
    /// Structured details.
    pub data: serde_json::Value,
}

/// An incident: one root resource, the signals that point at it, and its story so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Id.
    pub id: IncidentId,
    /// Current state.
    pub state: State,
    /// The resource it is about (the correlated root).
    pub resource: ResourceRef,
    /// Title (first signal's summary, then the diagnosis).
    pub title: String,
    /// Latest diagnosis category, once analyzed.
    pub category: Option<Category>,
    /// Root cause resource from the latest diagnosis.
    pub root_cause: Option<ResourceRef>,
    /// Remediation attempts so far.
    pub attempts: u32,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it resolved, if it did.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("incident {id} cannot go from {from:?} to {to:?}")]
pub struct InvalidTransition {
    /// Incident.
    pub id: IncidentId,
    /// Current state.
    pub from: State,
    /// Requested state.
    pub to: State,
}

impl Incident {
    /// Moves to `to`, returning the timeline entry that records it.
    pub fn transition(
        &mut self,
        to: State,
        at: DateTime<Utc>,
        why: &str,
    ) -> Result<TimelineEntry, InvalidTransition> {
        if !self.state.can_go_to(to) {
            return Err(InvalidTransition {
                id: self.id.clone(),
                from: self.state,
                to,
            });
        }
        let from = self.state;
        self.state = to;
        self.updated_at = at;
        if to == State::Resolved {
            self.resolved_at = Some(at);
        }
        Ok(TimelineEntry {
            at,
            kind: TimelineKind::Transition,
            message: format!("{from:?} -> {to:?}: {why}"),
            data: serde_json::json!({"from": from, "to": to}),
        })
    }
}
