//! The loop itself: signals in, incidents through `collect → analyze → decide → (approve) →
//! act → verify`, every step recorded in the timeline before it has effects.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::Client;
use nightshift_core::policy::{DecisionContext, Policy};
use nightshift_core::{
    Action, Analysis, AnalysisInput, Analyzer, Decision, Evidence, IncidentId, Plan, ResourceRef,
    Signal, SignalStatus, State, TimelineEntry, TimelineKind, Verdict,
};
use nightshift_store::{
    ActionStatus, ApprovalAnswer, DecisionId, SignalOutcome, Store, StoredIncident,
};
use serde_json::json;
use tokio::sync::broadcast;

use crate::act::Actuator;
use crate::clock::Clock;
use crate::collect::Collector;
use crate::correlate::Correlator;
use crate::notify::{Notification, Notifier};
use crate::prometheus::{Prometheus, PrometheusConfig};
use crate::verify::{CriteriaContext, Verifier, VerifyStatus, criteria};

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Remediation attempts before escalating.
    pub max_attempts: u32,
    /// How long recovery must hold.
    pub stabilization: Duration,
    /// How long to wait for recovery.
    pub verify_deadline: Duration,
    /// How often a waiting incident looks again (agent clock).
    pub poll: Duration,
    /// Incidents worked on at once.
    pub concurrency: usize,
    /// Wait after an incident opens before collecting, so signals that fire together land in
    /// the same evidence (like Alertmanager's group_wait).
    pub settle: Duration,
    /// Analyses of one incident at most, counting re-analyses on new evidence after a
    /// low-confidence escalation.
    pub max_analyses: usize,
    /// A Prometheus whose ranges of the incident's workload go into the evidence.
    pub prometheus: Option<PrometheusConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_attempts: 2,
            stabilization: Duration::from_secs(120),
            verify_deadline: Duration::from_secs(600),
            poll: Duration::from_secs(5),
            concurrency: 8,
            settle: Duration::from_secs(30),
            max_analyses: 4,
            prometheus: None,
        }
    }
}

/// Why the engine failed an operation (the incident is left as recorded).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The record failed.
    #[error("the incident record failed: {0}")]
    Store(#[from] nightshift_store::StoreError),
    /// A state change the state machine does not allow.
    #[error(transparent)]
    Transition(#[from] nightshift_core::incident::InvalidTransition),
    /// No such incident.
    #[error("incident {0} not found")]
    NotFound(String),
    /// The incident is not waiting for approval.
    #[error("incident {id} is {state:?}, not awaiting approval")]
    NotAwaiting {
        /// Incident.
        id: String,
        /// Its state.
        state: State,
    },
}

/// Test hook (crates/cli/tests/crash_resume.rs): when set to a file path, the engine writes
/// the idempotency key to that file and waits forever right after an infra-changing action's
/// intent is durable, before its dry run and change, so that a test can kill the process there.
pub const PAUSE_AFTER_INTENT: &str = "NIGHTSHIFT_PAUSE_AFTER_INTENT";
/// Test hook, as [`PAUSE_AFTER_INTENT`]: the pause comes right after the change was made,
/// before the outcome is recorded.
pub const PAUSE_AFTER_ACTION: &str = "NIGHTSHIFT_PAUSE_AFTER_ACTION";

/// Stops here for good when the test hook `var` is set (see [`PAUSE_AFTER_INTENT`]). Unset,
/// as in every real deployment, it does nothing.
async fn pause_for_crash_test(var: &str, key: &str) {
    let Some(marker) = std::env::var_os(var) else {
        return;
    };
    tracing::warn!(hook = var, key, "test hook: pausing for good");
    if let Err(e) = std::fs::write(&marker, key) {
        tracing::error!(hook = var, error = %e, "test hook: unable to write the marker file");
    }
    std::future::pending::<()>().await;
}

/// Signals read for one analysis: enough for every alert of a storm's kinds, bounded so a
/// flood does not make one analysis read a hundred thousand rows.
const MAX_SIGNALS_PER_ANALYSIS: usize = 500;

/// A line of the live timeline (for `nightshift demo` and subscribers).
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// Incident.
    pub incident: IncidentId,
    /// The entry.
    pub entry: TimelineEntry,
}

/// What an intake of signals did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntakeReport {
    /// New signals.
    pub new: usize,
    /// Repeats of firing signals.
    pub duplicates: usize,
    /// Resolutions.
    pub resolved: usize,
    /// Incidents opened.
    pub opened: Vec<IncidentId>,
    /// Incidents joined.
    pub joined: Vec<IncidentId>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Seconds from signal start to incident opened.
    pub detect_seconds: Vec<f64>,
    /// Seconds from incident opened to resolved.
    pub mitigate_seconds: Vec<f64>,
    /// Incidents resolved without a human.
    pub auto_resolved: u64,
    /// Incidents that needed a human.
    pub human: u64,
}

