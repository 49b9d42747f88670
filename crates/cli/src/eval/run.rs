//! Runs scenarios for the evaluation: each in a fresh simulated cluster with a fresh agent
//! (its record in a temporary SQLite file), the simulated monitoring posting alerts to it,
//! everything on the simulation's clock; then reads back what the agent did.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use nightshift_core::knowledge::Entry;
use nightshift_core::policy::Policy;
use nightshift_core::{Analyzer, State, TimelineKind};
use nightshift_scenario::Scenario;
use nightshift_store::{ActionStatus, IncidentFilter, Store};

use super::observe::Watcher;
use super::rbac::RbacManifest;
use super::score::{Observation, ObservedIncident, ScenarioScore, score};
use crate::lab::{Lab, LabOptions};

/// A fixed simulated start (2026-01-01T00:00:00Z): runs do not depend on the wall clock.
pub const EVAL_START_MS: i64 = 1_767_225_600_000;

/// How often the watcher samples the cluster, in simulated seconds.
const SAMPLE_EVERY_S: f64 = 5.0;

/// Builds a fresh analyzer for each scenario, with a way to read what it spent.
pub trait AnalyzerKit: Send + Sync {
    /// The analyzer type.
    type Analyzer: Analyzer + 'static;
    /// A fresh analyzer and a reader of its (calls, tokens) so far.
    fn build(&self) -> anyhow::Result<(Self::Analyzer, UsageReader)>;
}

/// Reads an analyzer's model usage: (calls, tokens).
pub type UsageReader = Box<dyn Fn() -> (u64, u64) + Send + Sync>;

/// The rule analyzer: no model, no cost.
pub struct Rules;

impl AnalyzerKit for Rules {
    type Analyzer = nightshift_core::RuleAnalyzer;
    fn build(&self) -> anyhow::Result<(Self::Analyzer, UsageReader)> {
        Ok((nightshift_core::RuleAnalyzer::new(), Box::new(|| (0, 0))))
    }
}

/// The model analyzer (hybrid with the rules unless its `mode` says `llm`), a fresh one per
/// scenario so each report row shows what that scenario cost.
pub struct Llm {
    /// The model's configuration.
    pub config: nightshift_llm::LlmConfig,
    /// The policy the model's plans are narrowed to.
    pub policy: Policy,
}

impl AnalyzerKit for Llm {
    type Analyzer = nightshift_llm::LlmAnalyzer;
    fn build(&self) -> anyhow::Result<(Self::Analyzer, UsageReader)> {
        let analyzer = nightshift_llm::LlmAnalyzer::from_config(&self.config)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_policy(self.policy.clone());
        let counters = analyzer.clone();
        Ok((
            analyzer,
            Box::new(move || {
                let u = counters.usage();
                (u.calls, u.tokens())
            }),
        ))
    }
}

/// How the evaluation runs.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The policy the agent runs under (the lab's `auto` policy by default).
    pub policy: Policy,
    /// Scenarios run at once.
    pub jobs: usize,
    /// Simulated seconds per real second.
    pub speed: f64,
}

/// Whom the agent authenticates to the simulated cluster as.
#[derive(Debug, Clone, Default)]
pub enum AgentIdentity {
    /// The cluster administrator, on a cluster that enforces nothing (the default).
    #[default]
    Admin,
    /// The manifest's service account, on a cluster that enforces RBAC with the manifest's
    /// objects applied; every 403 the agent is answered is counted.
    ServiceAccount(Arc<RbacManifest>),
}

/// One scenario's run: its score and what was observed, for the reports.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    /// The scenario.
    pub scenario: Scenario,
    /// The score.
    pub score: ScenarioScore,
    /// What happened.
    pub observation: Observation,
    /// The knowledge-base entries the run left in its record (every incident that ended),
    /// their ids prefixed with the scenario's name (`crash-checkout-bug/inc-000001`) so that
    /// the entries of many scenarios can be pooled.
    pub kb: Vec<Entry>,
}

/// Reads back the agent's record after a run.
async fn read_record(
    store: &Store,
    watcher: &Watcher,
    horizon_s: f64,
) -> anyhow::Result<(Vec<ObservedIncident>, Vec<super::score::ObservedAction>)> {
    let mut listed = store.list(&IncidentFilter::default()).await?;
    listed.sort_by(|a, b| (a.opened_at, &a.id.0).cmp(&(b.opened_at, &b.id.0)));
    let mut incidents = Vec::new();
    let mut actions = Vec::new();
    for i in listed {
        let opened_s = watcher.seconds(i.opened_at.timestamp_millis());
        if opened_s > horizon_s {
            continue;
        }
        let timeline = store.timeline(&i.id).await?;
        let escalated_s = timeline
            .iter()
            .filter(|e| e.kind == TimelineKind::Transition)
            .find(|e| {
                serde_json::from_value::<State>(e.data["to"].clone()).ok() == Some(State::Escalated)
            })
            .map(|e| watcher.seconds(e.at.timestamp_millis()));
        let analyses = store.analyses(&i.id).await?;
        let cited = timeline
            .iter()
            .filter(|e| e.kind == TimelineKind::Note)
            .filter_map(|e| {
                e.data
                    .get("recall")?
                    .as_object()
                    .map(|_| &e.data["similar"])
            })
            .filter_map(|s| s.as_array())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let recurring = store.decisions(&i.id).await?.iter().any(|d| {
            matches!(&d.plan.action, nightshift_core::Action::Escalate { reason }
                if reason.starts_with("recurring:"))
        });
        incidents.push(ObservedIncident {
            id: i.id.0.clone(),
            opened_s,
            category: i.category,
            root: i.root_cause.as_ref().map(|r| r.locate_key()),
            resource: i.resource.locate_key(),
            diagnosed_s: analyses
                .first()
                .map(|a| watcher.seconds(a.analyzed_at.timestamp_millis())),
            escalated: escalated_s.is_some() || i.state == State::Escalated,
            escalated_s,
            cited,
            recurring,
            mitigated_s: i
                .resolved_at
                .map(|r| (r - i.opened_at).num_milliseconds() as f64 / 1000.0),
        });
        for a in store.actions(&i.id).await? {
            if a.status == ActionStatus::Done && a.action.changes_infra() {
                let at = a.intended_at.timestamp_millis();
                actions.push(watcher.judge(at, a.action, a.outcome.as_ref()));
            }
        }
    }
    actions.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    Ok((incidents, actions))
}

