//! The loop itself: signals in, incidents through `collect → analyze → decide → (approve) →
//! act → verify`, every step recorded in the timeline before it has effects.
//!
//! One module per step of the loop: `intake` records signals and opens or joins incidents;
//! `analyze` collects evidence, asks the analyzer and lets the policy choose a plan; `act`
//! carries the decision out (approvals, the write-ahead intent, the dry run, the change);
//! `verify` waits for recovery; `timeline` records and announces every step. This module
//! holds the engine and moves each incident from state to state (`drive`).
//!
//! Crash-test hooks: built with the cargo feature `crash-test-hooks` (off by default; the
//! `nightshift` crate enables it for its own tests only), the engine stops for good right after
//! an infra-changing action's intent is durable, or right after its change, when
//! `NIGHTSHIFT_PAUSE_AFTER_INTENT` or `NIGHTSHIFT_PAUSE_AFTER_ACTION` names a marker file, so
//! that `crates/cli/tests/crash_resume.rs` can kill the process there. Without the feature the
//! hooks are not compiled at all.

mod act;
mod analyze;
#[cfg(feature = "crash-test-hooks")]
mod crash_test;
mod intake;
mod lead;
mod learn;
mod page;
mod runbooks;
mod schedule;
mod storm;
mod timeline;
mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;

use kube::Client;
use nightshift_core::policy::Policy;
use nightshift_core::{Analyzer, IncidentId, State, TimelineEntry, TimelineKind};
use nightshift_store::Store;
use serde_json::json;
use tokio::sync::broadcast;

use crate::act::Actuator;
use crate::clock::Clock;
use crate::collect::Collector;
use crate::correlate::Correlator;
use crate::prometheus::{Prometheus, PrometheusConfig};
use crate::verify::Verifier;
pub use act::record_answer;
#[cfg(feature = "crash-test-hooks")]
pub use crash_test::{HOLD_AFTER_INTENT, PAUSE_AFTER_ACTION, PAUSE_AFTER_INTENT};
pub use learn::FATE_KEY;
pub use schedule::{Backlog, Priority};
use schedule::{Next, Scheduler};
use storm::Folding;
pub use storm::StormLimits;
use timeline::entry;

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
    /// Incidents worked on at once (waiting ones hold no worker).
    pub concurrency: usize,
    /// Wait after an incident opens before collecting, so signals that fire together land in
    /// the same evidence (like Alertmanager's group_wait).
    pub settle: Duration,
    /// Analyses of one incident at most, counting re-analyses on new evidence after a
    /// low-confidence escalation.
    pub max_analyses: usize,
    /// A Prometheus whose ranges of the incident's workload go into the evidence.
    pub prometheus: Option<PrometheusConfig>,
    /// Open incidents per alert rule and per source before new ones fold into a storm.
    pub storms: StormLimits,
    /// A plan waiting for approval this long gets a note on its timeline that pages (see
    /// [`nightshift_core::notice::NotifyEvent::ApprovalWaiting`]); `None` never pages.
    pub approval_waiting_after: Option<Duration>,
    /// How long after an observed proposal a person making the same change on the cluster
    /// counts as agreeing with it (the trust ladder's observe-mode record).
    pub agreement_window: Duration,
    /// The runbooks of the configuration: proposed after analysis when they fit, held against
    /// the policy, and carried out by the actuator. Empty: none is proposed or runs.
    pub runbooks: nightshift_core::runbook::RunbookRegistry,
    /// An embeddings endpoint: knowledge-base entries and searches get vectors, fused with
    /// the lexical rank. `None`: words and structure alone.
    pub embeddings: Option<crate::learn::Embeddings>,
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
            storms: StormLimits::default(),
            approval_waiting_after: Some(Duration::from_secs(10 * 60)),
            agreement_window: Duration::from_secs(3600),
            runbooks: Default::default(),
            embeddings: None,
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
    /// This replica no longer leads: another took over, and only the leader acts.
    #[error("{0}")]
    Fenced(String),
    /// The incident is not waiting for approval.
    #[error("incident {id} is {state:?}, not awaiting approval")]
    NotAwaiting {
        /// Incident.
        id: String,
        /// Its state.
        state: State,
    },
    /// The policy's `approvers` for the incident's namespace do not list this identity.
    #[error("{}", not_an_approver(who, namespace.as_deref(), rules))]
    NotAnApprover {
        /// Who tried to answer.
        who: String,
        /// The incident's namespace; `None` for an incident with no namespace (a node).
        namespace: Option<String>,
        /// The policy rules that say who may answer there, as `approvers[0]`.
        rules: Vec<String>,
    },
    /// This identity already approved the pending request; another approver must.
    #[error(
        "{who} already approved incident {id} ({votes} of {required} approvals); the same \
         identity counts once, so another approver must approve"
    )]
    AlreadyApproved {
        /// Incident.
        id: String,
        /// Who approved twice.
        who: String,
        /// Distinct approvals so far.
        votes: u32,
        /// Distinct approvals needed.
        required: u32,
    },
}

