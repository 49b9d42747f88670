//! After the best signature is chosen: what the past says about its plans (similar incidents,
//! attempts already made on this one), and honesty about thin evidence.

use serde_json::Value;

use super::facts::Facts;
use super::finding::{Finding, clamp};
use crate::ActionName;
use crate::action::Action;
use crate::analysis::Plan;
use crate::incident::{TimelineEntry, TimelineKind};
use crate::resource::ResourceRef;

/// Past incidents need at least this similarity to count.
const MIN_SIMILARITY: f64 = 0.5;
/// A plan already tried here keeps this share of its confidence.
const TRIED_FACTOR: f64 = 0.35;
/// An infra-changing plan below this after a failed attempt yields to escalation.
const RETRY_FLOOR: f64 = 0.6;

/// Boosts plans that resolved similar incidents before and lowers those that did not.
pub(crate) fn past_incidents(finding: &mut Finding, facts: &Facts<'_>) {
    let mut changed = false;
    for p in &facts.past {
        if p.similarity < MIN_SIMILARITY || p.category != finding.category.as_str() {
            continue;
        }
        let outcome = p.outcome.to_ascii_lowercase();
        let resolved = outcome == "resolved";
        let failed = outcome == "unresolved" || outcome == "failed";
        let action = p
            .action
            .map(|a| a.split('@').next().unwrap_or(a).trim().to_ascii_lowercase());
        if resolved {
            finding.confidence = clamp(finding.confidence + 0.05 * p.similarity);
        }
        finding.evidence.push(p.id.clone());
        for plan in &mut finding.plans {
            if action.as_deref() != Some(plan.action.name().as_str()) {
                continue;
            }
            if resolved {
                plan.confidence = clamp(plan.confidence + 0.1 * p.similarity);
                finding.notes.push(format!(
                    "past incident {} (similarity {:.2}): {} resolved it; plan confidence raised",
                    p.incident,
                    p.similarity,
                    plan.action.name()
                ));
                changed = true;
            } else if failed {
                plan.confidence = clamp(plan.confidence - 0.2 * p.similarity);
                finding.notes.push(format!(
                    "past incident {} (similarity {:.2}): {} did not resolve it; plan confidence lowered",
                    p.incident,
                    p.similarity,
                    plan.action.name()
                ));
                changed = true;
            }
        }
    }
    finding.evidence.dedup();
    if changed {
        sort_plans(&mut finding.plans);
    }
}

/// An action found in the incident's timeline.
#[derive(Debug, Clone, PartialEq)]
struct Tried {
    name: ActionName,
    /// `namespace/name` or `node/<name>`; `None` when the entry did not say.
    target: Option<String>,
    /// The whole action, when the entry carried it.
    action: Option<Action>,
}

impl Tried {
    fn of(action: &Action) -> Tried {
        Tried {
            name: action.name(),
            target: action.target().map(|t| t.locate_key()),
            action: Some(action.clone()),
        }
    }

    /// A plan that goes further than the attempt (more replicas, a higher limit) is a new
    /// step, not a repeat.
    fn goes_further(&self, plan: &Action) -> bool {
        match (&self.action, plan) {
            (
                Some(Action::Scale {
                    replicas: tried, ..
                }),
                Action::Scale { replicas, .. },
            ) => replicas > tried,
            (
                Some(Action::SetResources { change: tried, .. }),
                Action::SetResources { change, .. },
            ) => {
                let memory = |c: &crate::action::ResourceChange| {
                    c.limits
                        .get("memory")
                        .and_then(|q| crate::units::parse_memory(q).ok())
                };
                matches!((memory(change), memory(tried)), (Some(new), Some(old)) if new > old)
            }
            _ => false,
        }
    }

    fn matches(&self, action: &Action) -> bool {
        if let (ActionName::RolloutRestart, Some(t), Action::RestartPod { namespace, pod }) =
            (self.name, &self.target, action)
        {
            // Restarting one pod is no new idea after restarting them all.
            return t
                .strip_prefix(namespace.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| pod.starts_with(&format!("{name}-")));
        }
        self.name == action.name()
            && !self.goes_further(action)
            && match (&self.target, action.target()) {
                (None, _) => true,
                (Some(t), Some(a)) => *t == a.locate_key(),
                (Some(_), None) => false,
            }
    }
}

