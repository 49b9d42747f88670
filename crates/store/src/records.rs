//! What the store hands back: domain values with the bookkeeping the record adds (ids,
//! versions, statuses, when).

use std::fmt;
use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use nightshift_core::{
    Action, ActionName, Analysis, Decision, Evidence, Incident, IncidentId, Plan, ResourceRef,
    SignalSource, State, TimelineEntry,
};

/// The key the store files a resource under: its display form (`deployment/shop/checkout`,
/// `pod/shop/checkout-7d9f-abcde`, `node/worker-2`), which, unlike `namespace/name`, tells
/// a pod from its Deployment and parses back with `ResourceRef::from_str`.
pub fn resource_key(resource: &ResourceRef) -> String {
    resource.to_string()
}

/// An incident as stored, with the version optimistic concurrency checks.
///
/// Derefs to the [`Incident`], so `stored.transition(..)` and `stored.state` work directly.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredIncident {
    /// The incident.
    pub incident: Incident,
    /// Row version: bumped by every update; an update carrying an older one is refused.
    pub version: i64,
}

impl Deref for StoredIncident {
    type Target = Incident;
    fn deref(&self) -> &Incident {
        &self.incident
    }
}

impl DerefMut for StoredIncident {
    fn deref_mut(&mut self) -> &mut Incident {
        &mut self.incident
    }
}

/// What opening an incident needs; the store allocates the id (`inc-000001`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    /// The correlated root resource.
    pub resource: ResourceRef,
    /// Title (the first signal's summary).
    pub title: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// The signal that opened it, linked in the same transaction.
    pub signal: Option<SignalKey>,
}

/// Identifies a stored signal: its fingerprint is unique per source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignalKey {
    /// Where it came from.
    pub source: SignalSource,
    /// Alertmanager's fingerprint or the watcher's own.
    pub fingerprint: String,
}

impl SignalKey {
    /// The key of a signal.
    pub fn of(signal: &nightshift_core::Signal) -> Self {
        SignalKey {
            source: signal.source,
            fingerprint: signal.fingerprint.clone(),
        }
    }
}

/// What recording a signal meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalOutcome {
    /// First firing of this fingerprint, or firing again after it resolved: correlate it
    /// (it belongs to no incident yet).
    New,
    /// A repeat of what is already known (firing again while firing, resolved again).
    Duplicate {
        /// The incident the signal joined, if it was correlated already.
        incident: Option<IncidentId>,
    },
    /// A firing signal resolved (or a resolution arrived for a signal never seen firing).
    Resolved {
        /// The incident the signal had joined.
        incident: Option<IncidentId>,
    },
}

/// An incident opened or joined by [`Store::open_or_join`](crate::Store::open_or_join).
#[derive(Debug, Clone, PartialEq)]
pub struct Correlated {
    /// The incident.
    pub incident: StoredIncident,
    /// True when this call opened it; false when the signal joined an open one.
    pub opened: bool,
}

/// What a batch taken in by [`Store::ingest_batch`](crate::Store::ingest_batch) meant.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    /// What each signal meant, in the order given.
    pub outcomes: Vec<SignalOutcome>,
    /// Per root resource: the incident its new firing signals opened or joined, and their
    /// positions in the batch.
    pub correlated: Vec<(Correlated, Vec<usize>)>,
}

/// Which incidents [`Store::list`](crate::Store::list) returns, newest first (or, with
/// `awaiting_first`, those awaiting approval first), and [`Store::count`](crate::Store::count)
/// counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    /// Only this state.
    pub state: Option<State>,
    /// Only incidents that are not closed.
    pub open_only: bool,
    /// Only incidents about this resource.
    pub resource: Option<ResourceRef>,
    /// Only incidents about a resource in this namespace (cluster-scoped resources, external
    /// services and storms are in none).
    pub namespace: Option<String>,
    /// Only incidents whose title or resource contains this text, ignoring case (as Rust's
    /// `to_lowercase` folds it, on both databases) and the text's leading and trailing
    /// whitespace; `%`, `_` and `\` are plain characters. Blank: no condition.
    pub text: Option<String>,
    /// Incidents awaiting approval first, then the rest, each newest first.
    pub awaiting_first: bool,
    /// Skip this many, in the order above (paging).
    pub offset: Option<u32>,
    /// At most this many.
    pub limit: Option<u32>,
}

