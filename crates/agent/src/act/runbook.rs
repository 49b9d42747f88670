//! run-runbook: named, pre-registered procedures. Registering runbooks is a later feature;
//! this is the hook it will plug into. Without a registered runbook of the name, run-runbook
//! fails with [`ActError::NoRunbook`].

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use kube::Client;
use nightshift_core::{ActionName, ResourceRef};

use super::{ActError, ActionOutcome, Actuator, Change, DryRunReport, OutcomeStatus};

/// What a runbook failed with.
pub type RunbookError = Box<dyn std::error::Error + Send + Sync>;

/// What a runbook did or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunbookReport {
    /// One line.
    pub summary: String,
    /// Fields it changed (or would change).
    pub changes: Vec<Change>,
}

/// A named procedure run-runbook may run. Implementations must honour `dry_run` (change
/// nothing, report what would change) and stamp `idempotency_key` where
/// [`Runbook::already_applied`] can find it.
pub trait Runbook: Send + Sync {
    /// The name plans use.
    fn name(&self) -> &str;

    /// Runs it (or dry-runs it) against `target`.
    fn run<'a>(
        &'a self,
        client: &'a Client,
        target: &'a ResourceRef,
        dry_run: bool,
        idempotency_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RunbookReport, RunbookError>>;

    /// Whether a run under `idempotency_key` already happened. The default cannot tell and
    /// answers `false`.
    fn already_applied<'a>(
        &'a self,
        _client: &'a Client,
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
    /// Registers a runbook under its name, replacing any of the same name.
    pub fn register(&mut self, runbook: Arc<dyn Runbook>) {
        self.by_name.insert(runbook.name().to_string(), runbook);
    }

    /// The runbook of a name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Runbook>> {
        self.by_name.get(name)
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
) -> Result<DryRunReport, ActError> {
    let report = find(actuator, name)?
        .run(&actuator.client, target, true, None)
        .await
        .map_err(failed(name))?;
    Ok(DryRunReport {
        action: ActionName::RunRunbook,
        target: Some(target.clone()),
        summary: report.summary,
        changes: report.changes,
        pods: Vec::new(),
    })
}

pub(crate) async fn execute(
    actuator: &Actuator,
    name: &str,
    target: &ResourceRef,
    key: &str,
) -> Result<ActionOutcome, ActError> {
    let runbook = find(actuator, name)?;
    let client = &actuator.client;
    if runbook
        .already_applied(client, target, key)
        .await
        .map_err(failed(name))?
    {
        return Ok(ActionOutcome::unchanged(
            ActionName::RunRunbook,
            key,
            OutcomeStatus::AlreadyApplied,
            format!("runbook {name} on {target} was already run under key {key}"),
        ));
    }
    runbook
        .run(client, target, true, Some(key))
        .await
        .map_err(|source| ActError::DryRun {
            action: ActionName::RunRunbook,
            source: Box::new(failed(name)(source)),
        })?;
    let report = runbook
        .run(client, target, false, Some(key))
        .await
        .map_err(failed(name))?;
    let mut outcome = ActionOutcome::unchanged(
        ActionName::RunRunbook,
        key,
        OutcomeStatus::Applied,
        report.summary,
    );
    outcome.changes = report.changes;
    if matches!(target, ResourceRef::Workload { .. }) {
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
        .already_applied(&actuator.client, target, key)
        .await
        .map_err(failed(name))
}
