//! A `run-runbook` plan against the runbook it names: registered, allowed on the target, and
//! written for the diagnosis. Its risk class is the plan's base risk.

use super::{Evaluation, Stop, risk_name, stop};
use crate::action::Action;
use crate::decision::Verdict;
use crate::policy::operation::operations;
use crate::runbook::{RunbookKind, selector_text};

impl Evaluation<'_> {
    /// The rules `runbook: NAME is not registered`, `runbook: NAME may not run on TARGET` and
    /// `runbook: NAME is not written for CATEGORY`, all forbidding; a runbook that passes sets
    /// the base risk to its risk class, and the operations of its catalogue actions join the
    /// plan's for the forbidden rules.
    pub(super) fn runbook(&mut self) -> Result<(), Stop> {
        let Action::RunRunbook { name, target } = &self.plan.action else {
            return Ok(());
        };
        let Some(spec) = self.ctx.runbook.as_ref().filter(|s| &s.name == name) else {
            let rule = format!("runbook: {name} is not registered");
            self.note(rule.clone());
            return stop(Verdict::Forbidden, rule);
        };
        let labels = &self.ctx.target.labels;
        if let Some(why) = spec.targets.refuses(target, labels) {
            let rule = format!(
                "runbook: {name} may not run on {}: {why}",
                target.locate_key()
            );
            self.note(rule.clone());
            return stop(Verdict::Forbidden, rule);
        }
        let categories: Vec<&str> = spec.matches.categories.iter().map(|c| c.as_str()).collect();
        match self.ctx.category {
            Some(c) if spec.matches.categories.contains(&c) => {}
            found => {
                let found = found.map_or("an unknown diagnosis".to_string(), |c| c.to_string());
                let rule = format!(
                    "runbook: {name} is not written for {found} (match: {})",
                    categories.join(", ")
                );
                self.note(rule.clone());
                return stop(Verdict::Forbidden, rule);
            }
        }
        if !spec
            .matches
            .labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            let rule = format!(
                "runbook: {name} is not written for {}: it matches workloads labelled {}",
                target.locate_key(),
                selector_text(&spec.matches.labels)
            );
            self.note(rule.clone());
            return stop(Verdict::Forbidden, rule);
        }
        self.note(format!(
            "runbook: {name} is registered, allowed on {} and written for {}",
            target.locate_key(),
            categories.join(", ")
        ));
        // The runbook's own actions are held against the forbidden operations like any plan's.
        if let RunbookKind::Actions(steps) = &spec.kind {
            for step in steps {
                if let Ok(action) = step.action_for(target) {
                    for op in operations(&action, &self.ctx.target) {
                        if !self.ops.contains(&op) {
                            self.ops.push(op);
                        }
                    }
                }
            }
        }
        self.risk = spec.risk;
        self.note(format!(
            "risk class of runbook {name}: {}",
            risk_name(spec.risk)
        ));
        Ok(())
    }
}
