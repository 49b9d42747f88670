//! Which steps of an incident people hear about.
//!
//! A notification is never a separate fact: it is a timeline entry that people are told of.
//! [`event_of`] says which entries those are, so the record can put each one in the outbox in
//! the same transaction that writes the entry, and delivery can name what happened.

use serde::{Deserialize, Serialize};

use crate::incident::{State, TimelineEntry, TimelineKind};

/// What happened, as a notification names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// An incident opened.
    IncidentOpened,
    /// A diagnosis and a plan, decided by the policy.
    Planned,
    /// A plan waits for a human.
    ApprovalNeeded,
    /// One of several required approvers approved; the plan still waits.
    ApprovalVote,
    /// A plan has waited for a human longer than the configuration allows (a page).
    ApprovalWaiting,
    /// A human approved.
    Approved,
    /// A human rejected.
    Rejected,
    /// Nobody answered in time.
    Expired,
    /// An action ran (or failed).
    ActionTaken,
    /// Verification measured the outcome.
    Verified,
    /// The service recovered.
    Resolved,
    /// Handed to humans.
    Escalated,
    /// Observe mode: the plan was recorded, nothing done.
    Observed,
    /// Done.
    Closed,
    /// A row of the trust ladder was promoted or demoted.
    TrustChanged,
}

impl NotifyEvent {
    /// Every event, in the order of an incident's life.
    pub const ALL: [NotifyEvent; 15] = [
        NotifyEvent::IncidentOpened,
        NotifyEvent::Planned,
        NotifyEvent::ApprovalNeeded,
        NotifyEvent::ApprovalVote,
        NotifyEvent::ApprovalWaiting,
        NotifyEvent::Approved,
        NotifyEvent::Rejected,
        NotifyEvent::Expired,
        NotifyEvent::ActionTaken,
        NotifyEvent::Verified,
        NotifyEvent::Resolved,
        NotifyEvent::Escalated,
        NotifyEvent::Observed,
        NotifyEvent::Closed,
        NotifyEvent::TrustChanged,
    ];

    /// The name as written in configuration and payloads (`incident_opened`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::IncidentOpened => "incident_opened",
            NotifyEvent::Planned => "planned",
            NotifyEvent::ApprovalNeeded => "approval_needed",
            NotifyEvent::ApprovalVote => "approval_vote",
            NotifyEvent::ApprovalWaiting => "approval_waiting",
            NotifyEvent::Approved => "approved",
            NotifyEvent::Rejected => "rejected",
            NotifyEvent::Expired => "expired",
            NotifyEvent::ActionTaken => "action_taken",
            NotifyEvent::Verified => "verified",
            NotifyEvent::Resolved => "resolved",
            NotifyEvent::Escalated => "escalated",
            NotifyEvent::Observed => "observed",
            NotifyEvent::Closed => "closed",
            NotifyEvent::TrustChanged => "trust_changed",
        }
    }

    /// The event named `s`.
    pub fn parse(s: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `data` key of a note that says a row of the trust ladder changed mode.
pub const TRUST_CHANGE_KEY: &str = "trust_change";

/// The `data` key of a note that says a plan has waited too long for approval.
pub const APPROVAL_WAITING_KEY: &str = "approval_waiting";

/// The event a timeline entry is, if people hear of it.
pub fn event_of(entry: &TimelineEntry) -> Option<NotifyEvent> {
    let data = &entry.data;
    match entry.kind {
        TimelineKind::Transition => {
            let to: State = serde_json::from_value(data.get("to")?.clone()).ok()?;
            Some(match to {
                State::Open => NotifyEvent::IncidentOpened,
                State::Planned => NotifyEvent::Planned,
                State::AwaitingApproval => NotifyEvent::ApprovalNeeded,
                State::Approved => NotifyEvent::Approved,
                State::Rejected => NotifyEvent::Rejected,
                State::Expired => NotifyEvent::Expired,
                State::Resolved => NotifyEvent::Resolved,
                State::Escalated => NotifyEvent::Escalated,
                State::Observed => NotifyEvent::Observed,
                State::Closed => NotifyEvent::Closed,
                State::Collecting
                | State::Analyzing
                | State::Acting
                | State::Verifying
                | State::Unresolved => return None,
            })
        }
        // A vote that leaves the plan waiting for more approvers; the final answer is the
        // transition.
        TimelineKind::Approval if data.get("votes").is_some() => Some(NotifyEvent::ApprovalVote),
        // The engine's line about an action, not the record's bookkeeping of the intent.
        TimelineKind::Action if data.get("intent_id").is_none() => Some(NotifyEvent::ActionTaken),
        TimelineKind::Verification => Some(NotifyEvent::Verified),
        TimelineKind::Note if data.get(APPROVAL_WAITING_KEY).is_some() => {
            Some(NotifyEvent::ApprovalWaiting)
        }
        TimelineKind::Note if data.get(TRUST_CHANGE_KEY).is_some() => {
            Some(NotifyEvent::TrustChanged)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn e(kind: TimelineKind, data: serde_json::Value) -> TimelineEntry {
        TimelineEntry {
            at: chrono::DateTime::UNIX_EPOCH,
            kind,
            message: String::new(),
            data,
        }
    }

    #[test]
    fn transitions_that_people_hear_of() {
        let t = |to: &str| event_of(&e(TimelineKind::Transition, json!({"to": to})));
        assert_eq!(t("open"), Some(NotifyEvent::IncidentOpened));
        assert_eq!(t("awaiting_approval"), Some(NotifyEvent::ApprovalNeeded));
        assert_eq!(t("escalated"), Some(NotifyEvent::Escalated));
        assert_eq!(t("closed"), Some(NotifyEvent::Closed));
        assert_eq!(t("collecting"), None);
        assert_eq!(t("verifying"), None);
        assert_eq!(t("NoSuchState"), None);
        assert_eq!(event_of(&e(TimelineKind::Transition, json!({}))), None);
    }

    #[test]
    fn other_entries() {
        assert_eq!(
            event_of(&e(TimelineKind::Action, json!({"outcome": {}}))),
            Some(NotifyEvent::ActionTaken)
        );
        assert_eq!(
            event_of(&e(TimelineKind::Action, json!({"intent_id": 3}))),
            None
        );
        assert_eq!(
            event_of(&e(
                TimelineKind::Approval,
                json!({"votes": 1, "required": 2})
            )),
            Some(NotifyEvent::ApprovalVote)
        );
        assert_eq!(
            event_of(&e(TimelineKind::Approval, json!({"approval_id": 1}))),
            None
        );
        assert_eq!(
            event_of(&e(TimelineKind::Note, json!({APPROVAL_WAITING_KEY: 600}))),
            Some(NotifyEvent::ApprovalWaiting)
        );
        assert_eq!(event_of(&e(TimelineKind::Note, json!({}))), None);
        assert_eq!(event_of(&e(TimelineKind::Signal, json!({}))), None);
    }

    #[test]
    fn names_round_trip() {
        for ev in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::parse(ev.as_str()), Some(ev));
            assert_eq!(
                serde_json::to_value(ev).unwrap(),
                json!(ev.as_str()),
                "{ev:?}"
            );
        }
        assert_eq!(NotifyEvent::parse("opened"), None);
    }
}
