//! When nothing needs doing: an error burst that is over, no anomaly at all, and the honest
//! low-confidence answer when the evidence is too thin to tell.

use chrono::Duration;

use super::facts::{Facts, MetricFact, MetricKind, ROLLOUT_WINDOW_MINUTES, SignalFact};
use super::finding::{Cites, Finding};
use super::patterns;
use crate::Category;
use crate::action::Action;
use crate::resource::ResourceRef;

/// The transient signature over the workloads under examination.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    facts
        .subjects()
        .iter()
        .filter_map(|w| transient(facts, w))
        .collect()
}

fn none(reason: &str) -> Action {
    Action::None {
        reason: reason.to_string(),
    }
}

/// An error ratio that spiked and came back down, with nothing crashing, restarting or
/// newly rolled out: deliberately do nothing.
fn transient(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let now = facts.now;
    let metric = facts
        .metrics_of(w, MetricKind::ErrorRatio)
        .into_iter()
        .max_by(|a, b| a.max.total_cmp(&b.max));
    let error_signals: Vec<&SignalFact<'_>> = facts
        .signals_of(w)
        .into_iter()
        .filter(|s| {
            let n = s.name.to_ascii_lowercase();
            n.contains("error") || n.contains("5xx")
        })
        .collect();
    let error_lines: usize = facts
        .logs_of(w)
        .iter()
        .map(|l| l.lines.iter().filter(|line| patterns::is_5xx(line)).count())
        .sum();
    if metric.is_none() && error_signals.is_empty() && error_lines == 0 {
        return None;
    }
    let containers = facts.containers_of(w);
    if containers
        .iter()
        .any(|c| c.failing(now) || c.recently_restarted(now))
    {
        return None;
    }
    let recent_rollout = facts
        .rollout_of(w)
        .and_then(|r| r.newest().zip(r.previous()))
        .and_then(|(n, _)| n.created_at)
        .is_some_and(|c| now - c <= Duration::minutes(ROLLOUT_WINDOW_MINUTES));

    let mut cites = Cites::default();
    cites.extend(containers.iter().map(|c| c.id));
    cites.extend(error_signals.iter().map(|s| s.id));
    let signals_resolved = !error_signals.is_empty() && error_signals.iter().all(|s| !s.firing);
    let (state, base) = match metric {
        Some(m) => {
            cites.add(m.id);
            let current = MetricFact::as_fraction(m.current);
            let peak = MetricFact::as_fraction(m.max).max(current);
            if peak < 0.05 && !signals_resolved {
                // No burst worth the name.
                return None;
            }
            if current <= 0.02_f64.max(0.3 * peak) || signals_resolved {
                (
                    format!(
                        "error ratio peaked at {:.0}% and is back to {:.1}%",
                        peak * 100.0,
                        current * 100.0
                    ),
                    Burst::Ended,
                )
            } else if m.trend_per_minute < 0.0 && current < 0.7 * peak {
                (
                    format!(
                        "error ratio fell from {:.0}% to {:.0}% and keeps falling",
                        peak * 100.0,
                        current * 100.0
                    ),
                    Burst::Ending,
                )
            } else {
                (
                    format!(
                        "error ratio at {:.0}% (peak {:.0}%)",
                        current * 100.0,
                        peak * 100.0
                    ),
                    Burst::Ongoing,
                )
            }
        }
        None if signals_resolved => ("the error alert has resolved".to_string(), Burst::Ended),
        None => (
            format!("{error_lines} 5xx lines in the logs, no error-ratio metric"),
            Burst::Ongoing,
        ),
    };
    for l in facts.logs_of(w) {
        if l.lines.iter().any(|line| patterns::is_5xx(line)) {
            cites.add(l.id);
        }
    }
    let calm = if containers.is_empty() {
        "no container status in the evidence".to_string()
    } else {
        "all pods ready, no restarts".to_string()
    };
    let mut confidence = match base {
        Burst::Ended => 0.7,
        Burst::Ending => 0.6,
        Burst::Ongoing => 0.35,
    };
    if containers.is_empty() {
        confidence -= 0.1;
    }
    if recent_rollout {
        confidence -= 0.2;
    }
    let rollout = if recent_rollout {
        "but a rollout in the last 30m"
    } else {
        "no recent rollout"
    };
    let summary = format!("{w}: short error burst: {state}; {calm}; {rollout}");
    let finding = Finding::new(Category::Transient, w.clone(), confidence, summary, cites);
    Some(match base {
        Burst::Ended | Burst::Ending => finding
            .plan(
                none("the error burst ended by itself; acting now would only add risk"),
                confidence,
                "errors came back down without crashes, restarts or a rollout; nothing needs changing",
                "the error ratio stays at its baseline",
            )
            .escalate(0.35, "if the burst comes back, a person should look for its trigger"),
        Burst::Ongoing => finding
            .escalate(
                0.4,
                "requests fail with no crash, restart, rollout or saturation to explain it; a person must look",
            )
            .plan(
                none("waiting to see whether the errors stop by themselves"),
                0.3,
                "no signature explains the errors, and no catalogue action is known to help",
                "the error ratio falls back to its baseline",
            ),
    })
}

#[derive(Debug, Clone, Copy)]
enum Burst {
    Ended,
    Ending,
    Ongoing,
}

