//! What raises the risk of a plan no rule stopped: acting outside the incident, a critical
//! target, a remedy that already failed on it.

use super::Evaluation;
use crate::decision::Risk;
use crate::policy::Criticality;
use crate::resource::ResourceRef;

impl Evaluation<'_> {
    /// An action on something other than what the incident is about needs a human.
    pub(super) fn incident_scope(&mut self) {
        let Some(target) = self.plan.action.target() else {
            return;
        };
        let place = |r: &ResourceRef| match r {
            ResourceRef::Node { name } => Some(format!("node/{name}")),
            other => other.namespace().map(|ns| format!("namespace {ns}")),
        };
        let incident = &self.ctx.incident_target;
        match (place(&target), place(incident)) {
            (Some(here), Some(there)) if here != there => self.at_least(
                Risk::Medium,
                format!(
                    "acts in {here} while the incident is about {}",
                    incident.locate_key()
                ),
            ),
            _ => self.note(format!(
                "scope: within the incident ({})",
                incident.locate_key()
            )),
        }
    }

    pub(super) fn criticality(&mut self) {
        let rules = &self.policy.criticality;
        let mut found: Vec<(String, Criticality)> = Vec::new();
        for ns in &self.scope.namespaces {
            if let Some(level) = rules.namespaces.get(ns) {
                found.push((format!("namespace {ns}"), *level));
            }
        }
        for (selector, level) in &rules.labels {
            if selector.matches(&self.ctx.target.labels) {
                found.push((format!("label {selector}"), *level));
            }
        }
        let Some((source, level)) = found
            .iter()
            .max_by_key(|(_, level)| *level)
            .map(|(s, l)| (s.clone(), *l))
        else {
            self.note("criticality: none configured for the target");
            return;
        };
        let raised = raise(self.risk, level.steps());
        let what = format!("criticality {} ({source})", level.as_str());
        self.at_least(raised, what);
    }

    pub(super) fn history(&mut self) {
        let name = self.plan.action.name();
        if self.ctx.history.failed_before(name) {
            let key = self.budget_key();
            self.at_least(Risk::High, format!("{name} already failed on {key}"));
        } else {
            self.note(format!("history: {name} has not failed here"));
        }
    }
}

fn raise(risk: Risk, steps: u8) -> Risk {
    let level = match risk {
        Risk::Low => 0u8,
        Risk::Medium => 1,
        Risk::High => 2,
    };
    match level.saturating_add(steps) {
        0 => Risk::Low,
        1 => Risk::Medium,
        _ => Risk::High,
    }
}
