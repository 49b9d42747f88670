//! The text forms of domain enums in scalar columns: the same strings serde writes into the
//! JSON bodies, so SQL filters and JSON agree.

use nightshift_core::{ResourceRef, SignalSource, SignalStatus, State, TimelineKind};
use serde::de::DeserializeOwned;

use crate::error::StoreError;
use crate::records::{ActionStatus, ApprovalStatus, resource_key};

/// The state as stored.
pub(crate) fn state_str(state: State) -> &'static str {
    match state {
        State::Open => "open",
        State::Collecting => "collecting",
        State::Analyzing => "analyzing",
        State::Planned => "planned",
        State::AwaitingApproval => "awaiting_approval",
        State::Approved => "approved",
        State::Rejected => "rejected",
        State::Expired => "expired",
        State::Acting => "acting",
        State::Verifying => "verifying",
        State::Resolved => "resolved",
        State::Unresolved => "unresolved",
        State::Escalated => "escalated",
        State::Observed => "observed",
        State::Closed => "closed",
    }
}

/// The timeline kind as stored.
pub(crate) fn kind_str(kind: TimelineKind) -> &'static str {
    match kind {
        TimelineKind::Transition => "transition",
        TimelineKind::Signal => "signal",
        TimelineKind::Evidence => "evidence",
        TimelineKind::Diagnosis => "diagnosis",
        TimelineKind::Plan => "plan",
        TimelineKind::Decision => "decision",
        TimelineKind::Approval => "approval",
        TimelineKind::Intent => "intent",
        TimelineKind::DryRun => "dry_run",
        TimelineKind::Action => "action",
        TimelineKind::Verification => "verification",
        TimelineKind::Notification => "notification",
        TimelineKind::Note => "note",
    }
}

/// The signal source as stored.
pub(crate) fn source_str(source: SignalSource) -> &'static str {
    match source {
        SignalSource::Alertmanager => "alertmanager",
        SignalSource::Watcher => "watcher",
    }
}

/// The signal status as stored.
pub(crate) fn status_str(status: SignalStatus) -> &'static str {
    match status {
        SignalStatus::Firing => "firing",
        SignalStatus::Resolved => "resolved",
    }
}

/// The approval status as stored.
pub(crate) fn approval_str(status: ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved => "approved",
        ApprovalStatus::Rejected => "rejected",
        ApprovalStatus::Expired => "expired",
    }
}

/// Reads a stored enum back through its serde form.
pub(crate) fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| {
        StoreError::Decode {
            what: what.to_owned(),
            problem: format!("{text:?}: {e}"),
        }
    })
}

/// Parses an action status.
pub(crate) fn parse_action_status(text: &str) -> Result<ActionStatus, StoreError> {
    parse("action status", text)
}

/// Converts a stored non-negative integer (attempts, rounds, counts).
pub(crate) fn to_u32(what: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Decode {
        what: what.to_owned(),
        problem: format!("{value} is not a valid count"),
    })
}

/// The text an incident's search matches against: its title and its resource key, each
/// folded to lower case, a line apart.
pub(crate) fn search_text(title: &str, resource: &ResourceRef) -> String {
    format!(
        "{}\n{}",
        title.to_lowercase(),
        resource_key(resource).to_lowercase()
    )
}

/// A `LIKE` pattern (escape character `\`) that matches text containing `needle` (trimmed and
/// folded to lower case as [`search_text`] folds), or `None` when the needle is blank.
pub(crate) fn search_pattern(needle: &str) -> Option<String> {
    let needle = needle.trim().to_lowercase();
    if needle.is_empty() {
        return None;
    }
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_match_serde() {
        let states = [
            State::Open,
            State::Collecting,
            State::Analyzing,
            State::Planned,
            State::AwaitingApproval,
            State::Approved,
            State::Rejected,
            State::Expired,
            State::Acting,
            State::Verifying,
            State::Resolved,
            State::Unresolved,
            State::Escalated,
            State::Observed,
            State::Closed,
        ];
        for s in states {
            assert_eq!(serde_json::to_value(s).unwrap(), state_str(s));
            assert_eq!(parse::<State>("state", state_str(s)).unwrap(), s);
        }
        let kinds = [
            TimelineKind::Transition,
            TimelineKind::Signal,
            TimelineKind::Evidence,
            TimelineKind::Diagnosis,
            TimelineKind::Plan,
            TimelineKind::Decision,
            TimelineKind::Approval,
            TimelineKind::Intent,
            TimelineKind::DryRun,
            TimelineKind::Action,
            TimelineKind::Verification,
            TimelineKind::Notification,
            TimelineKind::Note,
        ];
        for k in kinds {
            assert_eq!(serde_json::to_value(k).unwrap(), kind_str(k));
        }
        for s in [SignalSource::Alertmanager, SignalSource::Watcher] {
            assert_eq!(serde_json::to_value(s).unwrap(), source_str(s));
        }
        for s in [SignalStatus::Firing, SignalStatus::Resolved] {
            assert_eq!(serde_json::to_value(s).unwrap(), status_str(s));
        }
        for s in [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Rejected,
            ApprovalStatus::Expired,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), approval_str(s));
        }
        for s in [
            ActionStatus::Intended,
            ActionStatus::Done,
            ActionStatus::Failed,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(parse_action_status(s.as_str()).unwrap(), s);
        }
    }

    #[test]
    fn search_patterns_fold_trim_and_escape() {
        assert_eq!(search_pattern("  LEDGER "), Some("%ledger%".into()));
        assert_eq!(search_pattern(" \t "), None);
        assert_eq!(search_pattern(r"50%_a\b"), Some(r"%50\%\_a\\b%".into()));
        assert_eq!(search_pattern("ÉCHEC"), Some("%échec%".into()));
        let resource = ResourceRef::deployment("shop", "Web");
        assert_eq!(
            search_text("Web Is DOWN", &resource),
            "web is down\ndeployment/shop/web"
        );
    }

    #[test]
    fn bad_stored_text_is_named() {
        let err = parse::<State>("incident state", "sleeping").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unable to decode incident state from the database: \"sleeping\""),
            "{err}"
        );
    }
}