impl IncidentFilter {
    /// The longest `text` callers are expected to pass, in characters: what the console and
    /// the API accept.
    pub const MAX_TEXT_CHARS: usize = 200;
}

/// A timeline entry with its place in the global, append-only sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRecord {
    /// Sequence number: increases with every append, across incidents.
    pub seq: i64,
    /// The incident.
    pub incident: IncidentId,
    /// The entry.
    pub entry: TimelineEntry,
}

/// One collection round's evidence bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceRound {
    /// Round number within the incident (1 for the first collection, then per attempt).
    pub round: u32,
    /// When it was collected.
    pub collected_at: DateTime<Utc>,
    /// The bundle.
    pub evidence: Evidence,
}

/// Id of a stored analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AnalysisId(pub i64);

/// An analysis with the attempt it served.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRecord {
    /// Id.
    pub id: AnalysisId,
    /// The incident.
    pub incident: IncidentId,
    /// Remediation attempt (1-based) the analysis was for.
    pub attempt: u32,
    /// When.
    pub analyzed_at: DateTime<Utc>,
    /// The diagnosis and ranked plans.
    pub analysis: Analysis,
}

/// Id of a stored decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DecisionId(pub i64);

/// The policy's decision about the chosen plan.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    /// Id.
    pub id: DecisionId,
    /// The incident.
    pub incident: IncidentId,
    /// Attempt.
    pub attempt: u32,
    /// The plan decided about.
    pub plan: Plan,
    /// The decision.
    pub decision: Decision,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// Id of an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ApprovalId(pub i64);

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a human.
    Pending,
    /// A human approved.
    Approved,
    /// A human rejected.
    Rejected,
    /// Nobody answered before the deadline.
    Expired,
}

/// A human's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalAnswer {
    /// Approve (true) or reject (false).
    pub approve: bool,
    /// Who answered.
    pub by: String,
    /// Why, if they said.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// An approval request and, once answered, its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// Id.
    pub id: ApprovalId,
    /// The incident.
    pub incident: IncidentId,
    /// The decision that asked for it.
    pub decision: Option<DecisionId>,
    /// Status.
    pub status: ApprovalStatus,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// When it expires unanswered.
    pub deadline: DateTime<Utc>,
    /// Who answered.
    pub decided_by: Option<String>,
    /// Their reason.
    pub reason: Option<String>,
    /// When it was answered or expired.
    pub decided_at: Option<DateTime<Utc>>,
    /// Every vote cast on it, oldest first.
    pub votes: Vec<ApprovalVote>,
}

/// One approver's vote on an approval request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalVote {
    /// Who voted: the authenticated identity (a token's name, `slack:U024BE7LH`, ...).
    pub by: String,
    /// [`ApprovalStatus::Approved`] or [`ApprovalStatus::Rejected`].
    pub verdict: ApprovalStatus,
    /// Why, if they said.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Distinct approvals the request needed when this vote was cast.
    pub required: u32,
}

/// What one vote did to an approval request ([`Store::vote_approval`](crate::Store::vote_approval)).
#[derive(Debug, Clone, PartialEq)]
pub enum VoteOutcome {
    /// The request closed: the last approval needed was cast (the incident is approved), or a
    /// rejection (the incident is rejected).
    Decided {
        /// The incident after the vote.
        incident: StoredIncident,
        /// The request.
        approval: ApprovalId,
        /// Everyone who approved it, in the order they did.
        approvers: Vec<String>,
    },
    /// The approval was recorded; the request waits for more distinct approvers.
    Waiting {
        /// The incident, still awaiting approval.
        incident: StoredIncident,
        /// The request.
        approval: ApprovalId,
        /// Everyone who approved it so far, in the order they did.
        approvers: Vec<String>,
        /// Distinct approvals it needs.
        required: u32,
    },
    /// The voter had already approved this request: nothing was recorded.
    AlreadyApproved {
        /// The incident, unchanged.
        incident: StoredIncident,
        /// The request.
        approval: ApprovalId,
        /// Everyone who approved it so far, in the order they did.
        approvers: Vec<String>,
        /// Distinct approvals it needs.
        required: u32,
    },
}