/// Infra-changing actions the timeline says were carried out, minus those that were then
/// verified as recovered.
fn tried_actions(history: &[TimelineEntry]) -> Vec<Tried> {
    let mut out: Vec<Tried> = Vec::new();
    let mut last: Option<Tried> = None;
    for e in history {
        match e.kind {
            TimelineKind::Action => {
                if let Some(t) = tried_from_data(&e.data).or_else(|| tried_from_message(&e.message))
                    && t.name.changes_infra()
                {
                    if !out.contains(&t) {
                        out.push(t.clone());
                    }
                    last = Some(t);
                }
            }
            TimelineKind::Verification if recovered(&e.data) => {
                if let Some(t) = last.take() {
                    out.retain(|o| *o != t);
                }
            }
            _ => {}
        }
    }
    out
}

fn recovered(data: &Value) -> bool {
    data.get("recovered").and_then(Value::as_bool) == Some(true)
        || data
            .get("outcome")
            .and_then(Value::as_str)
            .is_some_and(|o| {
                o.eq_ignore_ascii_case("resolved") || o.eq_ignore_ascii_case("recovered")
            })
}

fn tried_from_data(data: &Value) -> Option<Tried> {
    let nested = [
        Some(data),
        data.get("action"),
        data.get("plan").and_then(|p| p.get("action")),
    ];
    for v in nested.into_iter().flatten() {
        if v.is_object()
            && let Ok(action) = serde_json::from_value::<Action>(v.clone())
        {
            return Some(Tried::of(&action));
        }
    }
    let name = data.get("action")?.as_str()?.parse::<ActionName>().ok()?;
    let target = data.get("target").and_then(|t| match t {
        Value::String(s) => Some(target_key(s)),
        other => serde_json::from_value::<ResourceRef>(other.clone())
            .ok()
            .map(|r| r.locate_key()),
    });
    Some(Tried {
        name,
        target,
        action: None,
    })
}

/// `rollout-restart deployment/shop/checkout: done`.
fn tried_from_message(message: &str) -> Option<Tried> {
    let mut words = message.split_whitespace();
    let name = words
        .next()?
        .trim_end_matches([':', ','])
        .parse::<ActionName>()
        .ok()?;
    let target = words
        .next()
        .map(|w| w.trim_end_matches([':', ',']))
        .and_then(|w| w.parse::<ResourceRef>().ok())
        .map(|r| r.locate_key());
    Some(Tried {
        name,
        target,
        action: None,
    })
}

fn target_key(s: &str) -> String {
    s.parse::<ResourceRef>()
        .map(|r| r.locate_key())
        .unwrap_or_else(|_| s.to_string())
}

/// Plans the timeline shows were already carried out without recovery go down the ranking;
/// when nothing credible is left, escalation goes first.
pub(crate) fn attempts(finding: &mut Finding, history: &[TimelineEntry]) {
    let tried = tried_actions(history);
    if tried.is_empty() {
        return;
    }
    let mut demoted = Vec::new();
    for plan in &mut finding.plans {
        if !plan.action.changes_infra() {
            continue;
        }
        if tried.iter().any(|t| t.matches(&plan.action)) {
            plan.confidence = clamp(plan.confidence * TRIED_FACTOR);
            plan.rationale = format!(
                "already tried on this incident without recovery; {}",
                plan.rationale
            );
            demoted.push(describe(&plan.action));
        }
    }
    if demoted.is_empty() {
        return;
    }
    sort_plans(&mut finding.plans);
    let credible = finding
        .plans
        .first()
        .is_some_and(|p| p.action.changes_infra() && p.confidence >= RETRY_FLOOR);
    if !credible {
        let reason = format!(
            "{} did not resolve it; a person must take over",
            demoted.join(" and ")
        );
        let escalation = match finding
            .plans
            .iter()
            .position(|p| matches!(p.action, Action::Escalate { .. }))
        {
            Some(i) => {
                let mut p = finding.plans.remove(i);
                p.confidence = p.confidence.max(RETRY_FLOOR);
                p.rationale = format!("{reason}; {}", p.rationale);
                p
            }
            None => Plan {
                action: Action::Escalate {
                    reason: reason.clone(),
                },
                confidence: RETRY_FLOOR,
                rationale: reason.clone(),
                expected_outcome:
                    "a person takes the incident with the diagnosis and the attempts attached"
                        .into(),
            },
        };
        finding.plans.insert(0, escalation);
    }
    finding.notes.push(format!(
        "re-analysis: {} already tried without recovery; not proposed first",
        demoted.join(", ")
    ));
}

