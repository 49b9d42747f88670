//! Evaluation: one plan, the facts around it, and the rules in a fixed order. The first rule
//! that stops a plan names itself in the decision; a plan no rule stops is judged by the mode
//! and the risk it has gathered on the way.
//!
//! Order: validity, runbook, forbidden operations, exclusion, plans that change nothing, confidence,
//! freezes, budgets and cooldown, blast radius, scope, criticality, history, mode.
//!
//! [`Policy::decide`] is the list of rules in that order; each group of rules lives in its
//! own file: `admission` (validity, forbidden operations, exclusion, confidence), `runbook`
//! (a `run-runbook` plan against the runbook it names), `freeze`,
//! `budgets` (budgets and cooldown), `blast_radius`, `risk` (scope, criticality, history) and
//! `mode`. `scope` holds the namespaces an action reaches.

mod admission;
mod blast_radius;
mod budgets;
mod freeze;
mod mode;
mod risk;
mod runbook;
mod scope;

use super::Policy;
use super::context::DecisionContext;
use super::operation::{Operation, operations};
use crate::analysis::Plan;
use crate::decision::{Decision, Risk, Verdict};
use scope::Scope;

impl Policy {
    /// Decides what may happen with `plan`, given the facts in `ctx`.
    ///
    /// The decision's `rule` names the rule that decided (`forbidden: scale-to-zero`,
    /// `min_confidence: 0.55 < 0.7`, `risk: medium → approval (mode auto, namespace shop)`);
    /// its `factors` list everything weighed on the way. Its `risk` is the risk assessed up to
    /// the deciding rule (forbidden plans are high).
    pub fn decide(&self, plan: &Plan, ctx: &DecisionContext) -> Decision {
        let mut eval = Evaluation {
            policy: self,
            plan,
            ctx,
            ops: operations(&plan.action, &ctx.target),
            scope: Scope::of(&plan.action, &ctx.target),
            risk: Risk::Low,
            factors: Vec::new(),
        };
        // An early stop and the mode's final word both end the evaluation.
        let (Ok(stop) | Err(stop)) = eval.run();
        eval.finish(stop)
    }
}

/// The verdict and the rule that gave it.
struct Stop {
    verdict: Verdict,
    rule: String,
}

fn stop(verdict: Verdict, rule: impl Into<String>) -> Result<(), Stop> {
    Err(Stop {
        verdict,
        rule: rule.into(),
    })
}

/// One plan under evaluation: the facts, the risk gathered so far and every factor weighed.
struct Evaluation<'a> {
    policy: &'a Policy,
    plan: &'a Plan,
    ctx: &'a DecisionContext,
    ops: Vec<Operation>,
    scope: Scope,
    risk: Risk,
    factors: Vec<String>,
}

impl Evaluation<'_> {
    fn finish(self, stop: Stop) -> Decision {
        let risk = if stop.verdict == Verdict::Forbidden {
            Risk::High
        } else {
            self.risk
        };
        Decision {
            verdict: stop.verdict,
            risk,
            rule: stop.rule,
            factors: self.factors,
        }
    }

    fn note(&mut self, factor: impl Into<String>) {
        self.factors.push(factor.into());
    }

    /// Raises the risk to at least `floor`, noting why.
    fn at_least(&mut self, floor: Risk, why: impl Into<String>) {
        let why = why.into();
        if floor > self.risk {
            self.note(format!(
                "{why}: risk {} → {}",
                risk_name(self.risk),
                risk_name(floor)
            ));
            self.risk = floor;
        } else {
            self.note(format!("{why}: risk stays {}", risk_name(self.risk)));
        }
    }

    /// Runs the rules in order: `Err` for the rule that stopped the plan, `Ok` for the mode's
    /// verdict on a plan no rule stopped.
    fn run(&mut self) -> Result<Stop, Stop> {
        let action = &self.plan.action;
        let name = action.name();
        let target = action
            .target()
            .map(|t| t.locate_key())
            .unwrap_or_else(|| "nothing".to_string());
        self.note(format!("plan: {name} on {target}"));
        if self.ops.len() > 1 {
            let derived: Vec<&str> = self.ops[1..].iter().map(|op| op.as_str()).collect();
            self.note(format!("amounts to: {}", derived.join(", ")));
        }
        if let Some(rule) = self.policy.action_rule(name) {
            self.risk = rule.risk;
            self.note(format!("base risk of {name}: {}", risk_name(rule.risk)));
        }

        self.validity()?;
        self.runbook()?;
        self.forbidden()?;
        self.exclusion()?;
        if !action.changes_infra() {
            self.note("no change to the cluster");
            return Err(Stop {
                verdict: Verdict::Escalate,
                rule: format!("plan: {name} (no change to the cluster)"),
            });
        }
        self.confidence()?;
        self.freeze()?;
        self.budgets()?;
        self.blast_radius()?;
        self.incident_scope();
        self.criticality();
        self.history();
        Ok(self.mode())
    }
}

/// `low`, `medium` or `high`.
pub(crate) fn risk_name(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
    }
}

/// A number with at most two decimals and no trailing zeros: `0.7`, `2`, `3.33`.
pub(crate) fn num(x: f64) -> String {
    let text = format!("{x:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}
