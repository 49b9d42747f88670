//! Application signatures: a crash in the running image, and a process that stops serving
//! without exiting.

use chrono::Duration;

use super::deploy::clip;
use super::facts::{ContainerFact, Facts, ROLLOUT_WINDOW_MINUTES};
use super::finding::{Cites, Finding, count};
use super::patterns;
use crate::Category;
use crate::action::Action;
use crate::resource::{ResourceRef, WorkloadKind};

/// Application signatures over the workloads under examination.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in facts.subjects() {
        out.extend(crash(facts, &w));
        out.extend(hang(facts, &w));
    }
    out
}

/// Crash looping with a non-OOM exit and a crash in the logs, on a revision that had been
/// running: nothing in the catalogue fixes a bug in the running image, so escalate.
fn crash(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let now = facts.now;
    let liveness_killed: Vec<&str> = facts
        .events_of(w)
        .iter()
        .filter(|e| e.about_pod() && patterns::is_liveness_kill(e.message))
        .map(|e| e.object_name)
        .collect();
    let crashing: Vec<&ContainerFact<'_>> = facts
        .containers_of(w)
        .into_iter()
        .filter(|c| {
            c.crash_looping(now)
                && !c.oom_killed()
                && !c.pull_failing()
                && !c.config_error()
                && (c.exit() != Some(137) || !liveness_killed.contains(&c.pod))
        })
        .collect();
    if crashing.is_empty() {
        return None;
    }
    if facts
        .rollout_tie(w, &crashing, Duration::minutes(ROLLOUT_WINDOW_MINUTES))
        .is_some()
    {
        // It started with a rollout: the bad-release signature rolls it back.
        return None;
    }
    let pods: Vec<&str> = crashing.iter().map(|c| c.pod).collect();
    let logs = facts.logs_of(w);
    let mut ordered: Vec<_> = logs.iter().filter(|l| pods.contains(&l.pod)).collect();
    // Previous containers' logs hold the crash.
    ordered.sort_by_key(|l| !l.previous);
    let crash_line = ordered
        .iter()
        .flat_map(|l| l.lines.iter().map(move |line| (l.id, line)))
        .find(|(_, line)| patterns::is_crash(line));
    let unreachable = ordered
        .iter()
        .flat_map(|l| l.lines.iter())
        .find_map(|line| patterns::connection_failure_target(line));
    let auth = ordered
        .iter()
        .flat_map(|l| l.lines.iter())
        .any(|line| patterns::is_auth_failure(line));

    let mut cites = Cites::default();
    cites.extend(crashing.iter().map(|c| c.id));
    if let Some((id, _)) = crash_line {
        cites.add(id);
    }
    for e in facts.events_of(w) {
        if e.reason == "BackOff" && pods.contains(&e.object_name) {
            cites.add(e.id);
        }
    }
    let rollout = facts.rollout_of(w);
    if let Some(r) = rollout {
        cites.add(r.id);
    }

    let mut exits: Vec<i32> = crashing.iter().filter_map(|c| c.exit()).collect();
    exits.sort_unstable();
    exits.dedup();
    let restarts = crashing.iter().map(|c| c.restarts).max().unwrap_or(0);
    let mut pod_names = pods.clone();
    pod_names.sort_unstable();
    pod_names.dedup();

    let mut confidence = 0.5;
    if crash_line.is_some() {
        confidence += 0.2;
    }
    if pod_names.len() >= 2 || restarts >= 3 {
        confidence += 0.05;
    }
    let running_since = rollout.and_then(|r| r.newest()).and_then(|n| n.created_at);
    if rollout.is_some() {
        confidence += 0.1;
    }
    if unreachable.is_some() {
        confidence -= 0.25;
    }
    if exits.contains(&137) {
        // Killed from outside without an OOM: not clearly the app's own crash.
        confidence -= 0.1;
    }
    let exit_text = if exits.is_empty() {
        String::new()
    } else {
        format!(
            ", exit {}",
            exits
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let sample = crash_line
        .map(|(_, l)| format!("; logs: \"{}\"", clip(patterns::strip_timestamp(l), 90)))
        .unwrap_or_else(|| "; no crash signature in the logs".to_string());
    let history = match (rollout.and_then(|r| r.newest()), running_since) {
        (Some(n), Some(t)) => format!(
            "; revision {} has run since {} and no rollout preceded the crashes",
            n.revision,
            t.format("%Y-%m-%d %H:%M")
        ),
        (Some(n), None) => format!("; revision {} is not a recent rollout", n.revision),
        _ => String::new(),
    };
    let summary = format!(
        "{w}: {} crash-looping (up to {restarts} restarts{exit_text}){sample}{history}",
        count(pod_names.len(), "pod")
    );
    let mut finding = Finding::new(Category::Crash, w.clone(), confidence, summary, cites)
        .escalate(
            confidence.max(0.5),
            "the running image crashes and no recent rollout caused it: nothing in the catalogue fixes a bug, a developer must fix or roll forward",
        );
    if let Some(target) = unreachable {
        finding = finding.note(format!(
            "the crashing containers log connection failures to {target}: the crash may follow from that dependency"
        ));
    }
    if auth {
        finding = finding.note(
            "the logs show authentication failures (401/403/permission denied): credentials may have changed".into(),
        );
    }
    if let Some(previous) = rollout.and_then(|r| r.previous()) {
        finding = finding.note(format!(
            "revision {} exists, but the current revision ran fine before the crashes; rolling back is not proposed",
            previous.revision
        ));
    }
    Some(finding)
}

/// Some replicas stop answering their readiness probe while the process keeps running
/// (no restarts, no exits): restart the hung pods.
fn hang(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let now = facts.now;
    let containers = facts.containers_of(w);
    let hung: Vec<&ContainerFact<'_>> = containers
        .iter()
        .copied()
        .filter(|c| {
            c.running_not_ready()
                && !facts.on_lost_node(c)
                && !c.crash_looping(now)
                && (!c.oom_killed() || !c.recently_restarted(now))
                && c.uptime(now)
                    .is_none_or(|u| u >= Duration::minutes(1) || c.restarts == 0)
        })
        .collect();
    if hung.is_empty() {
        return None;
    }
    if facts
        .rollout_tie(w, &hung, Duration::minutes(ROLLOUT_WINDOW_MINUTES))
        .is_some_and(|t| t.only_newest_failing)
    {
        // Only pods of a fresh revision hang: the bad-release signature rolls it back.
        return None;
    }
    let mut hung_pods: Vec<&str> = hung.iter().map(|c| c.pod).collect();
    hung_pods.sort_unstable();
    hung_pods.dedup();
    let mut all_pods: Vec<&str> = containers.iter().map(|c| c.pod).collect();
    all_pods.sort_unstable();
    all_pods.dedup();
    let replicas = facts
        .replicas_of(w)
        .unwrap_or(all_pods.len() as i32)
        .max(all_pods.len() as i32);
    let all_hung = hung_pods.len() as i32 >= replicas;

    let probe_events: Vec<_> = facts
        .events_of(w)
        .into_iter()
        .filter(|e| {
            e.about_pod()
                && hung_pods.contains(&e.object_name)
                && patterns::is_readiness_failure(e.message)
        })
        .collect();
    let timeouts = probe_events
        .iter()
        .any(|e| patterns::is_probe_timeout(e.message));
    let logs: Vec<_> = facts
        .logs_of(w)
        .into_iter()
        .filter(|l| hung_pods.contains(&l.pod))
        .collect();
    let unreachable = logs
        .iter()
        .flat_map(|l| l.lines.iter())
        .find_map(|line| patterns::connection_failure_target(line));
    let quiet_or_stuck = logs.is_empty()
        || logs.iter().all(|l| {
            l.lines.is_empty()
                || l.lines
                    .iter()
                    .all(|line| patterns::is_hang_hint(line) || !patterns::is_error_level(line))
        });
    let hint = logs
        .iter()
        .flat_map(|l| l.lines.iter().map(move |line| (l.id, line)))
        .find(|(_, line)| patterns::is_hang_hint(line));
    if hint.is_none() && !quiet_or_stuck && super::capacity::saturated(facts, w) {
        // Probes that time out on a workload at its cpu limit, from pods that keep logging
        // their work and its errors: the replicas are overloaded and drop in and out of the
        // Service, they are not stuck. Restarting one only moves its load to the others.
        return None;
    }
    let restarted = hung.iter().any(|c| c.recently_restarted(now));
    let others_healthy = containers
        .iter()
        .any(|c| c.healthy(now) && !hung_pods.contains(&c.pod));

    let mut confidence = 0.4;
    if timeouts {
        confidence += 0.2;
    } else if !probe_events.is_empty() {
        confidence += 0.05;
    }
    if others_healthy {
        confidence += 0.15;
    }
    if !restarted {
        confidence += 0.05;
    }
    if quiet_or_stuck {
        confidence += 0.05;
    }
    if hint.is_some() {
        confidence += 0.05;
    }
    if unreachable.is_some() {
        confidence -= 0.3;
    }
    let mut cites = Cites::default();
    cites.extend(hung.iter().map(|c| c.id));
    cites.extend(probe_events.iter().map(|e| e.id));
    if let Some((id, _)) = hint {
        cites.add(id);
    } else {
        cites.extend(logs.iter().map(|l| l.id));
    }
    let probe_text = if timeouts {
        "readiness probe times out (context deadline exceeded)"
    } else if !probe_events.is_empty() {
        "readiness probe fails"
    } else {
        "no probe events"
    };
    let log_text = match hint {
        Some((_, line)) => format!("; logs: \"{}\"", clip(patterns::strip_timestamp(line), 90)),
        None if quiet_or_stuck => "; logs quiet".to_string(),
        None => String::new(),
    };
    let summary = format!(
        "{w}: {} of {replicas} pods not ready, {probe_text}, while the process runs (no exits{}){log_text}",
        hung_pods.len(),
        if restarted {
            ", but recent restarts"
        } else {
            ", no restarts"
        }
    );
    let namespace = w.namespace().unwrap_or_default().to_string();
    let mut finding = Finding::new(Category::Hang, w.clone(), confidence, summary, cites);
    if let Some(target) = &unreachable {
        finding = finding.note(format!(
            "the not-ready pods log connection failures to {target}: a dependency may be the cause"
        ));
    }
    // A StatefulSet with OrderedReady pods does not roll past a pod that is not Ready: its
    // rolling restart would wait forever, so its hung pods are restarted one by one.
    let ordered = matches!(
        w,
        ResourceRef::Workload {
            kind: WorkloadKind::StatefulSet,
            ..
        }
    );
    if (hung_pods.len() >= 2 || all_hung) && !ordered {
        finding = finding.plan(
            Action::RolloutRestart { target: w.clone() },
            confidence,
            &format!(
                "{} hung; a rolling restart replaces all of them in one action",
                count(hung_pods.len(), "pod")
            ),
            "every replica Ready again, restart counts flat",
        );
    }
    for (i, pod) in hung_pods.iter().enumerate() {
        let rank_penalty = if (hung_pods.len() >= 2 || all_hung) && !ordered {
            0.1
        } else {
            0.0
        } + 0.02 * i as f64;
        finding = finding.plan(
            Action::RestartPod {
                namespace: namespace.clone(),
                pod: pod.to_string(),
            },
            confidence - rank_penalty,
            &format!("{pod} is stuck but its process never exits, so nothing restarts it"),
            &format!("the replacement of {pod} becomes Ready and serves"),
        );
    }
    Some(finding.escalate(
        0.4,
        "if restarted pods hang again, a developer must find the deadlock",
    ))
}
