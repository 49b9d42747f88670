//! Signatures where the root cause is something the incident's workload calls: a dependency
//! that stopped answering, or a workload someone scaled to zero.
//!
//! `candidates` gathers the dependencies callers fail to reach (from logs, dependency items
//! and the callers' alerts) and follows chains to the deepest; `unavailable` judges each.

mod candidates;
mod unavailable;

use candidates::*;
use unavailable::*;

use super::facts::{Facts, MetricKind, name_of};
use super::finding::{Cites, Finding};
use super::patterns;
use crate::Category;
use crate::action::Action;
use crate::resource::ResourceRef;

/// Replicas to restore when nothing tells how many there were.
const DEFAULT_REPLICAS: i32 = 2;

/// Dependency signatures over the whole bundle.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out: Vec<Finding> = follow_chains(candidates(facts))
        .iter()
        .filter_map(|c| unavailable(facts, c))
        .collect();
    out.extend(scaled_to_zero(facts));
    out
}

/// A workload with zero desired replicas while callers fail to reach it: scale it back.
fn scaled_to_zero(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in &facts.objects {
        if !o.is_workload() || o.replicas != Some(0) {
            continue;
        }
        let Some(w) = facts.workload_of_ref(o.resource) else {
            continue;
        };
        let (Some(ns), Some(name)) = (w.namespace(), name_of(&w)) else {
            continue;
        };
        let mut cites = Cites::default();
        cites.add(o.id);

        // Who misses it.
        let mut callers: Vec<String> = Vec::new();
        let mut caller_errors: usize = 0;
        for c in candidates(facts) {
            let same = c.target == w
                || matches!(&c.target, ResourceRef::Service { namespace, name: n } if namespace == ns && n == name);
            if same {
                caller_errors = caller_errors.saturating_add(c.error_lines);
                cites.extend(c.cites.ids());
                for caller in c.callers {
                    if !callers.contains(&caller) {
                        callers.push(caller);
                    }
                }
            }
        }
        let no_endpoints_alert = facts.signals.iter().find(|s| {
            s.firing
                && s.label("service") == Some(name)
                && s.label("namespace").is_none_or(|n| n == ns)
                && {
                    let n = s.name.to_ascii_lowercase();
                    n.contains("endpoint") || n.contains("caller")
                }
        });
        if let Some(s) = no_endpoints_alert {
            cites.add(s.id);
        }
        let missed = !callers.is_empty() || caller_errors > 0 || no_endpoints_alert.is_some();

        // How many it had.
        let mut before: Option<i32> = None;
        for e in &facts.events {
            if let Some((rs, from)) = patterns::scaled_to_zero(e.message)
                && rs.starts_with(&format!("{name}-"))
                && e.namespace.as_deref().is_none_or(|n| n == ns)
            {
                cites.add(e.id);
                if let Some(n) = from.filter(|n| *n > 0) {
                    before = Some(before.map_or(n, |b| b.max(n)));
                }
            }
        }
        if before.is_none() {
            for m in facts.metrics_of(&w, MetricKind::Replicas) {
                if m.max >= 1.0 && m.max.is_finite() {
                    cites.add(m.id);
                    before = Some(m.max.round() as i32);
                }
            }
        }
        if before.is_none()
            && let Some(r) = facts.rollout_of(&w)
        {
            let max = r
                .revisions
                .iter()
                .map(|rev| rev.replicas)
                .max()
                .unwrap_or(0);
            if max > 0 {
                cites.add(r.id);
                before = Some(max);
            }
        }

        let replicas = before.unwrap_or(DEFAULT_REPLICAS);
        let mut confidence: f64 = 0.55;
        if missed {
            confidence += 0.3;
        } else {
            confidence -= 0.1;
        }
        if before.is_some() {
            confidence += 0.05;
        }
        let who = if callers.is_empty() {
            if no_endpoints_alert.is_some() {
                "its Service has no endpoints while callers keep calling".to_string()
            } else {
                "no caller is seen failing".to_string()
            }
        } else {
            format!("{} fail to reach it", callers.join(", "))
        };
        let count_text = match before {
            Some(n) => format!("it had {n}"),
            None => format!("its earlier count is unknown, {DEFAULT_REPLICAS} is a guess"),
        };
        let summary = format!("{w}: scaled to 0 replicas; {who}; {count_text}");
        let scale = Action::Scale {
            target: w.clone(),
            replicas,
        };
        let rationale = format!("someone scaled {w} to zero and its callers depend on it");
        let outcome = format!("{w} has {replicas} Ready replicas; callers reach it again");
        let plan_confidence = if before.is_some() {
            confidence
        } else {
            confidence.min(0.72)
        };
        let finding = Finding::new(
            Category::ScaledToZero,
            w.clone(),
            confidence,
            summary,
            cites,
        );
        out.push(if missed {
            finding
                .plan(scale, plan_confidence, &rationale, &outcome)
                .escalate(0.4, "if the scale-down was intended, a person must tell the callers")
        } else {
            finding
                .escalate(
                    0.5,
                    "the workload is scaled to zero but nothing shows it is missed; it may be intended",
                )
                .plan(scale, 0.35, &rationale, &outcome)
        });
    }
    out
}