fn not_an_approver(who: &str, namespace: Option<&str>, rules: &[String]) -> String {
    let place = namespace.map_or("incidents with no namespace".to_string(), |ns| {
        format!("namespace {ns}")
    });
    format!(
        "{who} may not answer approvals in {place}: the policy's approvers there ({}) do not \
         list {who}",
        rules.join(", ")
    )
}

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
    /// The policy in force: replaced whole when its file changes and the new one loads.
    policy: std::sync::RwLock<Arc<Policy>>,
    /// Why the last change of the policy file was not taken, while it is so.
    policy_problem: Mutex<Option<String>>,
    collector: Collector,
    actuator: Actuator,
    verifier: Verifier,
    correlator: Correlator,
    client: Client,
    config: EngineConfig,
    sched: Arc<Scheduler>,
    /// When the current verification of each verifying incident started (cluster clock).
    verify_since: Mutex<HashMap<IncidentId, DateTime<Utc>>>,
    /// Open incidents per rule and source, for folding storms.
    folding: Mutex<Folding>,
    live: broadcast::Sender<LiveEvent>,
    /// Whether this replica leads (set once before the workers start; alone by default).
    lead: std::sync::OnceLock<crate::lead::Lead>,
    /// Set by [`Engine::drain`]: the workers take no new step.
    draining: std::sync::atomic::AtomicBool,
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
    /// Settings.
    pub config: EngineConfig,
}

