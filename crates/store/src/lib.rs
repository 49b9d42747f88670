//! The durable incident record: incidents, signals, the timeline, evidence, analyses and
//! their plans, decisions, approvals and write-ahead action intents, in SQLite (the embedded
//! default, one file) or PostgreSQL.
//!
//! # Shape
//! - Every domain value is stored whole as JSON (`body`), next to scalar copies of the fields
//!   that queries filter on (state, resource key, action type, times), so reading a record
//!   back gives exactly the domain value and nothing has to be reassembled from columns.
//! - Records that are part of an incident's story append their own timeline entry in the same
//!   transaction: opening, signals joining or resolving, evidence rounds, diagnoses,
//!   decisions, approval requests and answers, intents, action outcomes, and every state
//!   change. [`Store::append`] is for the rest (dry runs, verification, notifications, notes).
//! - Incidents carry a version; [`Store::update_incident`] refuses a stale one.
//! - Actions are write-ahead: [`Store::record_intent`] commits before the change is made,
//!   [`Store::mark_action_done`] or [`Store::mark_action_failed`] after it, and
//!   [`Store::unfinished_intents`] lists what a crash left in between.
//!
//! # Two dialects
//! [`Store`] holds a `SqlitePool` or a `PgPool`, not `sqlx::Any`: `Any` cannot carry chrono
//! timestamps or JSON, and the record wants `TIMESTAMPTZ`/`JSONB` in PostgreSQL. The SQL is
//! the same text for both (see `sql/mod.rs` for how it is written once); the migrations are
//! kept per dialect under `migrations/sqlite` and `migrations/postgres` and embedded with
//! `sqlx::migrate!`.
//!
//! Timestamps keep nanoseconds in SQLite and microseconds in PostgreSQL (its precision).

#![warn(missing_docs)]

mod codec;
mod error;
mod open;
mod records;
mod sql;

use chrono::{DateTime, Utc};
use nightshift_core::{
    Action, Analysis, Decision, Evidence, IncidentId, Plan, ResourceRef, Signal, SignalSource,
    TimelineEntry,
};

pub use error::StoreError;
pub use records::{
    ActionCount, ActionRecord, ActionStatus, AnalysisId, AnalysisRecord, Approval, ApprovalAnswer,
    ApprovalId, ApprovalStatus, Correlated, DecisionId, DecisionRecord, EvidenceRound,
    IncidentFilter, Ingested, IntentId, NewIncident, NoticeRecord, NoticeStatus, PendingNotice,
    SignalKey, SignalOutcome, Stats, StoredIncident, TimelineRecord, resource_key,
};
pub use records::{ApprovalVote, VoteOutcome};

use open::Pools;

/// Runs one operation of `sql::sqlite` or `sql::postgres`, whichever the store holds.
macro_rules! on_pool {
    ($store:expr, $op:ident($($arg:expr),* $(,)?)) => {
        match &$store.pools {
            Pools::Sqlite(pool) => sql::sqlite::$op(pool, $($arg),*).await,
            Pools::Postgres(pool) => sql::postgres::$op(pool, $($arg),*).await,
        }
    };
}

mod kb;
mod trust;
pub use kb::{KbQuery, QueryVector};
pub use trust::{TrustChange, TrustState};

/// Which database a store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The incident record. Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pools: Pools,
    /// The knowledge base's embedding vectors, read once and then as they are written
    /// (see [`kb`]).
    vectors: kb::Vectors,
}