/// Runs one scenario to its horizon and scores it.
pub async fn run_one<K: AnalyzerKit>(
    scenario: Scenario,
    opts: &EvalOptions,
    kit: &K,
) -> anyhow::Result<ScenarioRun> {
    run_one_as(scenario, opts, &AgentIdentity::Admin, kit).await
}

/// Runs one scenario to its horizon with the agent authenticating as `identity`, and scores
/// it.
pub async fn run_one_as<K: AnalyzerKit>(
    scenario: Scenario,
    opts: &EvalOptions,
    identity: &AgentIdentity,
    kit: &K,
) -> anyhow::Result<ScenarioRun> {
    let dir = tempfile::tempdir().context("unable to create a temporary directory")?;
    let mut lab_opts = LabOptions::new(dir.path().join("record.db"));
    lab_opts.speed = opts.speed;
    lab_opts.start_ms = EVAL_START_MS;
    lab_opts.policy = opts.policy.clone();
    let (analyzer, usage) = kit.build()?;
    if let AgentIdentity::ServiceAccount(manifest) = identity {
        lab_opts.rbac = Some(manifest.clone());
    }
    let lab = Lab::start_with(&scenario, lab_opts, analyzer)
        .await
        .with_context(|| format!("{}: unable to start the lab", scenario.name))?;
    let mut watcher = Watcher::new(&scenario, EVAL_START_MS);
    let mut last = f64::NEG_INFINITY;
    let horizon_s = scenario.horizon.as_secs_f64();
    loop {
        let finished = lab.cluster.clock.is_finished();
        let now = watcher.seconds(lab.sim.clock().now_ms());
        if finished || now - last >= SAMPLE_EVERY_S {
            watcher.sample(&lab.sim);
            last = now;
        }
        if finished {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let store = lab.agent.engine.store().clone();
    lab.stop();
    let forbidden = match identity {
        AgentIdentity::Admin => None,
        AgentIdentity::ServiceAccount(manifest) => {
            let user = manifest.user();
            Some(
                lab.cluster
                    .access
                    .denials()
                    .into_iter()
                    .filter(|d| d.user == user)
                    .map(|d| (d.message, d.count))
                    .collect(),
            )
        }
    };
    let (incidents, actions) = read_record(&store, &watcher, horizon_s).await?;
    let kb = read_kb(&store, &scenario.name).await?;
    store.close().await;
    let (llm_calls, llm_tokens) = usage();
    let observation = Observation {
        incidents,
        actions,
        health: std::mem::take(&mut watcher.health),
        node_workloads: std::mem::take(&mut watcher.node_workloads),
        llm_calls,
        llm_tokens,
        forbidden,
    };
    Ok(ScenarioRun {
        score: score(&scenario, &observation, &opts.policy),
        scenario,
        observation,
        kb,
    })
}

/// Every knowledge-base entry of a run's record, oldest first, with ids made unique across
/// scenarios.
async fn read_kb(store: &Store, scenario: &str) -> anyhow::Result<Vec<Entry>> {
    let mut entries = store.kb_list(usize::MAX).await?;
    entries.reverse();
    for e in &mut entries {
        e.id = format!("{scenario}/{}", e.id);
    }
    Ok(entries)
}

/// Runs scenarios, up to `opts.jobs` at once, reporting each finished one to `done`; the
/// results keep the order of `scenarios`.
pub async fn run_all<K: AnalyzerKit>(
    scenarios: Vec<(PathBuf, Scenario)>,
    opts: &EvalOptions,
    kit: &K,
    done: &(dyn Fn(&ScenarioRun) + Sync),
) -> anyhow::Result<Vec<ScenarioRun>> {
    run_all_as(scenarios, opts, &AgentIdentity::Admin, kit, done).await
}

/// [`run_all`] with the agent authenticating as `identity`.
pub async fn run_all_as<K: AnalyzerKit>(
    scenarios: Vec<(PathBuf, Scenario)>,
    opts: &EvalOptions,
    identity: &AgentIdentity,
    kit: &K,
    done: &(dyn Fn(&ScenarioRun) + Sync),
) -> anyhow::Result<Vec<ScenarioRun>> {
    let jobs = opts.jobs.max(1);
    let results: Vec<anyhow::Result<ScenarioRun>> = futures::stream::iter(scenarios)
        .map(|(_, s)| async move {
            let run = run_one_as(s, opts, identity, kit).await?;
            done(&run);
            Ok(run)
        })
        .buffered(jobs)
        .collect()
        .await;
    results.into_iter().collect()
}