impl<A: Analyzer + 'static> Engine<A> {
    /// Builds the engine.
    pub fn new(p: Parts<A>) -> Arc<Self> {
        let (live, _) = broadcast::channel(4096);
        Arc::new(Engine {
            collector: Collector::new(p.client.clone(), Default::default())
                .with_prometheus(p.config.prometheus.clone().map(Prometheus::new)),
            actuator: runbooks::wire(
                p.actuator.with_field_manager("nightshift"),
                &p.config.runbooks,
                p.clock.clone(),
            ),
            correlator: Correlator::new(p.client.clone(), p.caches),
            store: p.store,
            clock: p.clock,
            analyzer: p.analyzer,
            policy: std::sync::RwLock::new(Arc::new(p.policy)),
            policy_problem: Mutex::new(None),
            verifier: p.verifier,
            client: p.client,
            config: p.config,
            sched: Scheduler::new(),
            verify_since: Mutex::new(HashMap::new()),
            folding: Mutex::new(Folding::default()),
            live,
            lead: std::sync::OnceLock::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
            counters: Mutex::new(Counters::default()),
        })
    }

    /// The embeddings endpoint, when one is configured.
    pub fn embeddings(&self) -> Option<&crate::learn::Embeddings> {
        self.config.embeddings.as_ref()
    }

    /// The record.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The cluster client the engine reads and acts through.
    pub fn cluster(&self) -> &Client {
        &self.client
    }

    /// The analyzer's name (`rules`, `llm:<model>`, `hybrid`...).
    pub fn analyzer_name(&self) -> &str {
        self.analyzer.name()
    }

    /// Now, on the agent's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Puts `policy` in force for every decision from now on.
    pub fn replace_policy(&self, policy: Policy) {
        let mut slot = self.policy.write().unwrap_or_else(|e| e.into_inner());
        *slot = Arc::new(policy);
        drop(slot);
        self.set_policy_problem(None);
    }

    /// Why the policy file's last change was refused (the previous policy still in force).
    pub fn policy_problem(&self) -> Option<String> {
        self.policy_problem.lock().ok().and_then(|p| p.clone())
    }

    /// Records (or clears) why the policy file's last change was refused.
    pub fn set_policy_problem(&self, problem: Option<String>) {
        if let Ok(mut p) = self.policy_problem.lock() {
            *p = problem;
        }
    }

    /// Live timeline entries as they are recorded.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// Incidents in flight by where they are (ready, on a worker, waiting for a time).
    pub fn backlog(&self) -> Backlog {
        self.sched.backlog()
    }

    /// Starts the workers (`concurrency` of them) and the timer that wakes waiting incidents.
    /// The tasks run until aborted.
    pub fn start_workers(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(self.sched.clone().run_timers(self.clock.clone())),
            tokio::spawn(self.clone().watch_agreements()),
        ];
        if self.config.embeddings.is_some() {
            tasks.push(tokio::spawn(self.clone().embed_backlog()));
        }
        for _ in 0..self.config.concurrency.max(1) {
            let me = self.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let mut lead = me.lead();
                    lead.leading().await;
                    let id = tokio::select! {
                        id = me.sched.next() => id,
                        // Stopped leading while idle: wait to lead again.
                        () = lead.changed() => continue,
                    };
                    if me.draining.load(std::sync::atomic::Ordering::Acquire) {
                        // Shutting down: the step is left to whoever runs next.
                        me.sched.finish(&id, Next::Done);
                        std::future::pending::<()>().await;
                    }
                    let next = me.step_logged(&id).await;
                    if next == Next::Done {
                        me.release(&id).await;
                    }
                    me.sched.finish(&id, next);
                }
            }));
        }
        tasks
    }

    /// Resumes every incident that was in flight when the agent stopped. They queue by
    /// priority like new ones, so the workers take them at their own pace, the most urgent
    /// first.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, EngineError> {
        let list = self.store.in_flight().await?;
        let n = list.len();
        for s in list {
            self.queue_recorded(&s.incident).await;
        }
        Ok(n)
    }

    /// Queues an incident read from the record, with the priority its signals give it.
    async fn queue_recorded(self: &Arc<Self>, incident: &nightshift_core::Incident) {
        let signals = self
            .store
            .incident_signals(&incident.id, 20)
            .await
            .unwrap_or_default();
        let signals: Vec<&nightshift_core::Signal> = signals.iter().collect();
        self.track(incident, &signals);
        let priority = self.priority(incident, &signals);
        self.sched.wake(&incident.id, priority);
    }

    /// Asks the workers to look at `id` now, with the priority it already has (or that of a
    /// warning).
    fn spawn(self: &Arc<Self>, id: IncidentId) {
        if self.lead().standing() == crate::lead::Standing::Follows {
            // The leader adopts it from the record.
            return;
        }
        let warning = Priority {
            severity: 2,
            ..Priority::default()
        };
        self.sched.wake(&id, warning);
    }

    /// Queues a new incident with its priority.
    fn spawn_with(self: &Arc<Self>, id: IncidentId, priority: Priority) {
        if self.lead().standing() == crate::lead::Standing::Follows {
            return;
        }
        self.sched.wake(&id, priority);
    }

    /// A step of `id`, its failure recorded; a failed or panicking step ends the incident's
    /// turn rather than a worker.
    async fn step_logged(self: &Arc<Self>, id: &IncidentId) -> Next {
        let result = std::panic::AssertUnwindSafe(self.step(id))
            .catch_unwind()
            .await;
        let message = match result {
            Ok(Ok(next)) => return next,
            Ok(Err(EngineError::Fenced(why))) => {
                tracing::warn!(incident = %id, "{why}");
                let _ = self
                    .log(
                        id,
                        entry(
                            self.clock.now(),
                            TimelineKind::Note,
                            format!("not carried out: {why}"),
                            json!({"fenced": true}),
                        ),
                    )
                    .await;
                return Next::Done;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the step panicked".to_string(),
        };
        tracing::error!(incident = %id, error = %message, "incident loop failed");
        let _ = self
            .log(
                id,
                entry(
                    self.clock.now(),
                    TimelineKind::Note,
                    format!("loop error: {message}"),
                    json!({}),
                ),
            )
            .await;
        Next::Done
    }

    /// Runs one incident until it has to wait (until when) or needs nothing more now.
    async fn step(self: &Arc<Self>, id: &IncidentId) -> Result<Next, EngineError> {
        if self.lead().standing() == crate::lead::Standing::Follows {
            // Leadership moved while the incident was queued: the leader has it now.
            return Ok(Next::Done);
        }
        loop {
            let mut stored = self
                .store
                .get(id)
                .await?
                .ok_or_else(|| EngineError::NotFound(id.0.clone()))?;
            let state = stored.incident.state;
            match state {
                State::Open => {
                    let due = stored.incident.opened_at
                        + chrono::Duration::from_std(self.config.settle).unwrap_or_default();
                    if self.clock.now() < due {
                        return Ok(Next::At(due));
                    }
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
                    if let Some(at) = self.wait_for_approval(id).await? {
                        return Ok(Next::At(at));
                    }
                }
                State::Approved | State::Rejected | State::Expired => {
                    self.approval_answered(&mut stored).await?
                }
                State::Acting => self.act(&mut stored).await?,
                State::Verifying => {
                    if let Some(at) = self.verify(&mut stored).await? {
                        return Ok(Next::At(at));
                    }
                }
                State::Resolved => self.close(&mut stored).await?,
                State::Escalated | State::Observed | State::Closed => return Ok(Next::Done),
            }
        }
    }
}