impl Store {
    /// Opens the database and applies pending migrations.
    ///
    /// `url` is `sqlite://PATH` or `sqlite:PATH` (the file is created when missing, unless the
    /// URL says `?mode=rw` or `ro`), a bare file path, `sqlite::memory:`, or
    /// `postgres://USER@HOST:PORT/DB`
    /// (`?options[search_path]=SCHEMA` selects a schema). SQLite runs in WAL mode with a busy
    /// timeout and foreign keys on.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store {
            pools: open::connect(url).await?,
            vectors: kb::Vectors::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies migrations the database has not seen yet; a no-op when it is up to date.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        open::migrate(&self.pools).await?;
        on_pool!(self, fill_list_columns())
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        match self.pools {
            Pools::Sqlite(_) => Dialect::Sqlite,
            Pools::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Closes every connection, waiting for those in use to come back.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite(pool) => pool.close().await,
            Pools::Postgres(pool) => pool.close().await,
        }
    }

    // ---- signals -------------------------------------------------------------------------

    /// Records one signal and says whether it is news. See [`Store::record_signals`].
    pub async fn record_signal(&self, signal: &Signal) -> Result<SignalOutcome, StoreError> {
        let mut outcomes = self.record_signals(std::slice::from_ref(signal)).await?;
        Ok(outcomes.pop().unwrap_or(SignalOutcome::New))
    }

    /// Records a batch of signals in one transaction, returning one outcome per signal in
    /// order. A fingerprint (per source) that is already firing is a
    /// [`Duplicate`](SignalOutcome::Duplicate); a firing one that resolves is
    /// [`Resolved`](SignalOutcome::Resolved) (noted on its incident's timeline); only a first
    /// firing, or a firing after resolution, is [`New`](SignalOutcome::New) and needs
    /// correlating.
    pub async fn record_signals(
        &self,
        signals: &[Signal],
    ) -> Result<Vec<SignalOutcome>, StoreError> {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        on_pool!(self, record_signals(signals))
    }

    /// Takes in a webhook batch in one transaction: records the signals and, for the new
    /// firing ones, opens or joins one incident per root resource (`roots[i]` is the root of
    /// `signals[i]`, `None` for signals not to correlate), linking them and appending the
    /// entry `summarize` writes for each group.
    pub async fn ingest_batch(
        &self,
        signals: &[Signal],
        roots: &[Option<ResourceRef>],
        opened_at: DateTime<Utc>,
        summarize: &(dyn Fn(&[&Signal]) -> TimelineEntry + Sync),
    ) -> Result<Ingested, StoreError> {
        on_pool!(self, ingest_batch(signals, roots, opened_at, summarize))
    }

    /// The incident a recorded signal joined.
    pub async fn signal_incident(
        &self,
        signal: &SignalKey,
    ) -> Result<Option<IncidentId>, StoreError> {
        on_pool!(self, signal_incident(signal))
    }

    /// The signals linked to an incident, oldest first, at most `limit`: what analysis reads,
    /// from the signals table rather than from the timeline's summaries.
    pub async fn incident_signals(
        &self,
        incident: &IncidentId,
        limit: usize,
    ) -> Result<Vec<Signal>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_pool!(self, incident_signals(incident, limit))
    }

    /// Signals of `source` still recorded as firing, newest first, at most `limit`: what the
    /// detectors carry over a restart so that a condition that ended meanwhile is resolved.
    pub async fn firing_signals(
        &self,
        source: SignalSource,
        limit: usize,
    ) -> Result<Vec<Signal>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_pool!(self, firing_signals(source, limit))
    }

    /// How many signals are linked to an incident (an alert storm's may be thousands).
    pub async fn incident_signal_count(&self, incident: &IncidentId) -> Result<u64, StoreError> {
        on_pool!(self, incident_signal_count(incident))
    }

    // ---- incidents -----------------------------------------------------------------------

    /// Opens an incident with the next id (`inc-000001`, ...), in state open, linking the
    /// signal that opened it.
    pub async fn create_incident(&self, new: &NewIncident) -> Result<StoredIncident, StoreError> {
        on_pool!(self, create_incident(new))
    }

    /// Correlation without races: joins the open incident for `new.resource` (linking
    /// `new.signal` to it) or opens one, under a lock per resource, so concurrent signals
    /// for one root resource make one incident.
    pub async fn open_or_join(&self, new: &NewIncident) -> Result<Correlated, StoreError> {
        on_pool!(self, open_or_join(new))
    }

    /// Writes `stored` back if nobody updated it since it was read, appending `entries` to
    /// its timeline in the same transaction, and bumps `stored.version`.
    ///
    /// Pass the entries [`Incident::transition`](nightshift_core::Incident::transition)
    /// returned; if the state changed and `entries` holds no transition, the store appends
    /// one itself so the audit log never misses a state change. A stale version fails with
    /// [`StoreError::Concurrent`] and writes nothing.
    pub async fn update_incident(
        &self,
        stored: &mut StoredIncident,
        entries: &[TimelineEntry],
    ) -> Result<(), StoreError> {
        on_pool!(self, update_incident(stored, entries))
    }

    /// One incident.
    pub async fn get(&self, id: &IncidentId) -> Result<Option<StoredIncident>, StoreError> {
        on_pool!(self, get_incident(id))
    }

    /// Incidents matching `filter`, newest first (with `awaiting_first`, those awaiting
    /// approval first, then the others, each newest first), from `offset`, at most `limit`.
    pub async fn list(&self, filter: &IncidentFilter) -> Result<Vec<StoredIncident>, StoreError> {
        on_pool!(self, list_incidents(filter))
    }

    /// How many incidents match `filter`, whatever its `offset` and `limit` say: the length of
    /// the list [`Store::list`] pages through.
    pub async fn count(&self, filter: &IncidentFilter) -> Result<u64, StoreError> {
        on_pool!(self, count_incidents(filter))
    }

    /// The namespaces incidents were about, each once, sorted (byte order).
    pub async fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        on_pool!(self, namespaces())
    }

    /// The newest incident about `resource` that is neither resolved nor closed: the one a
    /// new signal for the same root resource joins.
    pub async fn open_incident_for(
        &self,
        resource: &ResourceRef,
    ) -> Result<Option<StoredIncident>, StoreError> {
        on_pool!(self, open_incident_for(resource))
    }

    /// Every incident that is not closed, oldest first: what a restarted agent resumes.
    pub async fn in_flight(&self) -> Result<Vec<StoredIncident>, StoreError> {
        on_pool!(self, in_flight())
    }

    /// Incidents by state, actions by type and status, signals and pending approvals.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        on_pool!(self, stats())
    }

    // ---- timeline ------------------------------------------------------------------------

    /// Appends an entry to an incident's timeline, returning its sequence number.
    pub async fn append(
        &self,
        incident: &IncidentId,
        entry: &TimelineEntry,
    ) -> Result<i64, StoreError> {
        on_pool!(self, append(incident, entry))
    }

    /// An incident's timeline, in the order it was written.
    pub async fn timeline(&self, incident: &IncidentId) -> Result<Vec<TimelineEntry>, StoreError> {
        on_pool!(self, timeline(incident))
    }

    /// The sequence number of the newest timeline entry of `incident`, or of any incident:
    /// whether anything was recorded since it was last read.
    pub async fn newest_timeline_seq(
        &self,
        incident: Option<&IncidentId>,
    ) -> Result<Option<i64>, StoreError> {
        on_pool!(self, newest_seq(incident))
    }

    /// Entries of all incidents with a sequence number above `after`, in order, at most
    /// `limit`: a live feed (`after` = the last `seq` seen, 0 to start). On PostgreSQL,
    /// concurrent writers may commit numbers out of order, so a feed polled while several
    /// incidents are written at once can skip an entry; per-incident timelines never do.
    pub async fn timeline_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<TimelineRecord>, StoreError> {
        on_pool!(self, timeline_after(after, limit))
    }

    // ---- outbox ----------------------------------------------------------------------------

    /// Makes `names` the destinations that notifications are queued for from now on: every
    /// timeline entry people are told of (see [`nightshift_core::notice::event_of`]) gets one
    /// outbox row per destination in the transaction that writes it. Pending rows of a
    /// destination left out are marked skipped.
    pub async fn set_notice_destinations(
        &self,
        names: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_pool!(self, set_destinations(names, at))
    }

    /// The oldest notifications still pending for `destination`, in order, at most `limit`.
    pub async fn pending_notices(
        &self,
        destination: &str,
        limit: u32,
    ) -> Result<Vec<PendingNotice>, StoreError> {
        on_pool!(self, pending_notices(destination, limit))
    }

    /// Records one try of a pending notification (see [`NoticeStatus`]; `Pending` counts a
    /// failed try that will be repeated). Returns false when the row was no longer pending.
    pub async fn finish_notice(
        &self,
        destination: &str,
        seq: i64,
        status: NoticeStatus,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_pool!(self, finish_notice(destination, seq, status, error, at))
    }

    /// Every notification of an incident and where each delivery stands.
    pub async fn notices(&self, incident: &IncidentId) -> Result<Vec<NoticeRecord>, StoreError> {
        on_pool!(self, notices(incident))
    }

    /// The distinct `severity` labels of the signals of each of `incidents` (a page of the
    /// incident list; signals without the label are left out).
    pub async fn incident_severities(
        &self,
        incidents: &[IncidentId],
    ) -> Result<Vec<(IncidentId, String)>, StoreError> {
        on_pool!(self, incident_severities(incidents))
    }

    // ---- console sessions ------------------------------------------------------------------

    /// Keeps a console entry (`kind`: `session` or `oidc`) under the hash of its key until
    /// `expires_ms` (milliseconds since the epoch), replacing what was there; expired entries
    /// are deleted, and past `cap` entries of the kind the one closest to expiry is dropped.
    pub async fn keep_console_entry(
        &self,
        key_hash: &str,
        kind: &str,
        body: &serde_json::Value,
        expires_ms: i64,
        now_ms: i64,
        cap: u32,
    ) -> Result<(), StoreError> {
        on_pool!(
            self,
            keep_console_entry(key_hash, kind, body, expires_ms, now_ms, cap)
        )
    }

    /// The console entry kept under `key_hash` for `kind` and its expiry, unless it expired.
    pub async fn console_entry(
        &self,
        key_hash: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<Option<(serde_json::Value, i64)>, StoreError> {
        on_pool!(self, console_entry(key_hash, kind, now_ms))
    }

    /// Takes the console entry under `key_hash` for `kind`: no replica finds it afterwards.
    pub async fn take_console_entry(
        &self,
        key_hash: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        on_pool!(self, take_console_entry(key_hash, kind, now_ms))
    }

    /// Notifications pending per destination.
    pub async fn outbox_backlog(&self) -> Result<Vec<(String, u64)>, StoreError> {
        on_pool!(self, outbox_backlog())
    }

    /// What `destination` keeps about `incident` between deliveries (a message id).
    pub async fn notice_ref(
        &self,
        destination: &str,
        incident: &IncidentId,
    ) -> Result<Option<String>, StoreError> {
        on_pool!(self, notice_ref(destination, incident))
    }

    /// Keeps `value` for `destination` and `incident`.
    pub async fn set_notice_ref(
        &self,
        destination: &str,
        incident: &IncidentId,
        value: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, set_notice_ref(destination, incident, value))
    }

    // ---- evidence, analyses, decisions ---------------------------------------------------

    /// Stores a collection round's evidence bundle (one per round and incident).
    pub async fn record_evidence(
        &self,
        incident: &IncidentId,
        round: u32,
        evidence: &Evidence,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_pool!(self, record_evidence(incident, round, evidence, at))
    }

    /// Every evidence round of an incident, in round order.
    pub async fn evidence(&self, incident: &IncidentId) -> Result<Vec<EvidenceRound>, StoreError> {
        on_pool!(self, evidence(incident))
    }

    /// The latest evidence round of an incident.
    pub async fn latest_evidence(
        &self,
        incident: &IncidentId,
    ) -> Result<Option<EvidenceRound>, StoreError> {
        on_pool!(self, latest_evidence(incident))
    }

    /// Stores an analysis (diagnosis and ranked plans) made for `attempt`.
    pub async fn record_analysis(
        &self,
        incident: &IncidentId,
        attempt: u32,
        analysis: &Analysis,
        at: DateTime<Utc>,
    ) -> Result<AnalysisId, StoreError> {
        on_pool!(self, record_analysis(incident, attempt, analysis, at))
    }

    /// Every analysis of an incident, oldest first.
    pub async fn analyses(&self, incident: &IncidentId) -> Result<Vec<AnalysisRecord>, StoreError> {
        on_pool!(self, analyses(incident))
    }

    /// Stores the policy's decision about the chosen plan.
    pub async fn record_decision(
        &self,
        incident: &IncidentId,
        attempt: u32,
        plan: &Plan,
        decision: &Decision,
        at: DateTime<Utc>,
    ) -> Result<DecisionId, StoreError> {
        on_pool!(self, record_decision(incident, attempt, plan, decision, at))
    }

    /// Every decision about an incident, oldest first.
    pub async fn decisions(
        &self,
        incident: &IncidentId,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        on_pool!(self, decisions(incident))
    }

    // ---- approvals -----------------------------------------------------------------------

    /// Moves the incident to awaiting_approval and opens an approval request that expires
    /// at `deadline`; `stored` is updated (state, version) on success. One pending request
    /// per incident.
    pub async fn request_approval(
        &self,
        stored: &mut StoredIncident,
        decision: Option<DecisionId>,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<ApprovalId, StoreError> {
        on_pool!(self, request_approval(stored, decision, at, deadline))
    }

    /// Records a human's answer to the incident's pending request as the only approval it
    /// needs, and moves the incident to approved or rejected, returning it.
    pub async fn decide_approval(
        &self,
        incident: &IncidentId,
        answer: &ApprovalAnswer,
    ) -> Result<StoredIncident, StoreError> {
        Ok(self
            .vote_approval(incident, answer, 1)
            .await?
            .into_incident())
    }

    /// Records one approver's vote on the incident's pending request, in one transaction with
    /// the incident and its timeline:
    /// - a rejection closes the request and moves the incident to rejected;
    /// - an approval that makes `required` distinct approvers closes it and moves the incident
    ///   to approved, naming them all;
    /// - an approval short of that is recorded, and the timeline says how many are still
    ///   needed (`approved by alice (1 of 2); waiting for another approver`); the incident
    ///   stays awaiting approval;
    /// - a second approval by the same identity records nothing
    ///   ([`VoteOutcome::AlreadyApproved`]).
    ///
    /// Fails with [`StoreError::NoPendingApproval`] when no request is pending.
    pub async fn vote_approval(
        &self,
        incident: &IncidentId,
        answer: &ApprovalAnswer,
        required: u32,
    ) -> Result<VoteOutcome, StoreError> {
        on_pool!(self, vote_approval(incident, answer, required))
    }

    /// Expires every pending request whose deadline is at or before `now`; incidents still
    /// awaiting approval move to expired. Returns the requests it expired.
    pub async fn expire_approvals(&self, now: DateTime<Utc>) -> Result<Vec<Approval>, StoreError> {
        on_pool!(self, expire_approvals(now))
    }

    /// Every pending request, soonest deadline first, overdue ones included.
    pub async fn pending_approvals(&self) -> Result<Vec<Approval>, StoreError> {
        on_pool!(self, pending_approvals())
    }

    /// Every approval request of an incident with its votes, oldest first.
    pub async fn approvals(&self, incident: &IncidentId) -> Result<Vec<Approval>, StoreError> {
        on_pool!(self, approvals(incident))
    }

    // ---- actions -------------------------------------------------------------------------

    /// Write-ahead: records the intent to carry out `action` and commits it, before the
    /// change is made. `idempotency_key` is unique; the agent also writes it as an annotation
    /// on the object it changes, so after a crash it can tell whether the change happened.
    /// A second intent with the same key fails with [`StoreError::DuplicateIntent`].
    pub async fn record_intent(
        &self,
        incident: &IncidentId,
        attempt: u32,
        action: &Action,
        idempotency_key: &str,
        at: DateTime<Utc>,
    ) -> Result<IntentId, StoreError> {
        on_pool!(
            self,
            record_intent(incident, attempt, action, idempotency_key, at, None)
        )
    }

    /// [`Store::record_intent`] for a replica that leads in `term`: recorded only while `term`
    /// is the current one ([`StoreError::Fenced`] otherwise), with the term on the record.
    pub async fn record_intent_in_term(
        &self,
        incident: &IncidentId,
        attempt: u32,
        action: &Action,
        idempotency_key: &str,
        at: DateTime<Utc>,
        term: u64,
    ) -> Result<IntentId, StoreError> {
        on_pool!(
            self,
            record_intent(incident, attempt, action, idempotency_key, at, Some(term))
        )
    }

    // ---- leadership ----------------------------------------------------------------------

    /// Takes the lead among replicas sharing this record: returns the new term, one more
    /// than the last. The holder of the newest term is the only one whose intents record.
    pub async fn claim_term(&self, holder: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        on_pool!(self, claim_term(holder, at))
    }

    /// The current leadership term and its holder, if any replica ever took the lead.
    pub async fn current_term(&self) -> Result<Option<(u64, String)>, StoreError> {
        on_pool!(self, current_term())
    }

    /// Records that the intended change was made, with what it did.
    pub async fn mark_action_done(
        &self,
        intent: IntentId,
        outcome: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_pool!(
            self,
            finish_intent(intent, ActionStatus::Done, Some(outcome), None, at)
        )
    }

    /// Records that the intended change failed.
    pub async fn mark_action_failed(
        &self,
        intent: IntentId,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_pool!(
            self,
            finish_intent(intent, ActionStatus::Failed, None, Some(error), at)
        )
    }

    /// Intents with no recorded outcome, oldest first: after a restart, check the cluster
    /// for each one's idempotency key and mark it done or failed (or carry it out).
    pub async fn unfinished_intents(&self) -> Result<Vec<ActionRecord>, StoreError> {
        on_pool!(self, unfinished_intents())
    }

    /// Actions on `target` intended at or after `since`, oldest first, whatever their
    /// outcome: for budgets, cooldowns and history.
    pub async fn actions_for_target(
        &self,
        target: &ResourceRef,
        since: DateTime<Utc>,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        on_pool!(self, actions_for_target(target, since))
    }

    /// Every action of an incident, oldest first.
    pub async fn actions(&self, incident: &IncidentId) -> Result<Vec<ActionRecord>, StoreError> {
        on_pool!(self, actions_of(incident))
    }

    /// The action recorded under an idempotency key.
    pub async fn action_by_key(
        &self,
        idempotency_key: &str,
    ) -> Result<Option<ActionRecord>, StoreError> {
        on_pool!(self, action_by_key(idempotency_key))
    }
}
