//! Memory signatures: a limit below what the workload needs (OOMKilled right after start)
//! and a leak (the working set grows from each start until the kill).

use std::collections::BTreeMap;

use chrono::Duration;

use super::facts::{ContainerFact, Facts, MetricFact, MetricKind, ROLLOUT_WINDOW_MINUTES};
use super::finding::{Cites, Finding, count};
use super::patterns;
use crate::Category;
use crate::action::{Action, ResourceChange};
use crate::resource::ResourceRef;
use crate::units::{format_memory, parse_memory};

const MI: u64 = 1024 * 1024;
/// A leak reaches the limit no sooner than this after a start; an undersized limit sooner.
const LEAK_MIN_MINUTES_TO_LIMIT: f64 = 4.0;
/// How far back a leak may have arrived with a rollout.
const LEAK_ROLLOUT_WINDOW_HOURS: i64 = 6;

/// Memory signatures over the workloads under examination.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    facts
        .subjects()
        .iter()
        .filter_map(|w| memory(facts, w))
        .collect()
}

/// What the memory metrics say about growth.
#[derive(Debug, Default)]
struct Growth {
    /// Grows steadily and would take several minutes from a start to reach the limit.
    slow: bool,
    /// Reaches the limit quickly or sits flat at it.
    fast: bool,
    /// Minutes from the window's low to the limit at the current trend.
    minutes_to_limit: Option<f64>,
    /// Highest working set as a share of the limit.
    peak_ratio: Option<f64>,
}

fn growth_of(m: &MetricFact<'_>) -> Growth {
    let Some(limit) = m.limit.filter(|l| l.is_finite() && *l > 0.0) else {
        return Growth::default();
    };
    let trend = m.trend_per_minute;
    let minutes_to_limit =
        (trend.is_finite() && trend > 0.0).then(|| (limit - m.min).max(0.0) / trend);
    let window_minutes = m.window_seconds as f64 / 60.0;
    let grew = trend * window_minutes >= 0.2 * limit && m.max - m.min >= 0.2 * limit;
    let peak_ratio = m.max_ratio();
    let slow =
        trend > 0.0 && grew && minutes_to_limit.is_some_and(|t| t >= LEAK_MIN_MINUTES_TO_LIMIT);
    let at_limit = peak_ratio.is_some_and(|r| r >= 0.9);
    let fast = at_limit
        && (trend <= 0.02 * limit
            || minutes_to_limit.is_some_and(|t| t < LEAK_MIN_MINUTES_TO_LIMIT));
    Growth {
        slow,
        fast,
        minutes_to_limit,
        peak_ratio,
    }
}

