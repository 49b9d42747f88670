//! The human summary behind `nightshift policy check FILE`.

use std::fmt::Write;

use crate::units::format_duration;

use super::decide::{num, risk_name};
use super::operation::Operation;
use super::{ANY_NAMESPACE, Mode, Policy};
use crate::decision::Risk;

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

    let r = &p.learning.recurrence;
    if r.limit == 0 {
        writeln!(out, "recurrence: never escalated for coming back")?;
    } else {
        writeln!(
            out,
            "recurrence: after {} remedied incidents of one category on one resource within {}, \
             the next is escalated instead of remedied again",
            r.limit,
            format_duration(r.window)
        )?;
    }

    let pr = &p.promotion;
    writeln!(
        out,
        "promotion: {}; a row earns a mode with {} fates within {} and a success lower bound of \
         {} or more, no harm; ceiling {}{}",
        if pr.auto {
            "rows promote and demote themselves"
        } else {
            "recommended modes only"
        },
        pr.min_samples,
        format_duration(pr.window),
        num(pr.min_lower_bound),
        pr.ceiling,
        pr.namespace_ceilings
            .iter()
            .map(|(ns, m)| format!(", {m} in {ns}"))
            .collect::<String>()
    )?;

    write_approvals(p, out)?;

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

/// Who may answer approvals, and how many distinct approvals each risk class needs.
fn write_approvals(p: &Policy, out: &mut String) -> std::fmt::Result {
    let a = &p.approvals;
    if a.rules.is_empty() {
        writeln!(
            out,
            "approvers: any identity with the approver or admin role (within its token's \
             namespaces)"
        )?;
    } else {
        writeln!(
            out,
            "approvers (where a rule applies, only the identities it lists answer):"
        )?;
        for (i, rule) in a.rules.iter().enumerate() {
            let members: Vec<String> = a.members(rule).into_iter().collect();
            let mut via = Vec::new();
            if !rule.users.is_empty() {
                via.push(format!("users {}", rule.users.join(", ")));
            }
            if !rule.groups.is_empty() {
                via.push(format!("groups {}", rule.groups.join(", ")));
            }
            writeln!(
                out,
                "  approvers[{i}] {}: {} ({})",
                rule.describe_scope(),
                members.join(", "),
                via.join("; ")
            )?;
        }
        let any_ns = a
            .rules
            .iter()
            .any(|r| r.namespaces.iter().any(|n| n == ANY_NAMESPACE));
        if !any_ns {
            writeln!(
                out,
                "  namespaces no rule names: any identity with the approver or admin role"
            )?;
        }
        if !a.rules.iter().any(|r| r.cluster) {
            writeln!(
                out,
                "  incidents with no namespace (nodes): any identity with the approver or admin \
                 role"
            )?;
        }
    }
    if !a.groups.is_empty() {
        writeln!(out, "approver groups:")?;
        for (name, members) in &a.groups {
            writeln!(out, "  {name}: {}", members.join(", "))?;
        }
    }
    let counts: Vec<String> = [Risk::Low, Risk::Medium, Risk::High]
        .into_iter()
        .map(|r| format!("{} {}", risk_name(r), a.required(Some(r))))
        .collect();
    writeln!(
        out,
        "min_approvers: {} (distinct approvals before a plan runs; any rejection rejects)",
        counts.join(", ")
    )
}

/// Settings that are valid but probably not what was meant.
fn warnings(p: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    let a = &p.approvals;
    // Where the rules apply, with everyone who may answer there (rules naming the same
    // namespace add up).
    let mut scopes: Vec<(String, usize)> = Vec::new();
    let named: std::collections::BTreeSet<&str> = a
        .rules
        .iter()
        .flat_map(|r| r.namespaces.iter().map(String::as_str))
        .filter(|n| *n != ANY_NAMESPACE)
        .collect();
    for ns in named {
        if let Some(approvers) = a.approvers_for(Some(ns)) {
            scopes.push((format!("namespace {ns}"), approvers.identities.len()));
        }
    }
    let wildcard: std::collections::BTreeSet<String> = a
        .rules
        .iter()
        .filter(|r| r.namespaces.iter().any(|n| n == ANY_NAMESPACE))
        .flat_map(|r| a.members(r))
        .collect();
    if a.rules
        .iter()
        .any(|r| r.namespaces.iter().any(|n| n == ANY_NAMESPACE))
    {
        scopes.push(("namespaces no rule names".to_string(), wildcard.len()));
    }
    if let Some(approvers) = a.approvers_for(None) {
        scopes.push((
            "incidents with no namespace".to_string(),
            approvers.identities.len(),
        ));
    }
    for (scope, members) in scopes {
        for (risk, &needed) in &a.min_approvers {
            if needed as usize > members {
                out.push(format!(
                    "min_approvers.{} is {needed} but only {members} identit{} may answer in \
                     {scope}: {} risk plans there can never be approved",
                    risk_name(*risk),
                    if members == 1 { "y" } else { "ies" },
                    risk_name(*risk),
                ));
            }
        }
    }
    for name in a.groups.keys() {
        if !a.rules.iter().any(|r| r.groups.contains(name)) {
            out.push(format!(
                "approver group {name} is used by no approvers rule"
            ));
        }
    }
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