/// The answer when no signature matched: `none` when nothing is wrong, else a low-confidence
/// guess from the alert with an escalation first.
pub(crate) fn fallback(facts: &Facts<'_>) -> Finding {
    let now = facts.now;
    let firing: Vec<&SignalFact<'_>> = facts.signals.iter().filter(|s| s.firing).collect();
    let failing = facts.containers.iter().any(|c| c.failing(now))
        || facts.nodes.iter().any(|n| {
            n.not_ready()
                || n.conditions
                    .iter()
                    .any(|c| c.kind.ends_with("Pressure") && c.status.eq_ignore_ascii_case("true"))
        });
    let root = facts.incident.resource.clone();
    let mut cites = Cites::default();

    if !facts.has_direct_evidence() && facts.signals.is_empty() {
        return Finding::new(
            Category::None,
            root,
            0.2,
            format!("{}: no evidence was collected", facts.incident.resource),
            cites,
        )
        .escalate(0.3, "the evidence bundle is empty; a person must look")
        .plan(
            none("nothing in the evidence to act on"),
            0.2,
            "no evidence, no action",
            "nothing changes",
        );
    }

    if firing.is_empty() && !failing {
        cites.extend(facts.containers.iter().map(|c| c.id));
        cites.extend(facts.signals.iter().map(|s| s.id));
        let confidence = if facts.containers.is_empty() {
            0.5
        } else {
            0.75
        };
        let ready = facts.containers.iter().filter(|c| c.ready).count();
        return Finding::new(
            Category::None,
            root.clone(),
            confidence,
            format!(
                "{root}: no anomaly in the evidence ({ready} of {} containers ready, no firing alert)",
                facts.containers.len()
            ),
            cites,
        )
        .plan(
            none("nothing is wrong"),
            confidence,
            "every signal has resolved and nothing in the evidence is failing",
            "the incident closes with no change",
        );
    }

    // Something fires or fails but matches no signature: say so, and guess from the alert.
    let guess = firing.first().map(|s| (s, guess_from_signal(facts, s)));
    cites.extend(firing.iter().map(|s| s.id));
    cites.extend(
        facts
            .containers
            .iter()
            .filter(|c| c.failing(now))
            .map(|c| c.id),
    );
    let thin = if facts.has_direct_evidence() {
        "the evidence matches no known signature"
    } else {
        "only the alert was collected"
    };
    match guess {
        Some((signal, (category, guessed_root))) => {
            let root = guessed_root.unwrap_or(root);
            let summary = format!(
                "{root}: alert {} is firing but {thin}; the alert alone suggests {category}",
                signal.name
            );
            let mut finding = Finding::new(category, root.clone(), 0.3, summary, cites).escalate(
                0.35,
                &format!(
                    "{thin}: a person must diagnose {root} (alert {})",
                    signal.name
                ),
            );
            if let (Category::NodeNotReady, ResourceRef::Node { name }) = (category, &root) {
                finding = finding.plan(
                    Action::CordonNode { node: name.clone() },
                    0.3,
                    "if the node is really down, keeping new pods off it is safe",
                    "no new pods on the node",
                );
            }
            finding.note(format!("thin evidence: {thin}"))
        }
        None => Finding::new(
            Category::None,
            root.clone(),
            0.25,
            format!("{root}: pods are failing but {thin}"),
            cites,
        )
        .escalate(0.35, &format!("{thin}: a person must diagnose {root}"))
        .note(format!("thin evidence: {thin}")),
    }
}

/// What an alert name alone suggests, and where.
fn guess_from_signal(facts: &Facts<'_>, s: &SignalFact<'_>) -> (Category, Option<ResourceRef>) {
    let name = s.name.to_ascii_lowercase();
    let reason = s.label("reason").unwrap_or_default().to_ascii_lowercase();
    let node = s.label("node").map(ResourceRef::node);
    let workload = s.label("namespace").and_then(|ns| {
        if let Some((kind, n)) = s.workload_label() {
            return Some(facts.resolve_workload(ns, n, kind));
        }
        if let Some(p) = s.label("pod") {
            return facts.owner_of(ns, p);
        }
        s.label("service").map(|svc| {
            facts
                .known_workload(ns, svc)
                .cloned()
                .unwrap_or(ResourceRef::Service {
                    namespace: ns.to_string(),
                    name: svc.to_string(),
                })
        })
    });
    if name.contains("nodenotready") {
        return (Category::NodeNotReady, node.or(workload));
    }
    if name.contains("pressure") {
        let disk = s
            .label("condition")
            .is_some_and(|c| c.eq_ignore_ascii_case("DiskPressure"));
        let category = if disk {
            Category::NodeDiskPressure
        } else {
            Category::None
        };
        return (category, node.or(workload));
    }
    let category = if name.contains("oom") {
        Category::MemoryLimit
    } else if reason.contains("imagepull")
        || name.contains("imagepull")
        || name.contains("errimage")
    {
        Category::ImagePull
    } else if reason.contains("createcontainerconfig") || name.contains("createcontainerconfig") {
        Category::MissingReference
    } else if name.contains("crashloop") {
        Category::Crash
    } else if name.contains("unschedulable") || name.contains("failedscheduling") {
        Category::Scheduling
    } else if name.contains("rolloutstuck") || name.contains("progressdeadline") {
        Category::BadRelease
    } else if name.contains("noendpoints") {
        Category::ScaledToZero
    } else if name.contains("cpusaturated") || name.contains("throttl") || name.contains("latency")
    {
        Category::TrafficSurge
    } else if name.contains("errorrate") || name.contains("5xx") {
        Category::Transient
    } else if name.contains("notready") || name.contains("readiness") {
        Category::Hang
    } else {
        Category::None
    };
    (category, workload.or(node))
}