/// OOMKilled containers, or a working set racing towards its limit.
fn memory(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let now = facts.now;
    let containers = facts.containers_of(w);
    let oom: Vec<&ContainerFact<'_>> = containers
        .iter()
        .copied()
        .filter(|c| c.oom_killed())
        .collect();
    let metrics = facts.metrics_of(w, MetricKind::Memory);
    let worst = metrics.iter().copied().max_by(|a, b| {
        let ra = a.max_ratio().unwrap_or(0.0);
        let rb = b.max_ratio().unwrap_or(0.0);
        ra.total_cmp(&rb)
    });
    let growth = worst.map(growth_of).unwrap_or_default();
    if oom.is_empty()
        && !(growth.slow
            && worst
                .and_then(|m| m.current_ratio())
                .is_some_and(|r| r >= 0.8))
    {
        return None;
    }

    let mut cites = Cites::default();
    cites.extend(oom.iter().map(|c| c.id));
    if let Some(m) = worst {
        cites.add(m.id);
    }
    let oom_pods: Vec<&str> = oom.iter().map(|c| c.pod).collect();
    for e in facts.events_of(w) {
        if oom_pods.contains(&e.object_name)
            && (e.reason == "OOMKilling" || patterns::is_oom(e.message))
        {
            cites.add(e.id);
        }
    }
    for l in facts.logs_of(w) {
        if l.lines.iter().any(|line| patterns::is_oom(line)) {
            cites.add(l.id);
        }
    }
    let restarts = oom.iter().map(|c| c.restarts).max().unwrap_or(0);

    // Per-pod view: a young container already near its limit, an old one still growing.
    let mut young_and_full = false;
    let mut old_and_growing = false;
    // Killed before, yet now running for a while or well under the limit: it does not need
    // more than the limit from the start.
    let mut outlives_kill = false;
    // Killed within two minutes of starting: the working set needs more than the limit
    // from the start (the uptime of the killed instance, not a guess from metrics).
    let killed_young = containers.iter().any(|c| {
        c.oom_killed()
            && matches!((c.last_started_at, c.last_finished_at), (Some(s), Some(f)) if f - s <= Duration::minutes(2))
    });
    let killed_old_pods = containers
        .iter()
        .filter(|c| {
            c.oom_killed()
                && matches!((c.last_started_at, c.last_finished_at), (Some(s), Some(f)) if f - s >= Duration::minutes(5))
        })
        .count();
    let killed_old = killed_old_pods > 0;
    for c in &containers {
        let Some(uptime) = c.uptime(now) else {
            continue;
        };
        let pod_metric = metrics.iter().find(|m| m.pod.as_deref() == Some(c.pod));
        let ratio = pod_metric.and_then(|m| m.current_ratio());
        if uptime <= Duration::minutes(3) && ratio.is_some_and(|r| r >= 0.8) && c.restarts > 0 {
            young_and_full = true;
        }
        if uptime >= Duration::minutes(5)
            && pod_metric.is_some_and(|m| m.trend_per_minute > 0.0)
            && ratio.is_some_and(|r| r >= 0.5)
        {
            old_and_growing = true;
        }
        if c.oom_killed()
            && (uptime >= Duration::minutes(5)
                || (uptime >= Duration::minutes(1) && ratio.is_some_and(|r| r <= 0.6)))
        {
            outlives_kill = true;
        }
    }
    let leak_score = 2 * u8::from(growth.slow)
        + u8::from(old_and_growing)
        + u8::from(outlives_kill)
        + 2 * u8::from(killed_old);
    let limit_score = 2 * u8::from(growth.fast)
        + u8::from(young_and_full)
        + u8::from(restarts >= 3)
        + 2 * u8::from(killed_young);
    let is_leak = leak_score > limit_score;

    let window = if is_leak {
        Duration::hours(LEAK_ROLLOUT_WINDOW_HOURS)
    } else {
        Duration::minutes(ROLLOUT_WINDOW_MINUTES)
    };
    let tie = facts.rollout_tie(w, &oom, window);
    let container = oom
        .first()
        .map(|c| c.container.to_string())
        .or_else(|| {
            facts
                .object_of(w)
                .and_then(|o| o.containers.first())
                .map(|c| c.name.clone())
        })
        .unwrap_or_default();
    let limit_bytes = spec_memory_limit(facts, w, &container).or_else(|| {
        worst
            .and_then(|m| m.limit)
            .filter(|l| *l > 1e5)
            .map(|l| l as u64)
    });
    let peak_bytes = match (worst, limit_bytes) {
        (Some(m), Some(limit)) => match m.max_ratio() {
            Some(r) => Some((r * limit as f64) as u64),
            None if m.max > 1e5 => Some(m.max as u64),
            None => None,
        },
        _ => None,
    };
    let peak_text = match (growth.peak_ratio, limit_bytes) {
        (Some(r), Some(l)) => format!(
            ", working set peaked at {:.0}% of the {} limit",
            r * 100.0,
            format_memory(round_up_mi(l))
        ),
        (Some(r), None) => format!(", working set peaked at {:.0}% of its limit", r * 100.0),
        _ => String::new(),
    };
    let kills = if oom.is_empty() {
        "no OOM kill yet".to_string()
    } else {
        format!(
            "{} OOMKilled (exit 137), up to {}",
            count(pods(&oom), "pod"),
            count(restarts.max(0) as usize, "restart")
        )
    };

    if is_leak {
        let mut confidence: f64 = 0.5;
        if growth.slow {
            confidence += 0.2;
        }
        if old_and_growing {
            confidence += 0.1;
        }
        if !oom.is_empty() {
            confidence += 0.05;
        }
        // The kills themselves date the growth: containers that ran for minutes before
        // being OOMKilled, on more than one pod, grew into the limit rather than started
        // above it, even when no metric history says so.
        if killed_old {
            confidence += 0.1;
        }
        if killed_old_pods >= 2 {
            confidence += 0.1;
        }
        let pace = match (worst, growth.minutes_to_limit) {
            (Some(m), Some(t)) => format!(
                ", growing {} per minute and reaching the limit about {:.0}m after a start",
                rate_text(m, limit_bytes),
                t
            ),
            _ => String::new(),
        };
        if let Some(tie) = tie {
            cites.add(tie.rollout.id);
            let summary = format!(
                "{w}: memory leak that came with {}: {kills}{pace}",
                tie.describe()
            );
            let confidence = confidence.max(0.8);
            return Some(
                Finding::new(
                    Category::MemoryLeak,
                    w.clone(),
                    confidence + 0.02,
                    summary,
                    cites,
                )
                .plan(
                    Action::Rollback {
                        target: w.clone(),
                        revision: Some(tie.previous.revision),
                    },
                    confidence,
                    &format!(
                        "the growth arrived with revision {}; revision {} held steady",
                        tie.newest.revision, tie.previous.revision
                    ),
                    "the working set stays flat after the rollback; no more OOM kills",
                )
                .plan(
                    Action::RolloutRestart { target: w.clone() },
                    0.45,
                    "restarting resets the growth and buys time, but the leak comes back",
                    "memory back to its baseline until the leak fills it again",
                )
                .escalate(0.4, "a developer must fix the leak in the new revision"),
            );
        }
        let summary = format!("{w}: memory leak: {kills}{pace}; not tied to a recent rollout");
        let buys = growth
            .minutes_to_limit
            .map(|t| format!(" (about {t:.0} minutes per restart)"))
            .unwrap_or_default();
        let mut finding = Finding::new(Category::MemoryLeak, w.clone(), confidence, summary, cites);
        // The OOM kills already restart the containers, so a restart alone buys nothing the
        // kill did not; a higher limit also restarts them and doubles the time the leak takes
        // to fill it, which gets the service through the night while a developer fixes it.
        if let Some(limit) = limit_bytes {
            let new_limit = round_up_mi(limit.saturating_mul(2));
            let longer = growth
                .minutes_to_limit
                .map(|t| {
                    format!(
                        " (about {:.0} minutes between restarts instead of {t:.0})",
                        t * 2.0
                    )
                })
                .unwrap_or_default();
            finding = finding.plan(
                Action::SetResources {
                    target: w.clone(),
                    container: container.clone(),
                    change: ResourceChange {
                        requests: BTreeMap::new(),
                        limits: BTreeMap::from([("memory".to_string(), format_memory(new_limit))]),
                    },
                },
                confidence.min(0.75),
                &format!(
                    "raising the limit from {} to {} restarts the pods and gives the leak twice the room{longer}; it does not fix the leak",
                    format_memory(round_up_mi(limit)),
                    format_memory(new_limit)
                ),
                "memory back to its baseline and no OOM kills for much longer",
            );
        }
        return Some(
            finding
                .plan(
                    Action::RolloutRestart { target: w.clone() },
                    confidence.min(0.75) - 0.15,
                    &format!("restarting resets the working set and buys time{buys}; it does not fix the leak"),
                    "memory back to its baseline and no OOM kills for a while",
                )
                .escalate(
                    0.65,
                    "the leak is in the running image and no earlier revision is known to be free of it: a developer must fix it",
                ),
        );
    }

    if tie.is_some() {
        // OOM right after start, brought by a new revision: the bad-release signature covers it.
        return None;
    }
    let mut confidence = 0.5;
    if restarts >= 2 {
        confidence += 0.1;
    }
    if restarts >= 3 {
        confidence += 0.05;
    }
    if growth.fast {
        confidence += 0.15;
    }
    if young_and_full {
        confidence += 0.1;
    }
    if killed_young {
        confidence += 0.15;
    }
    if worst.is_none() {
        confidence -= 0.05;
    }
    if facts
        .rollout_of(w)
        .and_then(|r| r.newest())
        .and_then(|n| n.created_at)
        .is_some_and(|c| now - c > Duration::minutes(ROLLOUT_WINDOW_MINUTES))
        || facts.rollout_of(w).is_some_and(|r| r.revisions.len() == 1)
    {
        confidence += 0.05;
    }
    let how = if growth.fast || young_and_full || killed_young {
        "is OOMKilled soon after each start"
    } else if restarts >= 2 {
        "is OOMKilled repeatedly"
    } else {
        "was OOMKilled"
    };
    let summary =
        format!("{w}: container {container} {how}: {kills}{peak_text}; not tied to a new revision");
    let finding = Finding::new(Category::MemoryLimit, w.clone(), confidence, summary, cites);
    let finding = if worst.is_none() {
        finding.note(
            "no memory metrics in the evidence: an undersized limit and a fast leak look alike"
                .into(),
        )
    } else {
        finding
    };
    match limit_bytes {
        Some(limit) => {
            let new_limit = raised_limit(limit, peak_bytes);
            let mut limits = BTreeMap::new();
            limits.insert("memory".to_string(), format_memory(new_limit));
            Some(
                finding
                    .plan(
                        Action::SetResources {
                            target: w.clone(),
                            container: container.clone(),
                            change: ResourceChange {
                                requests: BTreeMap::new(),
                                limits,
                            },
                        },
                        confidence,
                        &format!(
                            "the working set needs more than the {} limit from the start; raising it to {} gives headroom without scaling down or rolling back",
                            format_memory(round_up_mi(limit)),
                            format_memory(new_limit)
                        ),
                        "containers stay up past their warm-up; no OOM kills and restart counts flat",
                    )
                    .escalate(
                        0.4,
                        "if the workload should not need this much memory, a developer must find out why it does",
                    ),
            )
        }
        None => Some(
            finding
                .escalate(
                    0.5,
                    "the container is OOMKilled but its memory limit is not in the evidence; a person must size it",
                )
                .note("memory limit unknown: no template or metric limit for the container".into()),
        ),
    }
}

