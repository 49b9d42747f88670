//! Evaluation: one plan, the facts around it, and the rules in a fixed order. The first rule
//! that stops a plan names itself in the decision; a plan no rule stops is judged by the mode
//! and the risk it has gathered on the way.
//!
//! Order: validity, forbidden operations, exclusion, plans that change nothing, confidence,
//! freezes, budgets and cooldown, blast radius, scope, criticality, history, mode.

use std::time::Duration;

use crate::ActionName;
use crate::units::{format_duration, parse_cpu, parse_memory};
use chrono::TimeDelta;

use super::context::{DecisionContext, TargetFacts};
use super::operation::{Operation, operations};
use super::{Mode, Policy};
use crate::action::Action;
use crate::analysis::Plan;
use crate::decision::{Decision, Risk, Verdict};
use crate::resource::ResourceRef;

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

/// The namespaces an action reaches.
struct Scope {
    namespaces: Vec<String>,
    /// A node action: the namespaces are those of the pods on the node.
    cluster_scoped: bool,
}

impl Scope {
    fn of(action: &Action, facts: &TargetFacts) -> Scope {
        match action.target() {
            Some(ResourceRef::Node { .. }) => Scope {
                namespaces: facts.node_namespaces.clone(),
                cluster_scoped: true,
            },
            Some(target) => Scope {
                namespaces: target.namespace().map(str::to_string).into_iter().collect(),
                cluster_scoped: false,
            },
            None => Scope {
                namespaces: Vec::new(),
                cluster_scoped: false,
            },
        }
    }

