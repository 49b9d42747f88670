//! A runbook of catalogue actions, run one after the other on the runbook's target through the
//! actuator's own path.
//!
//! The dry run dry-runs every step; the real run executes step `i` under the key `KEY-s<i>`
//! (`execute` itself dry-runs it first and stamps the key on the object it changes). The
//! stamp on an object holds its latest key only, so after a restart the steps are looked at
//! from the last: the first found stamped, and every step before it, are done; the run
//! carries on after it. The whole sequence must end within the runbook's timeout.

use std::sync::Arc;

use futures::future::BoxFuture;
use nightshift_core::runbook::{RunbookKind, RunbookSpec, RunbookStep};
use nightshift_core::{Action, ResourceRef};

use super::record::RunbookFailure;
use super::{Runbook, RunbookError, RunbookReport};
use crate::act::{Actuator, OutcomeStatus};
use crate::clock::Clock;

pub(super) struct StepsRunbook {
    spec: RunbookSpec,
    clock: Arc<dyn Clock>,
}

fn step_key(key: &str, i: usize) -> String {
    format!("{key}-s{i}")
}

impl StepsRunbook {
    pub(super) fn new(spec: RunbookSpec, clock: Arc<dyn Clock>) -> Self {
        StepsRunbook { spec, clock }
    }

    fn steps(&self) -> &[RunbookStep] {
        match &self.spec.kind {
            RunbookKind::Actions(steps) => steps,
            RunbookKind::Job(_) => &[],
        }
    }

    fn actions(&self, target: &ResourceRef) -> Result<Vec<Action>, RunbookError> {
        self.steps()
            .iter()
            .map(|s| s.action_for(target))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| fail(format!("runbook {}: {e}", self.spec.name)))
    }

    /// Steps already done under `key`: one past the last step whose stamp is found.
    async fn done(&self, actuator: &Actuator, actions: &[Action], key: &str) -> usize {
        for (i, a) in actions.iter().enumerate().rev() {
            if actuator
                .already_applied(a, &step_key(key, i))
                .await
                .unwrap_or(false)
            {
                return i + 1;
            }
        }
        0
    }

    async fn dry(
        &self,
        actuator: &Actuator,
        actions: &[Action],
    ) -> Result<RunbookReport, RunbookError> {
        let mut report = RunbookReport::default();
        let mut lines = Vec::new();
        for (i, a) in actions.iter().enumerate() {
            let r = actuator.dry_run(a).await.map_err(|e| {
                fail(format!(
                    "runbook {}: the dry run of step {} ({a}) failed: {e}",
                    self.spec.name,
                    i + 1
                ))
            })?;
            lines.push(format!("{}. {}", i + 1, r.summary));
            report.changes.extend(r.changes);
        }
        report.summary = format!("runbook {} would run: {}", self.spec.name, lines.join("; "));
        Ok(report)
    }

    async fn real(
        &self,
        actuator: &Actuator,
        actions: &[Action],
        key: &str,
    ) -> Result<RunbookReport, RunbookError> {
        let mut report = RunbookReport::default();
        let mut lines = Vec::new();
        let from = self.done(actuator, actions, key).await;
        if from > 0 {
            lines.push(format!("steps 1 to {from} were already done"));
        }
        for (i, a) in actions.iter().enumerate().skip(from) {
            let outcome = actuator.execute(a, &step_key(key, i)).await.map_err(|e| {
                fail(format!(
                    "runbook {}: step {} ({a}) failed: {e}",
                    self.spec.name,
                    i + 1
                ))
            })?;
            if outcome.status == OutcomeStatus::Partial {
                return Err(fail(format!(
                    "runbook {}: step {} ({a}) was done in part: {}",
                    self.spec.name,
                    i + 1,
                    outcome.summary
                )));
            }
            lines.push(format!("{}. {}", i + 1, outcome.summary));
            report.changes.extend(outcome.changes);
            for w in outcome.affected_workloads {
                if !report.affected.contains(&w) {
                    report.affected.push(w);
                }
            }
        }
        report.summary = format!("runbook {} ran: {}", self.spec.name, lines.join("; "));
        Ok(report)
    }
}

fn fail(message: String) -> RunbookError {
    Box::new(RunbookFailure {
        message,
        jobs: Vec::new(),
    })
}

impl Runbook for StepsRunbook {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn run<'a>(
        &'a self,
        actuator: &'a Actuator,
        target: &'a ResourceRef,
        dry_run: bool,
        idempotency_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RunbookReport, RunbookError>> {
        Box::pin(async move {
            let actions = self.actions(target)?;
            let work = async {
                match (dry_run, idempotency_key) {
                    (false, Some(key)) => self.real(actuator, &actions, key).await,
                    (false, None) => Err(fail(format!(
                        "runbook {}: a real run needs an idempotency key",
                        self.spec.name
                    ))),
                    (true, _) => self.dry(actuator, &actions).await,
                }
            };
            tokio::select! {
                r = work => r,
                _ = self.clock.sleep(self.spec.timeout) => Err(fail(format!(
                    "runbook {} timed out after {}s",
                    self.spec.name,
                    self.spec.timeout.as_secs()
                ))),
            }
        })
    }

    fn already_applied<'a>(
        &'a self,
        actuator: &'a Actuator,
        target: &'a ResourceRef,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<bool, RunbookError>> {
        Box::pin(async move {
            let actions = self.actions(target)?;
            Ok(self.done(actuator, &actions, idempotency_key).await == actions.len())
        })
    }
}