/// The healing loop.
pub struct Engine<A: Analyzer> {
    store: Store,
    clock: Arc<dyn Clock>,
    analyzer: A,
    policy: Policy,
    collector: Collector,
    actuator: Actuator,
    verifier: Verifier,
    correlator: Correlator,
    client: Client,
    notifier: Option<Notifier>,
    config: EngineConfig,
    running: Mutex<HashSet<IncidentId>>,
    live: broadcast::Sender<LiveEvent>,
    slots: tokio::sync::Semaphore,
    /// Metrics counters.
    pub counters: Mutex<Counters>,
}

/// Everything the engine is built from.
pub struct Parts<A: Analyzer> {
    /// The record.
    pub store: Store,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The brain.
    pub analyzer: A,
    /// The policy.
    pub policy: Policy,
    /// The Kubernetes client.
    pub client: Client,
    /// Carries out actions (its evictions must not retry 429s by themselves).
    pub actuator: Actuator,
    /// Caches for correlation.
    pub caches: crate::perceive::watchers::Caches,
    /// Verifier (its clock should be the cluster's).
    pub verifier: Verifier,
    /// Outgoing notifications.
    pub notifier: Option<Notifier>,
    /// Settings.
    pub config: EngineConfig,
}

fn entry(
    at: DateTime<Utc>,
    kind: TimelineKind,
    message: impl Into<String>,
    data: serde_json::Value,
) -> TimelineEntry {
    TimelineEntry {
        at,
        kind,
        message: message.into(),
        data,
    }
}

