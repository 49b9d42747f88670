//! Registered runbooks as plans: after analysis, every runbook whose `match` fits the
//! diagnosis (its category, and the labels of the root cause when it names labels) and whose
//! targets allow the root cause is added to the plans, ranked with the analyzer's own:
//!
//! - a runbook written for this workload (its `match` names labels the root cause carries)
//!   goes first: someone wrote down what to do for exactly this;
//! - a runbook written for the category alone goes after the analyzer's infra-changing plans
//!   and before any escalation or deliberate inaction.
//!
//! A runbook already run for this incident is not proposed again. The policy still judges
//! each plan; proposing one only puts it on the list.

use std::collections::BTreeMap;

use super::{RunbookKind, RunbookRegistry, RunbookSpec, selector_text};
use crate::action::Action;
use crate::analysis::{Analysis, Plan};

/// Share of the diagnosis's confidence a runbook for the category alone gets.
const GENERIC_FACTOR: f64 = 0.9;

/// Adds the plans of the runbooks in `registry` that fit `analysis`'s diagnosis, whose root
/// cause carries `labels`; `already_run` names runbooks this incident already ran. Returns the
/// names of the runbooks proposed. With an empty registry nothing changes.
pub fn propose(
    analysis: &mut Analysis,
    registry: &RunbookRegistry,
    labels: &BTreeMap<String, String>,
    already_run: &[String],
) -> Vec<String> {
    let d = &analysis.diagnosis;
    let target = d.root_cause.clone();
    let mut specific = Vec::new();
    let mut generic = Vec::new();
    for spec in registry.iter() {
        if !spec.matches.fits(d.category, labels)
            || spec.targets.refuses(&target, labels).is_some()
            || already_run.contains(&spec.name)
        {
            continue;
        }
        let (confidence, list) = if spec.matches.is_specific() {
            (d.confidence, &mut specific)
        } else {
            (d.confidence * GENERIC_FACTOR, &mut generic)
        };
        list.push(Plan {
            action: Action::RunRunbook {
                name: spec.name.clone(),
                target: target.clone(),
            },
            confidence,
            rationale: rationale(spec, d.category.as_str(), &target.locate_key()),
            expected_outcome: format!(
                "{} recovers as after any remedy for {}",
                target.locate_key(),
                d.category
            ),
        });
    }
    let names: Vec<String> = specific
        .iter()
        .chain(&generic)
        .filter_map(|p| match &p.action {
            Action::RunRunbook { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return names;
    }
    let after_infra = analysis
        .plans
        .iter()
        .position(|p| !p.action.changes_infra())
        .unwrap_or(analysis.plans.len());
    let tail = analysis.plans.split_off(after_infra);
    analysis.plans.extend(generic);
    analysis.plans.extend(tail);
    let rest = std::mem::take(&mut analysis.plans);
    analysis.plans = specific;
    analysis.plans.extend(rest);
    analysis.notes.push(format!(
        "registered runbooks that fit {}: {}",
        analysis.diagnosis.category,
        names.join(", ")
    ));
    names
}

fn rationale(spec: &RunbookSpec, category: &str, target: &str) -> String {
    let what = match &spec.kind {
        RunbookKind::Actions(steps) => {
            let names: Vec<&str> = steps.iter().map(|s| s.action.as_str()).collect();
            format!("runs {}", names.join(" then "))
        }
        RunbookKind::Job(job) => format!("runs a Job of {}", job.image),
    };
    let written_for = if spec.matches.is_specific() {
        format!(
            "{category} on workloads labelled {}",
            selector_text(&spec.matches.labels)
        )
    } else {
        category.to_string()
    };
    let description = if spec.description.is_empty() {
        String::new()
    } else {
        format!(" ({})", spec.description)
    };
    format!(
        "registered runbook {}{description} is written for {written_for}; it {what} on {target}",
        spec.name
    )
}
