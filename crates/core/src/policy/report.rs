//! The human summary behind `nightshift policy check FILE`.

use std::fmt::Write;

use crate::units::format_duration;

use super::decide::{num, risk_name};
use super::operation::Operation;
use super::{Mode, Policy};

pub(super) fn render(policy: &Policy) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(policy, &mut out);
    out
}

fn write_report(p: &Policy, out: &mut String) -> std::fmt::Result {
    writeln!(out, "policy {}: valid", p.origin)?;
    writeln!(out, "mode: {} (everywhere without an override)", p.mode)?;
    for (ns, mode) in &p.namespace_modes {
        writeln!(out, "  namespace {ns}: {mode}")?;
    }
    writeln!(
        out,
        "min_confidence: {} (less sure plans are escalated)",
        num(p.min_confidence)
    )?;
    writeln!(
        out,
        "approval_timeout: {} (then escalated)",
        format_duration(p.approval_timeout)
    )?;

    writeln!(out, "actions (base risk and limits):")?;
    for (name, rule) in &p.actions {
        let mut line = format!("  {:<16} risk {}", name.as_str(), risk_name(rule.risk));
        if let Some(max) = rule.max_replicas {
            line.push_str(&format!(", at most {max} replicas"));
        }
        if let Some(step) = rule.max_step_factor {
            line.push_str(&format!(", steps of at most {}x", num(step)));
        }
        if let Some(factor) = rule.max_memory_factor {
            line.push_str(&format!(
                ", memory raised more than {}x is high risk",
                num(factor)
            ));
        }
        writeln!(out, "{line}")?;
    }

    writeln!(out, "forbidden (never runs, in any mode):")?;
    for rule in &p.forbidden {
        if rule.namespaces.is_empty() {
            writeln!(out, "  {}", rule.operation)?;
        } else {
            writeln!(
                out,
                "  {} in namespaces {}",
                rule.operation,
                rule.namespaces.join(", ")
            )?;
        }
    }
    if !p
        .forbidden
        .iter()
        .any(|r| r.operation == Operation::ScaleToZero && r.namespaces.is_empty())
    {
        writeln!(out, "  scale-to-zero (always, built in)")?;
    }
    writeln!(
        out,
        "excluded: resources labelled {}=true are never touched",
        p.exclude_label
    )?;

    if !p.criticality.namespaces.is_empty() || !p.criticality.labels.is_empty() {
        writeln!(
            out,
            "criticality (raises risk one level per step above low):"
        )?;
        for (ns, level) in &p.criticality.namespaces {
            writeln!(out, "  namespace {ns}: {}", level.as_str())?;
        }
        for (selector, level) in &p.criticality.labels {
            writeln!(out, "  label {selector}: {}", level.as_str())?;
        }
    }

    let b = &p.budgets;
    writeln!(
        out,
        "budgets: {} actions per target per hour, {} at once, {} cooldown after a failure",
        b.actions_per_target_per_hour,
        b.concurrent_actions,
        format_duration(b.cooldown_after_failure)
    )?;
    writeln!(
        out,
        "blast radius: a restart or drain taking down more than {}% of replicas at once, or \
         against a PodDisruptionBudget with no disruptions left, is high risk",
        num(p.blast_radius.max_replica_share * 100.0)
    )?;

    if p.freeze.is_empty() {
        writeln!(out, "freeze windows: none")?;
    } else {
        writeln!(out, "freeze windows (infra changes are escalated):")?;
        for window in &p.freeze {
            writeln!(out, "  {}", window.describe())?;
        }
    }

    let warnings = warnings(p);
    if warnings.is_empty() {
        writeln!(out, "warnings: none")?;
    } else {
        writeln!(out, "warnings:")?;
        for w in warnings {
            writeln!(out, "  - {w}")?;
        }
    }
    Ok(())
}

/// Settings that are valid but probably not what was meant.
fn warnings(p: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    if p.budgets.actions_per_target_per_hour == 0 {
        out.push(
            "budgets.actions_per_target_per_hour is 0: every infra-changing plan is escalated"
                .to_string(),
        );
    }
    if p.budgets.concurrent_actions == 0 {
        out.push(
            "budgets.concurrent_actions is 0: every infra-changing plan is escalated".to_string(),
        );
    }
    if p.min_confidence < 0.5 {
        out.push(format!(
            "min_confidence {} lets plans run that are more likely wrong than right",
            num(p.min_confidence)
        ));
    }
    for ns in ["kube-system", "kube-public", "kube-node-lease"] {
        let mode = p.namespace_modes.get(ns).copied().unwrap_or(p.mode);
        if mode == Mode::Auto {
            out.push(format!(
                "namespace {ns} runs in auto mode; consider observe or approve for system namespaces"
            ));
        }
    }
    if p.budgets.cooldown_after_failure.is_zero() {
        out.push(
            "budgets.cooldown_after_failure is 0: a failed action may be retried at once"
                .to_string(),
        );
    }
    out
}
