//! A dependency its callers cannot reach is the root cause: restart it, scale it back, or
//! escalate when it is outside the cluster.

use crate::Category;
use crate::action::Action;
use crate::resource::{ResourceRef, WorkloadKind};
use crate::rules::facts::{ContainerFact, Facts};
use crate::rules::finding::{Cites, Finding, count};

use super::*;

/// Callers log connection failures naming a dependency: the dependency is the root cause.
pub(super) fn unavailable(facts: &Facts<'_>, c: &Candidate) -> Option<Finding> {
    let target = &c.target;
    if matches!(target, ResourceRef::Workload { .. })
        && facts.object_of(target).and_then(|o| o.replicas) == Some(0)
    {
        // Scaled to zero: its own signature.
        return None;
    }
    let mut cites = Cites::default();
    cites.extend(c.cites.ids());
    let callers = if c.callers.is_empty() {
        "its callers".to_string()
    } else {
        c.callers.join(", ")
    };
    let mut confidence = 0.45;
    if c.error_lines >= 3 {
        confidence += 0.15;
    }
    if !c.callers.is_empty() {
        confidence += 0.1;
    }
    if c.callers.len() >= 2 {
        confidence += 0.05;
    }
    let sample = c
        .sample
        .as_ref()
        .map(|s| format!("; \"{s}\""))
        .unwrap_or_default();

    if let ResourceRef::External { host_port } = target {
        if c.collected {
            confidence += 0.1;
        }
        let callers_run = caller_processes_run(facts, &c.callers);
        if callers_run {
            confidence += 0.05;
        }
        let symptom = if c.error_lines == 0 {
            format!("{callers} alert")
        } else {
            format!("{callers} log {} errors reaching it", c.error_lines)
        };
        let summary = format!("{host_port} (outside the cluster) is failing: {symptom}{sample}");
        return Some(
            Finding::new(Category::DependencyUnavailable, target.clone(), confidence, summary, cites)
                .escalate(
                    confidence,
                    &format!(
                        "{host_port} is outside the cluster; nothing in the catalogue fixes it, only the end of its outage does: a person should follow the provider's status and fail over if possible"
                    ),
                )
                .plan(
                    Action::None {
                        reason: format!("waiting for {host_port} to recover"),
                    },
                    0.4,
                    "changing the callers (restart, rollback, scale) does not bring the dependency back",
                    "the callers recover by themselves when the dependency answers again",
                ),
        );
    }

    let pods = dependency_pods(facts, target);
    cites.extend(pods.iter().map(|p| p.id));
    let object = facts.object_of(target);
    if let Some(o) = object {
        cites.add(o.id);
    }
    let not_ready: Vec<&&ContainerFact<'_>> = pods.iter().filter(|p| !p.ready).collect();
    let down = c.ready_endpoints == Some(0)
        || object.is_some_and(|o| o.ready == Some(0) || o.available == Some(0))
        || (!pods.is_empty() && not_ready.len() == pods.len());
    let healthy = c.ready_endpoints.is_some_and(|n| n > 0) && not_ready.is_empty();
    if down {
        confidence += 0.15;
    }
    if healthy {
        confidence -= 0.2;
    }
    let running_not_answering = not_ready
        .iter()
        .any(|p| p.running() && !p.crash_looping(facts.now));
    if down && running_not_answering {
        // Its process runs but nothing answers, while others need it: the classic outage.
        confidence += 0.05;
    }
    let state = if healthy {
        "reports ready endpoints".to_string()
    } else if running_not_answering {
        format!(
            "{} running but not answering",
            count(not_ready.len(), "pod")
        )
    } else if !not_ready.is_empty() {
        format!("{} not ready", count(not_ready.len(), "pod"))
    } else if c.ready_endpoints == Some(0) {
        "has no ready endpoints".to_string()
    } else {
        "state unknown".to_string()
    };
    let symptom = if c.error_lines == 0 {
        format!("{callers} alert while it does not answer")
    } else {
        format!(
            "{callers} fail to reach {} ({} error lines)",
            c.host_port, c.error_lines
        )
    };
    let summary = format!("{target} is unavailable ({state}): {symptom}{sample}");
    let finding = Finding::new(
        Category::DependencyUnavailable,
        target.clone(),
        confidence,
        summary,
        cites,
    );
    if healthy {
        return Some(finding.escalate(
            0.5,
            &format!(
                "callers cannot reach {} although it reports ready endpoints: a network policy, DNS or the callers' configuration; a person must look",
                c.host_port
            ),
        ));
    }
    match target {
        ResourceRef::Workload { .. } if pods.is_empty() && object.is_none() => {
            // Nothing of the dependency is in the evidence: it may be down, scaled to zero or
            // gone, and a restart would be a guess.
            Some(
                finding
                    .escalate(
                        confidence - 0.1,
                        &format!(
                            "{target} does not answer and none of its pods are in the evidence; a person must check whether it runs at all"
                        ),
                    )
                    .plan(
                        Action::RolloutRestart {
                            target: target.clone(),
                        },
                        confidence - 0.2,
                        &format!("if {target} runs but hangs, a restart brings it back"),
                        &format!("{target} Ready again, its callers Ready"),
                    )
                    .note(format!("no pod or object of {target} in the evidence")),
            )
        }
        ResourceRef::Workload { namespace, kind, .. } => {
            // A StatefulSet (OrderedReady) does not roll past a pod that is not Ready: restart
            // the pods that do not answer instead of a rolling restart that would wait forever.
            let ordered = *kind == WorkloadKind::StatefulSet;
            let mut finding = finding;
            if ordered {
                for (i, p) in not_ready.iter().enumerate() {
                    finding = finding.plan(
                        Action::RestartPod {
                            namespace: namespace.clone(),
                            pod: p.pod.to_string(),
                        },
                        confidence - 0.02 * i as f64,
                        &format!(
                            "{} does not answer, and a StatefulSet does not roll past a pod that is not Ready",
                            p.pod
                        ),
                        &format!("the replacement of {} becomes Ready, its callers with it", p.pod),
                    );
                }
            }
            let mut finding = finding.plan(
                Action::RolloutRestart {
                    target: target.clone(),
                },
                if ordered { confidence - 0.15 } else { confidence },
                &format!(
                    "{target} stopped answering while its process runs; a restart brings it back and its callers with it"
                ),
                &format!("{target} Ready again, its callers Ready, no more connection errors"),
            );
            if let Some(p) = not_ready.first().filter(|_| !ordered) {
                finding = finding.plan(
                    Action::RestartPod {
                        namespace: namespace.clone(),
                        pod: p.pod.to_string(),
                    },
                    confidence - 0.1,
                    &format!("{} is the replica that does not answer", p.pod),
                    &format!("the replacement of {} becomes Ready", p.pod),
                );
            }
            Some(finding.escalate(
                0.4,
                "if it does not recover after a restart, a person must look at the dependency itself",
            ))
        }
        _ => Some(
            finding
                .escalate(
                    (confidence - 0.2).max(0.3),
                    &format!(
                        "{target} does not answer and the workload behind it is not in the evidence; a person must restart it"
                    ),
                )
                .note(format!("no workload found behind {target}: cannot target a restart")),
        ),
    }
}

/// Whether the callers' own containers run (not crash looping): the fault is not theirs.
pub(super) fn caller_processes_run(facts: &Facts<'_>, callers: &[String]) -> bool {
    let mut seen = false;
    for c in &facts.containers {
        let Some(owner) = &c.owner else { continue };
        if callers.contains(&owner.locate_key()) {
            seen = true;
            if c.crash_looping(facts.now) {
                return false;
            }
        }
    }
    seen
}