fn describe(action: &Action) -> String {
    match action.target() {
        Some(t) => format!("{} of {}", action.name(), t.locate_key()),
        None => action.name().to_string(),
    }
}

/// Thin evidence never yields confident answers: cap confidences and put an escalation in
/// the first two plans when the diagnosis is unsure.
pub(crate) fn honesty(finding: &mut Finding, facts: &Facts<'_>) {
    if !facts.has_direct_evidence() {
        finding.confidence = finding.confidence.min(0.45);
    }
    let ceiling = clamp(finding.confidence + 0.05);
    for plan in &mut finding.plans {
        if plan.action.changes_infra() && plan.confidence > ceiling {
            plan.confidence = ceiling;
        }
    }
    if finding.confidence >= 0.5 {
        return;
    }
    // An unsure first remedy yields the top spot to a person; otherwise escalation only
    // has to be among the first two.
    let unsure_first = finding
        .plans
        .first()
        .is_none_or(|p| p.action.changes_infra() && p.confidence < 0.5);
    let limit = if unsure_first { 1 } else { 2 };
    let near_top = finding
        .plans
        .iter()
        .take(limit)
        .any(|p| matches!(p.action, Action::Escalate { .. }));
    if near_top {
        return;
    }
    let escalation = match finding
        .plans
        .iter()
        .position(|p| matches!(p.action, Action::Escalate { .. }))
    {
        Some(i) => finding.plans.remove(i),
        None => Plan {
            action: Action::Escalate {
                reason: "the evidence is too thin to act on with confidence".into(),
            },
            confidence: finding.confidence,
            rationale: "the diagnosis rests on little evidence".into(),
            expected_outcome: "a person checks the diagnosis before anything changes".into(),
        },
    };
    let at = usize::from(!unsure_first);
    finding
        .plans
        .insert(at.min(finding.plans.len()), escalation);
    finding.notes.push(format!(
        "low confidence ({:.2}): escalation ranked near the top",
        finding.confidence
    ));
}

/// Best first; equal confidences keep their order.
fn sort_plans(plans: &mut [Plan]) {
    plans.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn entry(kind: TimelineKind, message: &str, data: Value) -> TimelineEntry {
        TimelineEntry {
            at: Utc::now(),
            kind,
            message: message.into(),
            data,
        }
    }

    #[test]
    fn tried_actions_from_several_shapes() {
        let restart = Action::RolloutRestart {
            target: ResourceRef::deployment("shop", "checkout"),
        };
        let history = vec![
            entry(
                TimelineKind::Action,
                "done",
                serde_json::to_value(&restart).unwrap(),
            ),
            entry(
                TimelineKind::Action,
                "done",
                json!({"action": "restart-pod", "target": "pod/shop/checkout-abc-12345"}),
            ),
            entry(
                TimelineKind::Action,
                "scale deployment/shop/cart: ok",
                json!(null),
            ),
            entry(
                TimelineKind::Action,
                "escalate",
                json!({"action": "escalate"}),
            ),
        ];
        let tried = tried_actions(&history);
        assert_eq!(tried.len(), 3);
        assert!(tried[0].matches(&restart));
        assert_eq!(tried[1].target.as_deref(), Some("shop/checkout-abc-12345"));
        assert_eq!(tried[2].name, ActionName::Scale);
    }

    #[test]
    fn a_recovered_attempt_is_not_held_against_the_plan() {
        let history = vec![
            entry(
                TimelineKind::Action,
                "ok",
                json!({"action": {"action": "cordon-node", "node": "n1"}}),
            ),
            entry(
                TimelineKind::Verification,
                "recovered",
                json!({"recovered": true}),
            ),
        ];
        assert!(tried_actions(&history).is_empty());
    }
}