impl<A: Analyzer + 'static> Engine<A> {
    /// Builds the engine.
    pub fn new(p: Parts<A>) -> Arc<Self> {
        let (live, _) = broadcast::channel(4096);
        let concurrency = p.config.concurrency.max(1);
        Arc::new(Engine {
            collector: Collector::new(p.client.clone(), Default::default())
                .with_prometheus(p.config.prometheus.clone().map(Prometheus::new)),
            actuator: p.actuator.with_field_manager("nightshift"),
            correlator: Correlator::new(p.client.clone(), p.caches),
            store: p.store,
            clock: p.clock,
            analyzer: p.analyzer,
            policy: p.policy,
            verifier: p.verifier,
            client: p.client,
            notifier: p.notifier,
            config: p.config,
            running: Mutex::new(HashSet::new()),
            live,
            slots: tokio::sync::Semaphore::new(concurrency),
            counters: Mutex::new(Counters::default()),
        })
    }

    /// The record.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Live timeline entries as they are recorded.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// Sends an entry to live subscribers only (the store records its own).
    fn announce(&self, id: &IncidentId, e: TimelineEntry) {
        let _ = self.live.send(LiveEvent {
            incident: id.clone(),
            entry: e,
        });
    }

    async fn log(&self, id: &IncidentId, e: TimelineEntry) -> Result<(), EngineError> {
        self.store.append(id, &e).await?;
        let _ = self.live.send(LiveEvent {
            incident: id.clone(),
            entry: e,
        });
        Ok(())
    }

    async fn save(
        &self,
        stored: &mut StoredIncident,
        entries: Vec<TimelineEntry>,
    ) -> Result<(), EngineError> {
        self.store.update_incident(stored, &entries).await?;
        for e in entries {
            let _ = self.live.send(LiveEvent {
                incident: stored.incident.id.clone(),
                entry: e,
            });
        }
        Ok(())
    }

    async fn go(
        &self,
        stored: &mut StoredIncident,
        to: State,
        why: &str,
        mut extra: Vec<TimelineEntry>,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let t = stored.incident.transition(to, now, why)?;
        extra.push(t);
        self.save(stored, extra).await
    }

    /// Takes a batch of signals: records them (repeats deduplicate), correlates the new ones to
    /// root resources, opens or joins one incident per root, and starts work on new incidents.
    pub async fn ingest(
        self: &Arc<Self>,
        signals: Vec<Signal>,
    ) -> Result<IntakeReport, EngineError> {
        // Roots first, outside the transaction (the correlator reads caches and, for a
        // workload whose pods blame a dependency, a cached log tail); then the whole batch is
        // recorded and correlated in one transaction.
        let mut memo: HashMap<ResourceRef, ResourceRef> = HashMap::new();
        let mut roots = Vec::with_capacity(signals.len());
        for s in &signals {
            let root = match (&s.resource, s.status) {
                (Some(resource), SignalStatus::Firing) => Some(match memo.get(resource) {
                    Some(r) => r.clone(),
                    None => {
                        let r = self.correlator.root_of(resource).await;
                        memo.insert(resource.clone(), r.clone());
                        r
                    }
                }),
                _ => None,
            };
            roots.push(root);
        }
        let now = self.clock.now();
        // One timeline entry per incident and batch: an alert storm is one line, not five
        // thousand.
        let summarize = |group: &[&Signal]| {
            let mut names: BTreeMap<&str, usize> = BTreeMap::new();
            for s in group {
                *names.entry(s.name.as_str()).or_default() += 1;
            }
            let summary: Vec<String> = names
                .iter()
                .map(|(n, c)| {
                    if *c > 1 {
                        format!("{n} x{c}")
                    } else {
                        n.to_string()
                    }
                })
                .collect();
            let sample: Vec<&&Signal> = group.iter().take(20).collect();
            entry(
                now,
                TimelineKind::Signal,
                format!("{} signal(s): {}", group.len(), summary.join(", ")),
                json!({"signals": sample, "count": group.len()}),
            )
        };
        let ingested = self
            .store
            .ingest_batch(&signals, &roots, now, &summarize)
            .await?;
        let mut report = IntakeReport::default();
        for (s, o) in signals.iter().zip(&ingested.outcomes) {
            match o {
                SignalOutcome::Duplicate { .. } => report.duplicates += 1,
                SignalOutcome::Resolved { incident } => {
                    report.resolved += 1;
                    // The store wrote the resolution on the timeline with the record.
                    if let Some(id) = incident {
                        let e = entry(
                            now,
                            TimelineKind::Signal,
                            format!("resolved: {} {}", s.name, describe(s)),
                            json!({"signal": s}),
                        );
                        self.announce(id, e);
                    }
                }
                SignalOutcome::New => report.new += 1,
            }
        }
        for (c, members) in ingested.correlated {
            let id = c.incident.incident.id.clone();
            let group: Vec<&Signal> = members.iter().map(|i| &signals[*i]).collect();
            self.announce(&id, summarize(&group));
            let earliest = group.iter().map(|s| s.starts_at).min().unwrap_or(now);
            if c.opened {
                if let Ok(mut k) = self.counters.lock() {
                    k.detect_seconds
                        .push((now - earliest).num_milliseconds().max(0) as f64 / 1000.0);
                }
                self.notify(Notification::opened(&c.incident.incident));
                report.opened.push(id.clone());
            } else {
                report.joined.push(id.clone());
            }
            if c.opened {
                self.spawn(id);
            } else if c.incident.incident.state == State::Escalated
                && self.worth_another_look(&id, now).await
            {
                let mut stored = c.incident;
                self.go(
                    &mut stored,
                    State::Collecting,
                    "new evidence after a low-confidence escalation",
                    vec![],
                )
                .await?;
                self.spawn(id);
            }
        }
        Ok(report)
    }

    /// An incident escalated only because the evidence was too thin gets another analysis when
    /// new signals join, a minute apart at most and up to `max_analyses` in all.
    async fn worth_another_look(&self, id: &IncidentId, now: DateTime<Utc>) -> bool {
        let Ok(decisions) = self.store.decisions(id).await else {
            return false;
        };
        let Some(last) = decisions.last() else {
            return false;
        };
        let analyses = self.store.analyses(id).await.unwrap_or_default();
        let unsure = analyses
            .last()
            .is_some_and(|a| a.analysis.diagnosis.confidence < self.policy.min_confidence);
        let low_confidence = last.decision.rule.starts_with("min_confidence")
            || (last.decision.verdict == Verdict::Escalate && unsure);
        low_confidence
            && analyses.len() < self.config.max_analyses
            && now - last.decided_at >= chrono::Duration::seconds(60)
    }

    /// Resumes every incident that was in flight when the agent stopped.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, EngineError> {
        let list = self.store.in_flight().await?;
        let n = list.len();
        for s in list {
            self.spawn(s.incident.id);
        }
        Ok(n)
    }

    fn spawn(self: &Arc<Self>, id: IncidentId) {
        {
            let Ok(mut r) = self.running.lock() else {
                return;
            };
            if !r.insert(id.clone()) {
                return;
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _slot = me.slots.acquire().await;
            if let Err(e) = me.drive(&id).await {
                tracing::error!(incident = %id, error = %e, "incident loop failed");
                let _ = me
                    .log(
                        &id,
                        entry(
                            me.clock.now(),
                            TimelineKind::Note,
                            format!("loop error: {e}"),
                            json!({}),
                        ),
                    )
                    .await;
            }
            if let Ok(mut r) = me.running.lock() {
                r.remove(&id);
            }
        });
    }

    /// Hands a notification to the notifier, which never makes the caller wait.
    fn notify(&self, n: Notification) {
        if let Some(notifier) = &self.notifier {
            notifier.send(n);
        }
    }

    /// A human's answer to a pending approval.
    pub async fn answer(
        self: &Arc<Self>,
        id: &IncidentId,
        approve: bool,
        by: &str,
        reason: Option<String>,
    ) -> Result<State, EngineError> {
        let stored = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(id.0.clone()))?;
        if stored.incident.state != State::AwaitingApproval {
            return Err(EngineError::NotAwaiting {
                id: id.0.clone(),
                state: stored.incident.state,
            });
        }
        let answer = ApprovalAnswer {
            approve,
            by: by.to_string(),
            reason,
            at: self.clock.now(),
        };
        let s = self.store.decide_approval(id, &answer).await?;
        self.spawn(id.clone());
        Ok(s.incident.state)
    }

    /// The incident's signals, from the signals table (every linked signal, not the sample
    /// a timeline entry keeps).
    async fn signals_of(&self, id: &IncidentId) -> Vec<Signal> {
        self.store
            .incident_signals(id, MAX_SIGNALS_PER_ANALYSIS)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(incident = %id, error = %e, "signals not read");
                Vec::new()
            })
    }

    /// Runs one incident until it needs nothing more from the agent right now.
    async fn drive(self: &Arc<Self>, id: &IncidentId) -> Result<(), EngineError> {
        loop {
            let mut stored = self
                .store
                .get(id)
                .await?
                .ok_or_else(|| EngineError::NotFound(id.0.clone()))?;
            let state = stored.incident.state;
            match state {
                State::Open => {
                    self.clock.sleep(self.config.settle).await;
                    self.go(
                        &mut stored,
                        State::Collecting,
                        "collecting evidence",
                        vec![],
                    )
                    .await?
                }
                State::Collecting | State::Analyzing | State::Unresolved => {
                    self.analyze(&mut stored).await?
                }
                State::Planned => self.resume_planned(&mut stored).await?,
                State::AwaitingApproval => {
                    let now = self.clock.now();
                    self.store.expire_approvals(now).await?;
                    let fresh = self
                        .store
                        .get(id)
                        .await?
                        .ok_or_else(|| EngineError::NotFound(id.0.clone()))?;
                    if fresh.incident.state == State::AwaitingApproval {
                        self.clock.sleep(self.config.poll).await;
                    }
                }
                State::Approved => {
                    self.go(&mut stored, State::Acting, "approved; acting", vec![])
                        .await?
                }
                State::Rejected => {
                    if let Ok(mut k) = self.counters.lock() {
                        k.human += 1;
                    }
                    self.go(&mut stored, State::Escalated, "rejected by a human", vec![])
                        .await?;
                    self.notify(Notification::escalated(&stored.incident, "plan rejected"));
                }
                State::Expired => {
                    self.go(
                        &mut stored,
                        State::Escalated,
                        "nobody approved in time",
                        vec![],
                    )
                    .await?;
                    self.notify(Notification::escalated(
                        &stored.incident,
                        "approval expired",
                    ));
                }
                State::Acting => self.act(&mut stored).await?,
                State::Verifying => self.verify(&mut stored).await?,
                State::Resolved => {
                    let e = entry(
                        self.clock.now(),
                        TimelineKind::Note,
                        summary_of(&stored),
                        json!({}),
                    );
                    self.go(&mut stored, State::Closed, "resolved", vec![e])
                        .await?;
                }
                State::Escalated | State::Observed | State::Closed => return Ok(()),
            }
        }
    }

    async fn analyze(self: &Arc<Self>, stored: &mut StoredIncident) -> Result<(), EngineError> {
        let now = self.clock.now();
        let id = stored.incident.id.clone();
        if stored.incident.state == State::Unresolved {
            self.go(
                stored,
                State::Analyzing,
                "re-analyzing after an attempt that did not recover",
                vec![],
            )
            .await?;
        }
        let signals = self.signals_of(&id).await;
        let evidence = match self
            .collector
            .collect(&stored.incident.resource, &signals, now)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                self.log(
                    &id,
                    entry(
                        now,
                        TimelineKind::Note,
                        format!("evidence collection failed: {e}"),
                        json!({}),
                    ),
                )
                .await?;
                Evidence::default()
            }
        };
        let round = self.store.analyses(&id).await?.len() as u32;
        self.store
            .record_evidence(&id, round, &evidence, now)
            .await?;
        let ev_entry = entry(
            now,
            TimelineKind::Evidence,
            format!(
                "{} evidence items ({} bytes, {} dropped)",
                evidence.items.len(),
                evidence.bytes,
                evidence.truncated
            ),
            json!({"items": evidence.items.len()}),
        );
        // The store records evidence, diagnoses, decisions and intents in the timeline itself;
        // the engine only announces its own wording of them live.
        self.announce(&id, ev_entry);
        if stored.incident.state == State::Collecting {
            self.go(stored, State::Analyzing, "evidence collected", vec![])
                .await?;
        }
        let history = self.store.timeline(&id).await?;
        let input = AnalysisInput {
            incident: &stored.incident,
            evidence: &evidence,
            history: &history,
        };
        let analysis = match self.analyzer.analyze(&input).await {
            Ok(a) => a,
            Err(e) => {
                let note = entry(
                    self.clock.now(),
                    TimelineKind::Note,
                    format!("analysis failed: {e}"),
                    json!({}),
                );
                self.go(stored, State::Escalated, "no analysis", vec![note])
                    .await?;
                self.notify(Notification::escalated(&stored.incident, "analysis failed"));
                return Ok(());
            }
        };
        let now = self.clock.now();
        self.store
            .record_analysis(&id, stored.incident.attempts, &analysis, now)
            .await?;
        let d = &analysis.diagnosis;
        stored.incident.category = Some(d.category);
        stored.incident.root_cause = Some(d.root_cause.clone());
        stored.incident.title = d.summary.clone();
        let mut entries = vec![entry(
            now,
            TimelineKind::Diagnosis,
            format!(
                "{} at {} (confidence {:.2}, {}): {}",
                d.category, d.root_cause, d.confidence, analysis.analyzer, d.summary
            ),
            json!({"diagnosis": d, "notes": analysis.notes}),
        )];
        let (plan, decision) = self.choose(&analysis, stored, now).await;
        entries.push(entry(
            now,
            TimelineKind::Plan,
            format!(
                "plan: {} (confidence {:.2}): {}",
                describe_action(&plan.action),
                plan.confidence,
                plan.rationale
            ),
            json!({"plan": plan}),
        ));
        entries.push(entry(
            now,
            TimelineKind::Decision,
            format!(
                "decision: {:?}, risk {:?}, by rule {}",
                decision.verdict, decision.risk, decision.rule
            ),
            json!({"decision": decision}),
        ));
        let decision_id = self
            .store
            .record_decision(&id, stored.incident.attempts, &plan, &decision, now)
            .await?;
        let (recorded, announced): (Vec<TimelineEntry>, Vec<TimelineEntry>) = entries
            .into_iter()
            .partition(|e| e.kind == TimelineKind::Plan);
        for e in announced {
            self.announce(&id, e);
        }
        self.go(stored, State::Planned, "plan decided", recorded)
            .await?;
        self.carry_out(stored, &plan, &decision, decision_id).await
    }

    /// A planned incident whose decision was recorded but not carried out (the agent stopped
    /// in between) carries it out now, as decided.
    async fn resume_planned(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
    ) -> Result<(), EngineError> {
        let attempt = stored.incident.attempts;
        let decided = self
            .store
            .decisions(&stored.incident.id)
            .await?
            .into_iter()
            .rev()
            .find(|d| d.attempt == attempt)
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "{} decision for attempt {attempt}",
                    stored.incident.id
                ))
            })?;
        self.carry_out(stored, &decided.plan, &decided.decision, decided.id)
            .await
    }

    /// Moves a planned incident on as the decision says: act, ask, rehearse, watch or escalate.
    async fn carry_out(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
        plan: &Plan,
        decision: &Decision,
        decision_id: DecisionId,
    ) -> Result<(), EngineError> {
        let id = stored.incident.id.clone();
        let now = self.clock.now();
        match decision.verdict {
            // Deliberately doing nothing is not an escalation: watch that it passes by itself.
            Verdict::Execute | Verdict::Escalate
                if matches!(plan.action, Action::None { .. })
                    && (decision.verdict == Verdict::Execute
                        || decision.rule.starts_with("plan: none")) =>
            {
                // Deliberately doing nothing: watch that it passes by itself.
                self.go(stored, State::Acting, "no change planned", vec![])
                    .await?;
            }
            Verdict::Execute => {
                self.go(stored, State::Acting, "policy allows it", vec![])
                    .await?
            }
            Verdict::NeedsApproval => {
                let deadline = now
                    + chrono::Duration::from_std(self.policy.approval_timeout)
                        .unwrap_or(chrono::Duration::minutes(15));
                self.store
                    .request_approval(stored, Some(decision_id), now, deadline)
                    .await?;
                let _ = self.live.send(LiveEvent {
                    incident: id.clone(),
                    entry: entry(
                        now,
                        TimelineKind::Approval,
                        format!("approval requested until {deadline}"),
                        json!({}),
                    ),
                });
                self.notify(Notification::approval_needed(
                    &stored.incident,
                    plan,
                    decision,
                ));
            }
            Verdict::DryRun => {
                let report = self.actuator.dry_run(&plan.action).await;
                let msg = match &report {
                    Ok(r) => format!("dry run only: {}", r.summary),
                    Err(e) => format!("dry run failed: {e}"),
                };
                let e = entry(
                    self.clock.now(),
                    TimelineKind::DryRun,
                    msg,
                    json!({"report": report.as_ref().ok()}),
                );
                self.go(stored, State::Observed, "dry-run mode", vec![e])
                    .await?;
            }
            Verdict::Observe => {
                self.go(stored, State::Observed, "observe mode", vec![])
                    .await?
            }
            Verdict::Escalate | Verdict::Forbidden => {
                if let Ok(mut k) = self.counters.lock() {
                    k.human += 1;
                }
                self.go(
                    stored,
                    State::Escalated,
                    &format!("escalated by {}", decision.rule),
                    vec![],
                )
                .await?;
                self.notify(Notification::escalated(&stored.incident, &decision.rule));
            }
        }
        Ok(())
    }

    /// The first plan the policy does not forbid, with its decision.
    async fn choose(
        &self,
        analysis: &Analysis,
        stored: &StoredIncident,
        now: DateTime<Utc>,
    ) -> (Plan, Decision) {
        let in_flight = self
            .running
            .lock()
            .map(|r| r.len() as u32)
            .unwrap_or(0)
            .saturating_sub(1);
        let mut last: Option<(Plan, Decision)> = None;
        for plan in &analysis.plans {
            let mut ctx = DecisionContext::new(
                now,
                stored.incident.resource.clone(),
                analysis.diagnosis.confidence,
            );
            ctx.in_flight = in_flight;
            ctx.target =
                crate::facts::target_facts(&self.client, &plan.action, &self.policy.exclude_label)
                    .await;
            if let Some(t) = plan.action.target() {
                // A pod's restarts count against its owner, as the budget does.
                let owner = match &plan.action {
                    Action::RestartPod { .. } => ctx.target.owner.as_ref(),
                    _ => None,
                };
                ctx.history =
                    crate::facts::history(&self.store, &t, owner, &plan.action, now).await;
            }
            let d = self.policy.decide(plan, &ctx);
            if d.verdict != Verdict::Forbidden {
                return (plan.clone(), d);
            }
            last = Some((plan.clone(), d));
        }
        last.unwrap_or_else(|| {
            let plan = Plan {
                action: Action::Escalate {
                    reason: "no plan".into(),
                },
                confidence: 0.0,
                rationale: "the analyzer proposed nothing".into(),
                expected_outcome: "a human looks at it".into(),
            };
            let mut ctx = DecisionContext::new(
                now,
                stored.incident.resource.clone(),
                analysis.diagnosis.confidence,
            );
            ctx.in_flight = in_flight;
            let d = self.policy.decide(&plan, &ctx);
            (plan, d)
        })
    }

    async fn planned_action(&self, id: &IncidentId, attempt: u32) -> Result<Plan, EngineError> {
        let decisions = self.store.decisions(id).await?;
        decisions
            .into_iter()
            .rev()
            .find(|d| d.attempt == attempt)
            .map(|d| d.plan)
            .ok_or_else(|| EngineError::NotFound(format!("{id} plan for attempt {attempt}")))
    }

    async fn act(self: &Arc<Self>, stored: &mut StoredIncident) -> Result<(), EngineError> {
        let id = stored.incident.id.clone();
        let attempt = stored.incident.attempts;
        let plan = self.planned_action(&id, attempt).await?;
        let key = format!("{}-a{attempt}", id.0);
        let now = self.clock.now();
        // Write-ahead: the intent is durable before anything changes; after a crash the
        // record says an intent is open and the cluster's annotation says whether it ran.
        let existing = self.store.action_by_key(&key).await?;
        let intent = match &existing {
            None => {
                let intent = self
                    .store
                    .record_intent(&id, attempt, &plan.action, &key, now)
                    .await?;
                self.announce(
                    &id,
                    entry(
                        now,
                        TimelineKind::Intent,
                        format!("intent {key}: {}", describe_action(&plan.action)),
                        json!({"key": key, "action": plan.action}),
                    ),
                );
                intent
            }
            // Stopped after recording the outcome, before moving on: only the move is left.
            Some(r) if r.status == ActionStatus::Done => {
                return self
                    .go(
                        stored,
                        State::Verifying,
                        "action carried out before a restart",
                        vec![],
                    )
                    .await;
            }
            // Stopped after recording a failure: it failed, whatever happens next.
            Some(r) if r.status == ActionStatus::Failed => {
                let msg = format!(
                    "action failed: {}",
                    r.error.as_deref().unwrap_or("no reason recorded")
                );
                return self.attempt_failed(stored, msg).await;
            }
            Some(r) => {
                self.log(
                    &id,
                    entry(
                        now,
                        TimelineKind::Note,
                        format!(
                            "resuming intent {key} after a restart: {}",
                            describe_action(&plan.action)
                        ),
                        json!({"key": key}),
                    ),
                )
                .await?;
                r.id
            }
        };
        if plan.action.changes_infra() {
            pause_for_crash_test(PAUSE_AFTER_INTENT, &key).await;
        }
        // A resumed intent whose change is already on the object is not dry-run (its target
        // may be gone, as an evicted pod is): `execute` reports it already applied.
        let applied = existing.is_some()
            && self
                .actuator
                .already_applied(&plan.action, &key)
                .await
                .unwrap_or(false);
        if plan.action.changes_infra() && !applied {
            match self.actuator.dry_run(&plan.action).await {
                Ok(r) => {
                    self.log(
                        &id,
                        entry(
                            self.clock.now(),
                            TimelineKind::DryRun,
                            format!("dry run: {}", r.summary),
                            json!({"report": r}),
                        ),
                    )
                    .await?
                }
                Err(e) => {
                    let msg = format!("dry run refused: {e}");
                    self.store
                        .mark_action_failed(intent, &msg, self.clock.now())
                        .await?;
                    let note = entry(
                        self.clock.now(),
                        TimelineKind::Action,
                        msg.clone(),
                        json!({}),
                    );
                    self.go(stored, State::Escalated, "dry run failed", vec![note])
                        .await?;
                    self.notify(Notification::escalated(&stored.incident, &msg));
                    return Ok(());
                }
            }
        }
        match self.actuator.execute(&plan.action, &key).await {
            Ok(outcome) => {
                if plan.action.changes_infra() {
                    pause_for_crash_test(PAUSE_AFTER_ACTION, &key).await;
                }
                // Done as soon as the change is made, with what it touched: verification (also
                // after a restart) reads the replaced pod and the affected workloads from it.
                let recorded = serde_json::to_value(&outcome).unwrap_or_else(|_| json!({}));
                self.store
                    .mark_action_done(intent, &recorded, self.clock.now())
                    .await?;
                let e = entry(
                    self.clock.now(),
                    TimelineKind::Action,
                    format!(
                        "{}: {:?}: {}",
                        plan.action.name(),
                        outcome.status,
                        outcome.summary
                    ),
                    json!({"outcome": outcome}),
                );
                self.notify(Notification::action_taken(
                    &stored.incident,
                    &plan.action,
                    &outcome.summary,
                ));
                self.go(stored, State::Verifying, "action carried out", vec![e])
                    .await
            }
            Err(err) => {
                let msg = format!("action failed: {err}");
                self.store
                    .mark_action_failed(intent, &msg, self.clock.now())
                    .await?;
                self.attempt_failed(stored, msg).await
            }
        }
    }

    /// An action that failed uses up its attempt: back to analysis through the verification
    /// failure path, or escalated when the attempt budget is used up.
    async fn attempt_failed(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
        msg: String,
    ) -> Result<(), EngineError> {
        let e = entry(
            self.clock.now(),
            TimelineKind::Action,
            msg.clone(),
            json!({}),
        );
        stored.incident.attempts += 1;
        if stored.incident.attempts >= self.config.max_attempts {
            self.go(stored, State::Escalated, "action failed", vec![e])
                .await?;
            self.notify(Notification::escalated(&stored.incident, &msg));
            Ok(())
        } else {
            self.go(stored, State::Verifying, "action failed", vec![e])
                .await?;
            let e = entry(
                self.clock.now(),
                TimelineKind::Verification,
                "not recovered: the action failed".to_string(),
                json!({"status": "failed"}),
            );
            self.go(stored, State::Unresolved, "action failed", vec![e])
                .await
        }
    }

    async fn verify(self: &Arc<Self>, stored: &mut StoredIncident) -> Result<(), EngineError> {
        let id = stored.incident.id.clone();
        let attempt = stored.incident.attempts;
        let plan = self.planned_action(&id, attempt).await?;
        let key = format!("{}-a{attempt}", id.0);
        let record = self.store.action_by_key(&key).await?;
        let outcome = record
            .as_ref()
            .and_then(|r| r.outcome.clone())
            .and_then(|o| serde_json::from_value::<crate::act::ActionOutcome>(o).ok());
        let mut ctx = outcome
            .as_ref()
            .map(CriteriaContext::from_outcome)
            .unwrap_or_default();
        // Changing nothing, or finding the change already made before a restart, names no
        // workload: watch the incident's own.
        if ctx.affected_workloads.is_empty()
            && matches!(
                plan.action,
                Action::None { .. } | Action::Escalate { .. } | Action::RestartPod { .. }
            )
            && let Some(root) = stored
                .incident
                .root_cause
                .clone()
                .or(Some(stored.incident.resource.clone()))
            && matches!(root, ResourceRef::Workload { .. })
        {
            ctx.affected_workloads.push(root);
        }
        let ctx = ctx
            .with_stabilization(self.config.stabilization)
            .with_deadline(self.config.verify_deadline);
        let crit = criteria(&plan.action, &ctx);
        let since = self.verifier.now().await;
        let status = loop {
            let s = self.verifier.check(&crit, since).await;
            if s.is_final() {
                break s;
            }
            self.clock.sleep(self.config.poll).await;
        };
        let now = self.clock.now();
        let verified = status == VerifyStatus::Recovered;
        // Records from before outcomes were written at once are closed here.
        if let Some(r) = &record
            && r.status == ActionStatus::Intended
        {
            self.store.mark_action_done(r.id, &json!({}), now).await?;
        }
        let e = entry(
            now,
            TimelineKind::Verification,
            format!("{status:?}"),
            json!({"status": if verified { "recovered" } else { "failed" }, "recovered": verified, "attempt": attempt, "action": plan.action, "key": key}),
        );
        if verified {
            if let Ok(mut k) = self.counters.lock() {
                k.mitigate_seconds.push(
                    (now - stored.incident.opened_at).num_milliseconds().max(0) as f64 / 1000.0,
                );
                k.auto_resolved += 1;
            }
            self.go(stored, State::Resolved, "recovered", vec![e]).await
        } else {
            stored.incident.attempts += 1;
            if stored.incident.attempts >= self.config.max_attempts {
                self.go(stored, State::Unresolved, "not recovered", vec![e])
                    .await?;
                if let Ok(mut k) = self.counters.lock() {
                    k.human += 1;
                }
                self.go(stored, State::Escalated, "attempt budget used up", vec![])
                    .await?;
                self.notify(Notification::escalated(
                    &stored.incident,
                    "not recovered after the allowed attempts",
                ));
                Ok(())
            } else {
                self.go(stored, State::Unresolved, "not recovered", vec![e])
                    .await
            }
        }
    }
}