fn pods(containers: &[&ContainerFact<'_>]) -> usize {
    let mut p: Vec<&str> = containers.iter().map(|c| c.pod).collect();
    p.sort_unstable();
    p.dedup();
    p.len()
}

/// The container's memory limit from the workload template, in bytes.
fn spec_memory_limit(facts: &Facts<'_>, w: &ResourceRef, container: &str) -> Option<u64> {
    let object = facts.object_of(w)?;
    let spec = object
        .containers
        .iter()
        .find(|c| c.name == container)
        .or_else(|| object.containers.first())?;
    parse_memory(spec.limits.get("memory")?).ok()
}

fn round_up_mi(bytes: u64) -> u64 {
    bytes.div_ceil(MI).saturating_mul(MI)
}

/// The new limit: 1.5× the larger of the limit and the observed peak, at most twice the
/// old limit, rounded up to a whole Mi.
pub(crate) fn raised_limit(limit: u64, peak: Option<u64>) -> u64 {
    let base = limit.max(peak.unwrap_or(0));
    let wanted = base.saturating_mul(3) / 2;
    let capped = wanted.min(limit.saturating_mul(2));
    round_up_mi(capped).min(round_up_mi(limit.saturating_mul(2)))
}

fn rate_text(m: &MetricFact<'_>, limit_bytes: Option<u64>) -> String {
    match (m.limit, limit_bytes) {
        (Some(l), Some(bytes)) if l > 0.0 => {
            let per_min = m.trend_per_minute / l * bytes as f64;
            format!("{:.0}Mi", per_min / MI as f64)
        }
        _ if m.trend_per_minute > 1e5 => format!("{:.0}Mi", m.trend_per_minute / MI as f64),
        _ => format!("{:.1}", m.trend_per_minute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_limits() {
        assert_eq!(raised_limit(256 * MI, Some(256 * MI)), 384 * MI);
        assert_eq!(raised_limit(256 * MI, None), 384 * MI);
        // A peak above the limit (as reported) is capped at twice the limit.
        assert_eq!(raised_limit(256 * MI, Some(400 * MI)), 512 * MI);
        assert_eq!(raised_limit(100 * MI + 1, None), 151 * MI);
    }
}
