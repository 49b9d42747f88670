//! run-runbook: named procedures registered in the agent's configuration
//! ([`nightshift_core::runbook`]), or by code through the [`Runbook`] trait. Without a
//! registered runbook of the name, run-runbook fails with [`ActError::NoRunbook`].
//!
//! Configured runbooks come in two kinds ([`Runbooks::from_specs`]):
//!
//! - `actions` ([`steps`]): each catalogue action on the target through the actuator's own
//!   path (`dry_run` of each for the dry run; `execute` of each, which dry-runs then changes,
//!   for the real run). Step `i` is stamped with the key `KEY-s<i>`; after a restart the
//!   steps already stamped are not repeated.
//! - `job` ([`job`]): a Kubernetes Job from the template, once with the dry-run arguments,
//!   once with the real ones, each waited for up to the runbook's timeout; the Job's status
//!   and the tail of its pod's log (redacted) are the report. A Job that fails or times out
//!   fails the action with its log in the error ([`RunbookFailure`]). A run under an
//!   idempotency key has a name computed from the key and the phase, and carries the key and
//!   the incident as labels: after a restart the agent finds the Job and waits for it rather
//!   than starting a second one.

mod job;
mod record;
mod steps;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use nightshift_core::runbook::{RunbookKind, RunbookRegistry};
use nightshift_core::{ActionName, ResourceRef};

use super::{ActError, ActionOutcome, Actuator, Change, DryRunReport, OutcomeStatus};
use crate::clock::Clock;

pub use record::{JobCondition, JobPhase, JobResult, JobRun, RunbookFailure};

/// What a runbook failed with.
pub type RunbookError = Box<dyn std::error::Error + Send + Sync>;

/// What a runbook did or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunbookReport {
    /// One line.
    pub summary: String,
    /// Fields it changed (or would change).
    pub changes: Vec<Change>,
    /// The Jobs it ran, with their status and logs.
    pub jobs: Vec<JobRun>,
    /// Workloads whose pods it replaced.
    pub affected: Vec<ResourceRef>,
}

/// A named procedure run-runbook may run. Implementations must honour `dry_run` (change
/// nothing the procedure is about; report what would change) and stamp `idempotency_key`
/// where [`Runbook::already_applied`] can find it.
pub trait Runbook: Send + Sync {
    /// The name plans use.
    fn name(&self) -> &str;

    /// Runs it (or dry-runs it) against `target`. Under a key already used, a run finishes
    /// what the earlier one started rather than starting again.
    fn run<'a>(
        &'a self,
        actuator: &'a Actuator,
        target: &'a ResourceRef,
        dry_run: bool,
        idempotency_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RunbookReport, RunbookError>>;

    /// Whether a run under `idempotency_key` already happened (or started). The default
    /// cannot tell and answers `false`.
    fn already_applied<'a>(
        &'a self,
        _actuator: &'a Actuator,
        _target: &'a ResourceRef,
        _idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<bool, RunbookError>> {
        Box::pin(async { Ok(false) })
    }
}

/// The runbooks run-runbook may name.
#[derive(Clone, Default)]
pub struct Runbooks {
    by_name: BTreeMap<String, Arc<dyn Runbook>>,
}

impl std::fmt::Debug for Runbooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

impl Runbooks {
    /// The configured runbooks of `registry`; Jobs are waited for on `clock` (the cluster's
    /// time, so that timeouts mean the same against a simulated cluster).
    pub fn from_specs(registry: &RunbookRegistry, clock: Arc<dyn Clock>) -> Self {
        let mut runbooks = Runbooks::default();
        for spec in registry.iter() {
            let runbook: Arc<dyn Runbook> = match &spec.kind {
                RunbookKind::Actions(_) => {
                    Arc::new(steps::StepsRunbook::new(spec.clone(), clock.clone()))
                }
                RunbookKind::Job(_) => Arc::new(job::JobRunbook::new(spec.clone(), clock.clone())),
            };
            runbooks.register(runbook);
        }
        runbooks
    }

    /// Registers a runbook under its name, replacing any of the same name.
    pub fn register(&mut self, runbook: Arc<dyn Runbook>) {
        self.by_name.insert(runbook.name().to_string(), runbook);
    }

    /// The runbook of a name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Runbook>> {
        self.by_name.get(name)
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn find<'a>(actuator: &'a Actuator, name: &str) -> Result<&'a Arc<dyn Runbook>, ActError> {
    actuator
        .runbooks
        .get(name)
        .ok_or_else(|| ActError::NoRunbook {
            name: name.to_string(),
        })
}

fn failed(name: &str) -> impl FnOnce(RunbookError) -> ActError + '_ {
    move |source| ActError::Runbook {
        name: name.to_string(),
        source,
    }
}

pub(crate) async fn dry_run(
    actuator: &Actuator,
    name: &str,
    target: &ResourceRef,
    key: Option<&str>,
) -> Result<DryRunReport, ActError> {
    let report = find(actuator, name)?
        .run(actuator, target, true, key)
        .await
        .map_err(failed(name))?;
    Ok(DryRunReport {
        action: ActionName::RunRunbook,
        target: Some(target.clone()),
        summary: report.summary,
        changes: report.changes,
        pods: Vec::new(),
        jobs: report.jobs,
    })
}

pub(crate) async fn execute(
    actuator: &Actuator,
    name: &str,
    target: &ResourceRef,
    key: &str,
) -> Result<ActionOutcome, ActError> {
    let runbook = find(actuator, name)?;
    let applied = runbook
        .already_applied(actuator, target, key)
        .await
        .map_err(failed(name))?;
    let mut jobs = Vec::new();
    if !applied {
        // Under the same key as the engine's own dry run, a Job runbook finds that run and
        // reports it again rather than running its check a second time.
        let rehearsal = runbook
            .run(actuator, target, true, Some(key))
            .await
            .map_err(|source| ActError::DryRun {
                action: ActionName::RunRunbook,
                source: Box::new(failed(name)(source)),
            })?;
        jobs.extend(rehearsal.jobs);
    }
    // Already started: the run is finished (actions) or waited for (a Job), not repeated.
    let report = runbook
        .run(actuator, target, false, Some(key))
        .await
        .map_err(failed(name))?;
    let status = if applied {
        OutcomeStatus::AlreadyApplied
    } else {
        OutcomeStatus::Applied
    };
    let mut outcome = ActionOutcome::unchanged(ActionName::RunRunbook, key, status, report.summary);
    outcome.changes = report.changes;
    jobs.extend(report.jobs);
    outcome.jobs = jobs;
    outcome.affected_workloads = report.affected;
    if matches!(target, ResourceRef::Workload { .. })
        && !outcome.affected_workloads.contains(target)
    {
        outcome.affected_workloads.push(target.clone());
    }
    Ok(outcome)
}

pub(crate) async fn already_applied(
    actuator: &Actuator,
    name: &str,
    target: &ResourceRef,
    key: &str,
) -> Result<bool, ActError> {
    find(actuator, name)?
        .already_applied(actuator, target, key)
        .await
        .map_err(failed(name))
}

/// The Jobs a failed runbook ran, logs included, found through the error's sources.
pub fn failed_jobs(err: &ActError) -> Vec<JobRun> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(f) = e.downcast_ref::<RunbookFailure>() {
            return f.jobs.clone();
        }
        source = e.source();
    }
    Vec::new()
}
