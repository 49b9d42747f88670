//! The configured runbooks in the loop: wired into the actuator, proposed after analysis when
//! they fit the diagnosis, given to the policy with each `run-runbook` plan, and their
//! catalogue actions given to verification.

use std::sync::Arc;

use nightshift_core::policy::DecisionContext;
use nightshift_core::runbook::{RunbookKind, RunbookRegistry};
use nightshift_core::{Action, Analysis, Analyzer, TimelineEntry, TimelineKind};

use nightshift_core::State;
use nightshift_store::StoredIncident;
use serde_json::json;

use super::timeline::entry;
use super::{Engine, EngineError};
use crate::act::{Actuator, JobRun, Runbooks};
use crate::clock::Clock;

/// The actuator with the configured runbooks registered (as it was when there are none).
pub(super) fn wire(
    actuator: Actuator,
    registry: &RunbookRegistry,
    clock: Arc<dyn Clock>,
) -> Actuator {
    if registry.is_empty() {
        return actuator;
    }
    actuator.with_runbooks(Runbooks::from_specs(registry, clock))
}

/// Runbooks this incident already ran (from its intents).
fn already_run(history: &[TimelineEntry]) -> Vec<String> {
    history
        .iter()
        .filter(|e| e.kind == TimelineKind::Intent)
        .filter_map(|e| serde_json::from_value::<Action>(e.data.get("action")?.clone()).ok())
        .filter_map(|a| match a {
            Action::RunRunbook { name, .. } => Some(name),
            _ => None,
        })
        .collect()
}

impl<A: Analyzer + 'static> Engine<A> {
    /// Adds the plans of the configured runbooks that fit the diagnosis (see
    /// [`nightshift_core::runbook::propose`]); nothing without runbooks.
    pub(super) async fn propose_runbooks(
        &self,
        analysis: &mut Analysis,
        history: &[TimelineEntry],
    ) {
        let registry = &self.config.runbooks;
        if registry.is_empty() {
            return;
        }
        let labels = crate::facts::labels_of(&self.client, &analysis.diagnosis.root_cause).await;
        nightshift_core::runbook::propose(analysis, registry, &labels, &already_run(history));
    }

    /// The facts of a plan that concern runbooks: the diagnosis's category, and for a
    /// `run-runbook` plan the registered runbook it names (none when it is not registered).
    pub(super) fn runbook_facts(
        &self,
        ctx: &mut DecisionContext,
        analysis: &Analysis,
        action: &Action,
    ) {
        ctx.category = Some(analysis.diagnosis.category);
        if let Action::RunRunbook { name, .. } = action {
            ctx.runbook = self.config.runbooks.get(name).cloned();
        }
    }

    /// A runbook that failed escalates at once, with its Jobs (status and log) in the record:
    /// a runbook is what someone wrote down for this case, and when it fails a person reads
    /// why rather than the agent trying something else.
    pub(super) async fn runbook_failed(
        &self,
        stored: &mut StoredIncident,
        name: &str,
        msg: String,
        jobs: Vec<JobRun>,
    ) -> Result<(), EngineError> {
        if let Ok(mut k) = self.counters.lock() {
            k.human += 1;
        }
        let e = entry(
            self.clock.now(),
            TimelineKind::Action,
            msg,
            json!({ "jobs": jobs }),
        );
        self.go(
            stored,
            State::Escalated,
            &format!("runbook {name} failed"),
            vec![e],
        )
        .await
    }

    /// The catalogue actions a `run-runbook` of an `actions` runbook carried out, on its target.
    pub(super) fn runbook_steps(&self, action: &Action) -> Vec<Action> {
        let Action::RunRunbook { name, target } = action else {
            return Vec::new();
        };
        match self.config.runbooks.get(name).map(|s| &s.kind) {
            Some(RunbookKind::Actions(steps)) => steps
                .iter()
                .filter_map(|s| s.action_for(target).ok())
                .collect(),
            _ => Vec::new(),
        }
    }
}
