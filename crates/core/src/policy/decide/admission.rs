//! The rules that stop a plan before any limit is weighed: parameters no cluster would accept,
//! forbidden operations, excluded targets, and too little confidence.

use super::{Evaluation, Stop, num, stop};
use crate::action::Action;
use crate::decision::Verdict;
use crate::policy::operation::Operation;
use crate::resource::ResourceRef;
use crate::units::{parse_cpu, parse_memory};

impl Evaluation<'_> {
    /// Parameters no cluster would accept, or that would do something no remedy does.
    pub(super) fn validity(&mut self) -> Result<(), Stop> {
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

    pub(super) fn forbidden(&mut self) -> Result<(), Stop> {
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

    pub(super) fn exclusion(&mut self) -> Result<(), Stop> {
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

    pub(super) fn confidence(&mut self) -> Result<(), Stop> {
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
}

/// A target with an empty namespace or name, which would match nothing or everything.
fn has_empty_name(target: &ResourceRef) -> bool {
    match target {
        ResourceRef::Workload {
            namespace, name, ..
        }
        | ResourceRef::Pod { namespace, name }
        | ResourceRef::Service { namespace, name } => {
            namespace.trim().is_empty() || name.trim().is_empty()
        }
        ResourceRef::Node { name } => name.trim().is_empty(),
        ResourceRef::External { host_port } => host_port.trim().is_empty(),
        // A storm is a group of signals, and an object outside the catalogue's kinds is only
        // evidence: neither is something an action can change.
        ResourceRef::Storm { .. } | ResourceRef::Object { .. } => true,
    }
}