    /// Whether a rule limited to `only` (empty: everywhere) reaches this action, and through
    /// which namespace. A node action whose namespaces the caller did not list is reached by
    /// every scoped rule: not knowing what runs on a node is no reason to be bolder.
    fn reached_by(&self, only: &[String]) -> Option<Option<String>> {
        if only.is_empty() {
            return Some(None);
        }
        if self.cluster_scoped && self.namespaces.is_empty() {
            return Some(Some(format!(
                "{} (pods on the node not known)",
                only.join(", ")
            )));
        }
        self.namespaces
            .iter()
            .find(|ns| only.contains(ns))
            .map(|ns| Some(ns.clone()))
    }
}

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

    /// Parameters no cluster would accept, or that would do something no remedy does.
    fn validity(&mut self) -> Result<(), Stop> {
        let invalid = |why: String| stop(Verdict::Forbidden, format!("invalid: {why}"));
        if let Some(target) = self.plan.action.target()
            && has_empty_name(&target)
        {
            return invalid(format!(
                "{} names no target ({target})",
                self.plan.action.name()
            ));
        }
        match &self.plan.action {
            Action::Scale { replicas, .. } if *replicas < 0 => {
                invalid(format!("scale to {replicas} replicas"))
            }
            Action::RestartPod { namespace, pod } if self.ctx.target.owner.is_none() => {
                invalid(format!(
                    "restart-pod of {namespace}/{pod} with no known owner: a bare pod would not come back"
                ))
            }
            Action::SetResources {
                container, change, ..
            } => {
                if change.requests.is_empty() && change.limits.is_empty() {
                    return invalid(format!(
                        "set-resources on container {container:?} changes nothing"
                    ));
                }
                for (kind, map) in [("requests", &change.requests), ("limits", &change.limits)] {
                    for (resource, quantity) in map {
                        let parsed = match resource.as_str() {
                            "memory" => parse_memory(quantity).map(|_| ()),
                            "cpu" => parse_cpu(quantity).map(|_| ()),
                            other => Err(format!(
                                "unknown resource {other:?} in {kind}; expected cpu or memory"
                            )),
                        };
                        if let Err(why) = parsed {
                            return invalid(why);
                        }
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn forbidden(&mut self) -> Result<(), Stop> {
        for rule in &self.policy.forbidden {
            if !self.ops.contains(&rule.operation) {
                continue;
            }
            if let Some(through) = self.scope.reached_by(&rule.namespaces) {
                let text = match through {
                    Some(ns) => format!("forbidden: {} in namespace {ns}", rule.operation),
                    None => format!("forbidden: {}", rule.operation),
                };
                self.note(text.clone());
                return stop(Verdict::Forbidden, text);
            }
        }
        // Whatever the file says, a workload is never scaled to nothing.
        if self.ops.contains(&Operation::ScaleToZero) {
            self.note("scaling to zero takes the workload away entirely");
            return stop(Verdict::Forbidden, "blast-radius: never scale to zero");
        }
        if self.plan.action.changes_infra() {
            let ops: Vec<&str> = self.ops.iter().map(|op| op.as_str()).collect();
            self.note(format!("forbidden: {} not forbidden here", ops.join(", ")));
        }
        Ok(())
    }

    fn exclusion(&mut self) -> Result<(), Stop> {
        if !self.plan.action.changes_infra() {
            return Ok(());
        }
        let label = &self.policy.exclude_label;
        let labelled = self
            .ctx
            .target
            .labels
            .get(label)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if labelled || self.ctx.target.excluded {
            let rule = format!("excluded: label {label}=true");
            self.note(rule.clone());
            return stop(Verdict::Escalate, rule);
        }
        self.note(format!("excluded: target not labelled {label}=true"));
        Ok(())
    }

    fn confidence(&mut self) -> Result<(), Stop> {
        let sure = |x: f64| if x.is_nan() { 0.0 } else { x };
        let diagnosis = sure(self.ctx.diagnosis_confidence);
        let plan = sure(self.plan.confidence);
        let least = diagnosis.min(plan);
        let min = self.policy.min_confidence;
        self.note(format!(
            "confidence: diagnosis {}, plan {}, minimum {}",
            num(diagnosis),
            num(plan),
            num(min)
        ));
        if least < min {
            return stop(
                Verdict::Escalate,
                format!("min_confidence: {} < {}", num(least), num(min)),
            );
        }
        Ok(())
    }

    fn freeze(&mut self) -> Result<(), Stop> {
        let now = self.ctx.now;
        for window in &self.policy.freeze {
            if !window.is_active(now) || self.scope.reached_by(&window.namespaces).is_none() {
                continue;
            }
            if let Some(op) = self.ops.iter().find(|op| window.allow.contains(op)) {
                let text = format!("freeze {} is on but allows {op}", window.name);
                self.note(text);
                continue;
            }
            self.note(format!("freeze {} is on", window.name));
            return stop(Verdict::Escalate, format!("freeze: {}", window.name));
        }
        if !self.policy.freeze.is_empty() {
            self.note("freeze: no window on now");
        }
        Ok(())
    }

    fn budgets(&mut self) -> Result<(), Stop> {
        let budgets = &self.policy.budgets;
        let ctx = self.ctx;
        if ctx.in_flight >= budgets.concurrent_actions {
            return stop(
                Verdict::Escalate,
                format!(
                    "budget: {} actions in flight (limit {})",
                    ctx.in_flight, budgets.concurrent_actions
                ),
            );
        }
        self.note(format!(
            "in flight: {} of {} actions",
            ctx.in_flight, budgets.concurrent_actions
        ));

        let key = self.budget_key();
        let since = ctx.now.checked_sub_signed(TimeDelta::hours(1));
        let done = ctx
            .history
            .recent
            .iter()
            .filter(|p| since.is_none_or(|since| p.at > since))
            .count();
        let limit = usize::try_from(budgets.actions_per_target_per_hour).unwrap_or(usize::MAX);
        if done >= limit {
            return stop(
                Verdict::Escalate,
                format!("budget: {done} actions on {key} in the last hour"),
            );
        }
        self.note(format!(
            "budget: {done} of {limit} actions on {key} in the last hour"
        ));

        if let Some(failed_at) = ctx.history.latest_failure() {
            let ago = (ctx.now - failed_at).to_std().unwrap_or(Duration::ZERO);
            let ago_text = format_duration(Duration::from_secs(ago.as_secs()));
            let cooldown = budgets.cooldown_after_failure;
            if ago < cooldown {
                return stop(
                    Verdict::Escalate,
                    format!(
                        "cooldown: last failure {ago_text} ago < {}",
                        format_duration(cooldown)
                    ),
                );
            }
            self.note(format!(
                "cooldown: last failure {ago_text} ago ≥ {}",
                format_duration(cooldown)
            ));
        }
        Ok(())
    }

    /// What budgets and history count against: the owning workload of a pod, else the target.
    fn budget_key(&self) -> String {
        match (&self.plan.action, &self.ctx.target.owner) {
            (Action::RestartPod { .. }, Some(owner)) => owner.locate_key(),
            (action, _) => action
                .target()
                .map(|t| t.locate_key())
                .unwrap_or_else(|| "nothing".to_string()),
        }
    }

    fn blast_radius(&mut self) -> Result<(), Stop> {
        let facts = &self.ctx.target;
        match &self.plan.action {
            Action::Scale { replicas, .. } => {
                let replicas = *replicas;
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
            }
            Action::RestartPod { .. }
            | Action::RolloutRestart { .. }
            | Action::DrainNode { .. } => {
                self.disruption();
            }
            Action::SetResources {
                container, change, ..
            } => match change.limits.get("memory") {
                Some(new_text) => self.memory_change(container, new_text),
                None => self.note("memory limit unchanged"),
            },
            other => self.note(format!("blast radius: not measured for {}", other.name())),
        }
        Ok(())
    }

    /// Share of replicas taken down at once, and the PodDisruptionBudget.
    fn disruption(&mut self) {
        let facts = &self.ctx.target;
        let max_share = self.policy.blast_radius.max_replica_share;
        if facts.ready_replicas == Some(0) {
            self.note("no replica is ready: the action takes nothing away");
        } else {
            match (facts.pods_touched, facts.replicas) {
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
        let evicts = matches!(
            self.plan.action,
            Action::RestartPod { .. } | Action::DrainNode { .. }
        );
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

    /// An action on something other than what the incident is about needs a human.
    fn incident_scope(&mut self) {
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

    fn criticality(&mut self) {
        let rules = &self.policy.criticality;
        let mut found: Vec<(String, super::Criticality)> = Vec::new();
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

    fn history(&mut self) {
        let name = self.plan.action.name();
        if self.ctx.history.failed_before(name) {
            let key = self.budget_key();
            self.at_least(Risk::High, format!("{name} already failed on {key}"));
        } else {
            self.note(format!("history: {name} has not failed here"));
        }
    }

    fn mode(&mut self) -> Stop {
        let (mode, source) = self.effective_mode();
        self.note(format!("mode: {mode} ({source})"));
        let (verdict, rule) = match mode {
            Mode::Observe => (Verdict::Observe, format!("mode: observe ({source})")),
            Mode::DryRun => (Verdict::DryRun, format!("mode: dry-run ({source})")),
            Mode::Approve => (Verdict::NeedsApproval, format!("mode: approve ({source})")),
            Mode::Auto if self.risk == Risk::Low => (
                Verdict::Execute,
                format!("risk: low → execute (mode auto, {source})"),
            ),
            Mode::Auto => (
                Verdict::NeedsApproval,
                format!(
                    "risk: {} → approval (mode auto, {source})",
                    risk_name(self.risk)
                ),
            ),
        };
        Stop { verdict, rule }
    }

    /// A namespaced action follows its namespace's override, else the global mode. A node
    /// action follows the global mode, made stricter (never bolder) by the override of any
    /// namespace with pods on the node.
    fn effective_mode(&self) -> (Mode, String) {
        if !self.scope.cluster_scoped {
            return self
                .policy
                .mode_for(self.scope.namespaces.first().map(String::as_str));
        }
        let mut mode = self.policy.mode;
        let mut source = "global".to_string();
        for ns in &self.scope.namespaces {
            if let Some(m) = self.policy.namespace_modes.get(ns)
                && *m < mode
            {
                mode = *m;
                source = format!("namespace {ns} on the node");
            }
        }
        (mode, source)
    }
}

/// A target with an empty namespace or name, which would match nothing or everything.
fn has_empty_name(target: &ResourceRef) -> bool {
    match target {
        ResourceRef::Workload {
            kind,
            namespace,
            name,
        } => kind.trim().is_empty() || namespace.trim().is_empty() || name.trim().is_empty(),
        ResourceRef::Pod { namespace, name } | ResourceRef::Service { namespace, name } => {
            namespace.trim().is_empty() || name.trim().is_empty()
        }
        ResourceRef::Node { name } => name.trim().is_empty(),
        ResourceRef::External { host_port } => host_port.trim().is_empty(),
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
