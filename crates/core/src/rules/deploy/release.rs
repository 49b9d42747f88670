//! A broken release: failures only in pods of a revision that came just before them.

use crate::Category;
use crate::resource::ResourceRef;
use crate::rules::facts::{ContainerFact, Facts, MetricFact, MetricKind};
use crate::rules::finding::{Cites, Finding, count};
use crate::rules::patterns::{self};

use super::*;

/// Failures (crash loop, OOM, not ready, errors) only in pods of the newest revision, which
/// came shortly before them, while the previous revision was healthy: roll back.
pub(super) fn bad_release(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let now = facts.now;
    let containers = facts.containers_of(w);
    // Liveness kills under load are the probe signature's, even after a rollout.
    let probe_killed = crate::rules::capacity::probe_killed_pods(facts, w);
    let failing: Vec<&ContainerFact<'_>> = containers
        .iter()
        .copied()
        .filter(|c| {
            c.failing(now)
                && !c.pull_failing()
                && !c.config_error()
                && !c.pending()
                && !probe_killed.contains(&c.pod)
        })
        .collect();
    let logs = facts.logs_of(w);
    let error_pods: Vec<&str> = logs
        .iter()
        .filter(|l| {
            l.lines
                .iter()
                .filter(|line| patterns::is_5xx(line) || patterns::is_error_level(line))
                .count()
                >= 3
        })
        .map(|l| l.pod)
        .collect();
    let error_metric = facts
        .metrics_of(w, MetricKind::ErrorRatio)
        .into_iter()
        .filter(|m| MetricFact::as_fraction(m.current) >= 0.05)
        .max_by(|a, b| a.current.total_cmp(&b.current));
    let erroring: Vec<&ContainerFact<'_>> = containers
        .iter()
        .copied()
        .filter(|c| error_pods.contains(&c.pod))
        .collect();
    let errors_only = failing.is_empty();
    let symptomatic = if errors_only { erroring } else { failing };
    if symptomatic.is_empty() && error_metric.is_none() {
        return None;
    }
    let error_alert = facts.signals_of(w).into_iter().find(|s| {
        let n = s.name.to_ascii_lowercase();
        s.firing && (n.contains("error") || n.contains("5xx"))
    });
    // Error lines alone are background noise; errors need a metric or an alert to count.
    if errors_only && error_metric.is_none() && error_alert.is_none() {
        return None;
    }
    let tie = facts.rollout_tie(w, &symptomatic, window())?;
    if errors_only && tie.minutes_before_onset.is_none() {
        return None;
    }

    let mut cites = Cites::default();
    cites.add(tie.rollout.id);
    cites.extend(symptomatic.iter().map(|c| c.id));
    let pods: Vec<&str> = symptomatic.iter().map(|c| c.pod).collect();
    let crash_line = logs
        .iter()
        .filter(|l| pods.contains(&l.pod))
        .flat_map(|l| l.lines.iter().map(move |line| (l.id, line)))
        .find(|(_, line)| {
            patterns::is_crash(line) || patterns::is_oom(line) || patterns::is_5xx(line)
        });
    if let Some((id, _)) = crash_line {
        cites.add(id);
    }
    for e in facts.events_of(w) {
        if e.event_type.eq_ignore_ascii_case("warning") && pods.contains(&e.object_name) {
            cites.add(e.id);
        }
    }
    if let Some(m) = error_metric {
        cites.add(m.id);
    }
    if let Some(s) = error_alert.filter(|_| errors_only) {
        cites.add(s.id);
    }

    let effect = if symptomatic.iter().any(|c| c.oom_killed()) {
        "OOMKilled".to_string()
    } else if symptomatic.iter().any(|c| c.crash_looping(now)) {
        let exits: Vec<String> = symptomatic
            .iter()
            .filter_map(|c| c.exit())
            .map(|e| e.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if exits.is_empty() {
            "crash-looping".to_string()
        } else {
            format!("crash-looping (exit {})", exits.join(", "))
        }
    } else if !errors_only {
        "not ready".to_string()
    } else {
        match error_metric {
            Some(m) => format!(
                "serving errors ({:.0}% 5xx)",
                MetricFact::as_fraction(m.current) * 100.0
            ),
            None => "serving errors".to_string(),
        }
    };

    let mut confidence = 0.55;
    if tie.only_newest_failing {
        confidence += 0.15;
    }
    if tie.previous_healthy {
        confidence += 0.1;
    } else {
        confidence -= 0.1;
    }
    match tie.minutes_before_onset {
        Some(m) if m <= 15 => confidence += 0.05,
        None => confidence -= 0.1,
        _ => {}
    }
    if crash_line.is_some() || error_metric.is_some() {
        confidence += 0.05;
    }
    let unreachable = logs
        .iter()
        .filter(|l| pods.contains(&l.pod))
        .flat_map(|l| l.lines.iter())
        .find_map(|line| patterns::connection_failure_target(line));
    if unreachable.is_some() {
        // The new pods may fail because something they call is down, not because of the release.
        confidence -= 0.2;
    }
    let saturated = errors_only && crate::rules::capacity::saturated(facts, w);
    if saturated {
        // Errors at the cpu limit after a rollout: more traffic explains them as well.
        confidence -= 0.2;
    }

    let who = if symptomatic.is_empty() {
        "pods".to_string()
    } else {
        count(pods_count(&symptomatic), "pod")
    };
    let sample = crash_line
        .map(|(_, l)| format!("; logs: \"{}\"", clip(patterns::strip_timestamp(l), 90)))
        .unwrap_or_default();
    let previous_state = if tie.previous_healthy {
        format!("revision {} was healthy", tie.previous.revision)
    } else {
        format!("revision {} health unknown", tie.previous.revision)
    };
    let summary = format!(
        "{w}: {who} of {} {effect}{}{sample}; {previous_state}",
        tie.describe(),
        tie.timing()
    );
    let confidence_value = confidence;
    let mut finding = Finding::new(
        Category::BadRelease,
        w.clone(),
        confidence_value,
        summary,
        cites,
    );
    if saturated {
        finding = finding.note(
            "the workload is also at its cpu limit: a traffic surge would explain the errors too"
                .into(),
        );
    }
    if let Some(target) = unreachable {
        finding = finding.note(format!(
            "the failing pods also report connection failures to {target}: the release may not be the cause"
        ));
    }
    Some(
        finding
        .plan(
            rollback(w, tie.previous),
            confidence_value,
            &format!(
                "the failures began with revision {} and only its pods fail; revision {} ran fine",
                tie.newest.revision, tie.previous.revision
            ),
            &format!(
                "pods of revision {} serve again: all replicas Ready, restarts flat, error rate back to normal",
                tie.previous.revision
            ),
        )
        .escalate(
            0.4,
            "if the previous revision cannot be restored (schema or data changes), a person must roll forward",
        ),
    )
}

pub(super) fn pods_count(containers: &[&ContainerFact<'_>]) -> usize {
    let mut pods: Vec<&str> = containers.iter().map(|c| c.pod).collect();
    pods.sort_unstable();
    pods.dedup();
    pods.len()
}