impl VoteOutcome {
    /// The incident as it stands after the vote.
    pub fn incident(&self) -> &StoredIncident {
        match self {
            VoteOutcome::Decided { incident, .. }
            | VoteOutcome::Waiting { incident, .. }
            | VoteOutcome::AlreadyApproved { incident, .. } => incident,
        }
    }

    /// The incident as it stands after the vote, owned.
    pub fn into_incident(self) -> StoredIncident {
        match self {
            VoteOutcome::Decided { incident, .. }
            | VoteOutcome::Waiting { incident, .. }
            | VoteOutcome::AlreadyApproved { incident, .. } => incident,
        }
    }
}

/// Id of a write-ahead action intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IntentId(pub i64);

impl fmt::Display for IntentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// The intent is recorded; whether the change happened is unknown until marked.
    Intended,
    /// The change was made.
    Done,
    /// The change failed.
    Failed,
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ActionStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Intended => "intended",
            ActionStatus::Done => "done",
            ActionStatus::Failed => "failed",
        }
    }
}

/// An action: the write-ahead intent and, once known, its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRecord {
    /// Id.
    pub id: IntentId,
    /// The incident.
    pub incident: IncidentId,
    /// Remediation attempt.
    pub attempt: u32,
    /// The typed action.
    pub action: Action,
    /// The key also written as an annotation on the changed object, so a resumed agent can
    /// tell whether the change already happened.
    pub idempotency_key: String,
    /// Status.
    pub status: ActionStatus,
    /// When the intent was recorded.
    pub intended_at: DateTime<Utc>,
    /// When the outcome was recorded.
    pub finished_at: Option<DateTime<Utc>>,
    /// What the change did (for done actions).
    pub outcome: Option<serde_json::Value>,
    /// Why it failed (for failed actions).
    pub error: Option<String>,
}

/// How many actions of one type ended one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCount {
    /// Catalogue name.
    pub action: ActionName,
    /// Status.
    pub status: ActionStatus,
    /// How many.
    pub count: u64,
}

/// Counts for `/metrics` and the CLI.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// Incidents per state (states with none are left out).
    pub incidents_by_state: Vec<(State, u64)>,
    /// Actions per type and status.
    pub actions: Vec<ActionCount>,
    /// Distinct signals (source + fingerprint) ever recorded.
    pub signals: u64,
    /// Approvals still pending.
    pub pending_approvals: u64,
}

/// Where one notification to one destination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// Not delivered yet (tried `attempts` times so far).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on after retrying; the error says why.
    Failed,
    /// Not for this destination (routing), or the destination is no longer configured.
    Skipped,
}

impl NoticeStatus {
    /// The name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Pending => "pending",
            NoticeStatus::Delivered => "delivered",
            NoticeStatus::Failed => "failed",
            NoticeStatus::Skipped => "skipped",
        }
    }
}

/// A notification waiting for delivery to one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingNotice {
    /// The timeline entry's sequence number: the order of delivery, and with the destination
    /// the key that makes a delivery unique.
    pub seq: i64,
    /// The incident.
    pub incident: IncidentId,
    /// What happened.
    pub event: nightshift_core::notice::NotifyEvent,
    /// When it was queued (the entry's time).
    pub created_at: DateTime<Utc>,
    /// Tries so far.
    pub attempts: u32,
    /// The timeline entry people are told of.
    pub entry: TimelineEntry,
}

/// One notification of an incident to one destination, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NoticeRecord {
    /// The destination's name.
    pub destination: String,
    /// The timeline entry's sequence number.
    pub seq: i64,
    /// What happened.
    pub event: nightshift_core::notice::NotifyEvent,
    /// Where the delivery stands.
    pub status: NoticeStatus,
    /// Tries so far.
    pub attempts: u32,
    /// The last failure, or why it was skipped.
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it was delivered, given up on or skipped.
    pub done_at: Option<DateTime<Utc>>,
}
