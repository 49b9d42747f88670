//! How much at once: the limits of `scale`, the share of replicas a restart or drain takes
//! down and the PodDisruptionBudget, and how far `set-resources` moves a memory limit; the
//! steps of an `actions` runbook are held to the same limits as the actions they are.

use super::{Evaluation, Stop, num, stop};
use crate::ActionName;
use crate::action::Action;
use crate::decision::{Risk, Verdict};
use crate::policy::operation::Operation;
use crate::runbook::RunbookKind;
use crate::units::parse_memory;

impl Evaluation<'_> {
    pub(super) fn blast_radius(&mut self) -> Result<(), Stop> {
        match &self.plan.action {
            Action::Scale { replicas, .. } => self.scale(*replicas)?,
            Action::RestartPod { .. } | Action::DrainNode { .. } => {
                self.disruption(self.ctx.target.pods_touched, true);
            }
            Action::RolloutRestart { .. } => {
                self.disruption(self.ctx.target.pods_touched, false);
            }
            Action::SetResources {
                container, change, ..
            } => match change.limits.get("memory") {
                Some(new_text) => self.memory_change(container, new_text),
                None => self.note("memory limit unchanged"),
            },
            Action::RunRunbook { .. } => self.runbook_steps()?,
            other => self.note(format!("blast radius: not measured for {}", other.name())),
        }
        Ok(())
    }

    /// The limits of `scale` on a step to `replicas`.
    fn scale(&mut self, replicas: i32) -> Result<(), Stop> {
        let facts = &self.ctx.target;
        let rule = self.policy.action_rule(ActionName::Scale);
        let max = rule.and_then(|r| r.max_replicas);
        let step_limit = rule.and_then(|r| r.max_step_factor);
        if let Some(max) = max {
            if replicas > max {
                return stop(
                    Verdict::Escalate,
                    format!("blast-radius: scale to {replicas} > max_replicas {max}"),
                );
            }
            self.note(format!("scale to {replicas} ≤ max_replicas {max}"));
        }
        match facts.replicas {
            Some(current) if current > 0 => {
                let (big, small) = (replicas.max(current), replicas.min(current).max(1));
                let step = f64::from(big) / f64::from(small);
                if let Some(limit) = step_limit
                    && step > limit
                {
                    return stop(
                        Verdict::Escalate,
                        format!(
                            "blast-radius: scale {current} → {replicas} is a step of {}x \
                             > max_step_factor {}",
                            num(step),
                            num(limit)
                        ),
                    );
                }
                self.note(format!(
                    "scale {current} → {replicas}: a step of {}x",
                    num(step)
                ));
            }
            Some(_) => self.note("scale up from zero: the step factor does not apply"),
            None => self.at_least(Risk::Medium, "current replicas unknown"),
        }
        if self.ops.contains(&Operation::ScaleDown) {
            self.at_least(Risk::Medium, "scale-down removes capacity");
        }
        Ok(())
    }

    /// An `actions` runbook's scale and set-resources steps, held to the limits of their
    /// actions.
    fn runbook_steps(&mut self) -> Result<(), Stop> {
        let Some(RunbookKind::Actions(steps)) = self.ctx.runbook.as_ref().map(|r| r.kind.clone())
        else {
            self.note("blast radius: not measured for run-runbook");
            return Ok(());
        };
        for step in &steps {
            match step.action {
                ActionName::Scale => {
                    if let Some(replicas) = step.replicas {
                        self.scale(replicas)?;
                    }
                }
                ActionName::SetResources => {
                    if let (Some(container), Some(limit)) =
                        (&step.container, step.resources.limits.get("memory"))
                    {
                        self.memory_change(container, limit);
                    }
                }
                // What the same action as a plan of its own would take down: a rolling
                // restart one pod at a time, a pod, or a node's pods (as the facts counted
                // them for the node).
                ActionName::RolloutRestart | ActionName::Rollback => {
                    self.disruption(Some(1), false)
                }
                ActionName::RestartPod => self.disruption(Some(1), true),
                ActionName::DrainNode => self.disruption(self.ctx.target.pods_touched, true),
                _ => {}
            }
        }
        Ok(())
    }

    /// Share of replicas taken down at once (`touched` pods), and, for what evicts, the
    /// PodDisruptionBudget.
    fn disruption(&mut self, touched: Option<i32>, evicts: bool) {
        let facts = &self.ctx.target;
        let max_share = self.policy.blast_radius.max_replica_share;
        if facts.ready_replicas == Some(0) {
            self.note("no replica is ready: the action takes nothing away");
        } else {
            match (touched, facts.replicas) {
                (Some(touched), Some(replicas)) if replicas > 0 => {
                    let share = f64::from(touched) / f64::from(replicas);
                    let what = format!(
                        "touches {touched} of {replicas} replicas at once ({}% vs at most {}%)",
                        num(share * 100.0),
                        num(max_share * 100.0)
                    );
                    if share > max_share {
                        self.at_least(Risk::High, what);
                    } else {
                        self.note(what);
                    }
                }
                _ => self.at_least(Risk::Medium, "share of replicas touched unknown"),
            }
        }
        match facts.pdb_disruptions_allowed {
            Some(allowed) if evicts && allowed <= 0 => self.at_least(
                Risk::High,
                format!("PodDisruptionBudget allows {allowed} disruptions"),
            ),
            Some(allowed) if evicts => {
                self.note(format!("PodDisruptionBudget allows {allowed} disruptions"))
            }
            _ => {}
        }
    }

    fn memory_change(&mut self, container: &str, new_text: &str) {
        let Ok(new) = parse_memory(new_text) else {
            return;
        };
        let current = self
            .ctx
            .target
            .memory_limits
            .get(container)
            .and_then(|c| parse_memory(c).ok().map(|bytes| (c, bytes)));
        let limit = self
            .policy
            .action_rule(ActionName::SetResources)
            .and_then(|r| r.max_memory_factor);
        match current {
            Some((current_text, current)) if current > 0 => {
                let factor = new as f64 / current as f64;
                let what = format!(
                    "memory limit of {container} {current_text} → {new_text} ({}x)",
                    num(factor)
                );
                match limit {
                    Some(limit) if factor > limit => self.at_least(
                        Risk::High,
                        format!("{what} > max_memory_factor {}", num(limit)),
                    ),
                    _ if new < current => {
                        self.at_least(Risk::Medium, format!("{what} lowers the limit"))
                    }
                    _ => self.note(what),
                }
            }
            _ => self.at_least(
                Risk::High,
                format!("current memory limit of container {container} unknown"),
            ),
        }
    }
}