fn describe(s: &Signal) -> String {
    s.resource
        .as_ref()
        .map(|r| r.to_string())
        .unwrap_or_default()
}

/// One line for an action and its parameters.
pub fn describe_action(a: &Action) -> String {
    match a {
        Action::Scale { target, replicas } => format!("scale {target} to {replicas}"),
        Action::Rollback { target, revision } => format!(
            "rollback {target}{}",
            revision
                .map(|r| format!(" to revision {r}"))
                .unwrap_or_default()
        ),
        Action::SetResources {
            target,
            container,
            change,
        } => format!(
            "set-resources {target} container {container} requests {:?} limits {:?}",
            change.requests, change.limits
        ),
        Action::RestartPod { namespace, pod } => format!("restart-pod {namespace}/{pod}"),
        Action::RunRunbook { name, target } => format!("run-runbook {name} on {target}"),
        Action::Escalate { reason } => format!("escalate: {reason}"),
        Action::None { reason } => format!("none: {reason}"),
        other => match other.target() {
            Some(t) => format!("{} {t}", other.name()),
            None => other.name().to_string(),
        },
    }
}

fn summary_of(s: &StoredIncident) -> String {
    let i = &s.incident;
    format!(
        "resolved {}: {} after {} attempt(s), {}s after opening",
        i.id,
        i.category.map(|c| c.to_string()).unwrap_or_default(),
        i.attempts + 1,
        i.resolved_at
            .map(|r| (r - i.opened_at).num_seconds())
            .unwrap_or(0)
    )
}
