//! Load signatures: more traffic than the replicas can serve, and liveness probes that
//! fail because latency under load passes their timeout.

use chrono::Duration;

use super::facts::{Facts, MetricFact, MetricKind, ROLLOUT_WINDOW_MINUTES};
use super::finding::{Cites, Finding, count};
use super::patterns;
use crate::Category;
use crate::action::Action;
use crate::resource::ResourceRef;
use crate::units::parse_cpu;

/// Per-replica cpu the scale plan aims for, as a share of the limit.
const TARGET_CPU_SHARE: f64 = 0.7;

/// How long the replicas must have served before the load signals began for that stretch
/// to be the workload's own baseline: alerts that fire within this of the oldest running
/// container's start (their `for` and rate windows included) say the workload has run hot
/// since it started, not that its load changed.
const BASELINE_MINUTES: i64 = 5;

/// Load signatures over the workloads under examination.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in facts.subjects() {
        let load = Load::of(facts, &w);
        out.extend(traffic_surge(facts, &w, &load));
        out.extend(probe(facts, &w, &load));
    }
    out
}

/// What the metrics and alerts say about load on one workload.
#[derive(Debug, Default)]
struct Load {
    /// CPU now, as a share of the limit (highest replica).
    cpu: Option<f64>,
    /// CPU at the window's low, as a share of the limit (mean over replicas).
    cpu_low: Option<f64>,
    /// Share of CPU periods throttled.
    throttling: Option<f64>,
    /// 5xx share now and at its peak.
    errors: Option<(f64, f64)>,
    /// Latency now and at the window's low, in ms.
    latency_ms: Option<(f64, f64)>,
    /// Request rate now and at the window's low.
    rate: Option<(f64, f64)>,
    /// Whether the request rate or cpu figures cover a range (not only an instant).
    ranged: bool,
    /// When the earliest firing load alert (saturation, 5xx, latency) began.
    load_alert_since: Option<chrono::DateTime<chrono::Utc>>,
    saturated_alert: bool,
    error_alert: bool,
    latency_alert: bool,
    cites: Cites,
}

impl Load {
    fn of(facts: &Facts<'_>, w: &ResourceRef) -> Load {
        let mut load = Load::default();
        let cpu_limit_millis = facts.object_of(w).and_then(|o| {
            o.containers
                .iter()
                .filter_map(|c| c.limits.get("cpu"))
                .find_map(|q| parse_cpu(q).ok())
        });
        let mut lows = Vec::new();
        for m in facts.metrics_of(w, MetricKind::Cpu) {
            let share = |v: f64| match (m.limit, cpu_limit_millis) {
                (Some(l), _) if l > 0.0 => Some(v / l),
                // Cores or millicores, told apart by magnitude.
                (_, Some(millis)) if millis > 0 => Some(if v < 64.0 {
                    v * 1000.0 / millis as f64
                } else {
                    v / millis as f64
                }),
                _ => None,
            };
            if let Some(now) = share(m.current).filter(|v| v.is_finite()) {
                load.cpu = Some(load.cpu.map_or(now, |c: f64| c.max(now)));
                load.cites.add(m.id);
            }
            if let Some(low) = share(m.min).filter(|v| v.is_finite() && m.window_seconds > 0) {
                lows.push(low);
                load.ranged = true;
            }
        }
        if !lows.is_empty() {
            load.cpu_low = Some(lows.iter().sum::<f64>() / lows.len() as f64);
        }
        for m in facts.metrics_of(w, MetricKind::Throttling) {
            let v = MetricFact::as_fraction(m.current);
            load.throttling = Some(load.throttling.map_or(v, |t: f64| t.max(v)));
            load.cites.add(m.id);
        }
        for m in facts.metrics_of(w, MetricKind::ErrorRatio) {
            let now = MetricFact::as_fraction(m.current);
            let peak = MetricFact::as_fraction(m.max).max(now);
            load.errors = Some(match load.errors {
                Some((n, p)) => (n.max(now), p.max(peak)),
                None => (now, peak),
            });
            load.cites.add(m.id);
        }
        for m in facts.metrics_of(w, MetricKind::Latency) {
            let now = m.as_millis(m.current);
            let low = m.as_millis(m.min);
            load.latency_ms = Some(match load.latency_ms {
                Some((n, l)) => (n.max(now), l.min(low)),
                None => (now, low),
            });
            load.cites.add(m.id);
        }
        for m in facts.metrics_of(w, MetricKind::RequestRate) {
            load.ranged |= m.window_seconds > 0;
            load.rate = Some(match load.rate {
                Some((n, l)) => (n + m.current, l + m.min),
                None => (m.current, m.min),
            });
            load.cites.add(m.id);
        }
        for s in facts.signals_of(w) {
            if !s.firing {
                continue;
            }
            let name = s.name.to_ascii_lowercase();
            let load_signal = if name.contains("cpusaturated") || name.contains("throttl") {
                load.saturated_alert = true;
                true
            } else if name.contains("errorrate") || name.contains("5xx") {
                load.error_alert = true;
                true
            } else if name.contains("latency") {
                load.latency_alert = true;
                true
            } else {
                false
            };
            if load_signal {
                load.cites.add(s.id);
                load.load_alert_since = Some(
                    load.load_alert_since
                        .map_or(s.starts_at, |t| t.min(s.starts_at)),
                );
            }
        }
        load
    }

    /// Whether the load changed against the workload's own baseline: the request rate (or,
    /// without one, the cpu) over a range rose well above its low; with instant figures only,
    /// the load alerts began after the replicas had served for a while without them. `None`
    /// when nothing tells.
    fn changed(&self, facts: &Facts<'_>, w: &ResourceRef) -> Option<bool> {
        if self.ranged {
            if self.rate.is_some() {
                return Some(self.load_up());
            }
            if let (Some(now), Some(low)) = (self.cpu, self.cpu_low)
                && low > 0.0
            {
                return Some(now / low >= 1.5);
            }
        }
        let since = self.load_alert_since?;
        let oldest_start = facts
            .containers_of(w)
            .iter()
            .filter(|c| c.running())
            .filter_map(|c| c.started_at)
            .min()?;
        Some(since - oldest_start >= Duration::minutes(BASELINE_MINUTES))
    }

    fn saturated(&self) -> bool {
        self.cpu.is_some_and(|c| c >= 0.9)
            || self.throttling.is_some_and(|t| t >= 0.25)
            || self.saturated_alert
    }

    /// Request rate now over its low, when the low is meaningful.
    fn rate_factor(&self) -> Option<f64> {
        let (now, low) = self.rate?;
        (low > 0.0 && now.is_finite()).then(|| now / low)
    }

    fn load_up(&self) -> bool {
        self.rate_factor().is_some_and(|f| f >= 1.5)
    }

    fn failing_requests(&self) -> bool {
        self.errors.is_some_and(|(now, _)| now >= 0.05) || self.error_alert
    }

    fn slow(&self) -> bool {
        self.latency_ms
            .is_some_and(|(now, low)| now >= 500.0 || (low > 0.0 && now >= 3.0 * low))
            || self.latency_alert
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.cpu {
            parts.push(format!("cpu at {:.0}% of its limit", c * 100.0));
        }
        if let Some(t) = self.throttling.filter(|t| *t > 0.0) {
            parts.push(format!("{:.0}% of cpu periods throttled", t * 100.0));
        }
        if let (Some(f), Some((now, low))) = (self.rate_factor(), self.rate) {
            parts.push(format!(
                "requests {f:.1}× the window's low ({low:.0} → {now:.0}/s)"
            ));
        }
        if let Some((now, _)) = self.errors.filter(|(n, _)| *n > 0.0) {
            parts.push(format!("{:.1}% 5xx", now * 100.0));
        }
        if let Some((now, _)) = self.latency_ms {
            parts.push(format!("latency {now:.0}ms"));
        }
        parts.join(", ")
    }

    /// Replicas that bring per-replica cpu under the target share: at least double, at
    /// most four times the current count.
    fn replicas_needed(&self, current: i32) -> i32 {
        let current = current.max(1);
        let demand = match (self.cpu_low, self.rate_factor()) {
            (Some(low), Some(factor)) if factor >= 1.0 => Some(low * factor),
            _ => self.cpu,
        };
        let needed = demand
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(|d| (current as f64 * d / TARGET_CPU_SHARE).ceil() as i32)
            .unwrap_or(0);
        let cap = current.saturating_mul(4).min(current.saturating_add(50));
        needed
            .max(current.saturating_mul(2))
            .min(cap)
            .max(current.saturating_add(1))
    }
}

/// CPU at the limit, errors and latency up, more requests than before, nothing crashing:
/// scale up.
fn traffic_surge(facts: &Facts<'_>, w: &ResourceRef, load: &Load) -> Option<Finding> {
    let saturated = load.saturated();
    let symptoms = load.failing_requests() || load.slow();
    let overloaded = load.load_up() && symptoms;
    if !saturated && !overloaded {
        return None;
    }
    // A surge is a change against the workload's own baseline: a service that has run at its
    // limit since it started, with its usual errors and latency, has not been surged.
    let changed = load.changed(facts, w);
    if changed == Some(false) {
        return Some(steady_load(facts, w, load));
    }
    let now = facts.now;
    let containers = facts.containers_of(w);
    let crashing = containers
        .iter()
        .any(|c| c.crash_looping(now) || (c.oom_killed() && c.recently_restarted(now)));
    let liveness_kills = facts
        .events_of(w)
        .iter()
        .any(|e| patterns::is_liveness_kill(e.message));
    let mut confidence = 0.4;
    if saturated {
        confidence += 0.2;
    }
    if load.load_up() {
        confidence += 0.2;
    }
    if symptoms {
        confidence += 0.1;
    }
    if crashing {
        confidence -= 0.2;
    } else {
        confidence += 0.05;
    }
    if liveness_kills {
        confidence -= 0.15;
    }
    let recent_rollout = facts
        .rollout_of(w)
        .and_then(|r| r.newest().zip(r.previous()))
        .and_then(|(n, _)| n.created_at)
        .is_some_and(|c| now - c <= Duration::minutes(ROLLOUT_WINDOW_MINUTES));
    if load.rate.is_none() && (recent_rollout || !symptoms) {
        // Without a request rate, a cpu-hungry release or a hot loop look like more traffic.
        confidence -= 0.1;
    }
    let replicas = facts.replicas_of(w).unwrap_or(2).max(1);
    let target = load.replicas_needed(replicas);
    let summary = format!(
        "{w}: {}; {}",
        load.describe(),
        if crashing {
            "some pods also crash"
        } else {
            "no crashes"
        }
    );
    let mut cites = Cites::default();
    cites.extend(load.cites.ids());
    if let Some(o) = facts.object_of(w) {
        cites.add(o.id);
    }
    Some(
        Finding::new(Category::TrafficSurge, w.clone(), confidence, summary, cites)
            .plan(
                Action::Scale {
                    target: w.clone(),
                    replicas: target,
                },
                confidence,
                &format!(
                    "each of the {replicas} replicas is at its cpu limit; {target} replicas bring each under about {:.0}% of it",
                    TARGET_CPU_SHARE * 100.0
                ),
                "cpu per replica under the limit, 5xx ratio and latency back to normal",
            )
            .escalate(
                0.45,
                "if the traffic is not legitimate (a bot, a retry storm), a person must stop it at the edge",
            ),
    )
}

/// A workload that runs at its limit as it always has: nothing changed, so nothing is
/// scaled; a person decides whether it needs more capacity.
fn steady_load(facts: &Facts<'_>, w: &ResourceRef, load: &Load) -> Finding {
    let mut cites = Cites::default();
    cites.extend(load.cites.ids());
    if let Some(o) = facts.object_of(w) {
        cites.add(o.id);
    }
    let summary = format!(
        "{w}: {}; it has run like this since its replicas started, no change against its own baseline: not a surge",
        load.describe()
    );
    Finding::new(Category::None, w.clone(), 0.45, summary, cites)
        .plan(
            Action::None {
                reason: "the load has not changed; the workload runs as it always has".into(),
            },
            0.45,
            "steady utilisation near the limit is how this workload runs, not a fault to repair",
            "nothing changes",
        )
        .escalate(
            0.4,
            "if its latency or error rate are not acceptable at its usual load, a person must plan more capacity",
        )
}

/// Whether the workload runs at its cpu limit (metrics or alerts).
pub(crate) fn saturated(facts: &Facts<'_>, w: &ResourceRef) -> bool {
    Load::of(facts, w).saturated()
}

/// Pods whose liveness kills the probe's timing explains (latency near the timeout, or the
/// workload under load): their restarts are the probe's doing, not the release's or the app's.
pub(crate) fn probe_killed_pods<'f>(facts: &'f Facts<'_>, w: &ResourceRef) -> Vec<&'f str> {
    let mut killed: Vec<&str> = facts
        .events_of(w)
        .iter()
        .filter(|e| e.about_pod() && patterns::is_liveness_kill(e.message))
        .map(|e| e.object_name)
        .collect();
    if killed.is_empty() {
        return killed;
    }
    let load = Load::of(facts, w);
    let timeout_s = liveness_timeout(facts, w);
    let near_timeout = match (load.latency_ms, timeout_s) {
        (Some((latency, _)), Some(t)) => latency >= 0.7 * f64::from(t) * 1000.0,
        _ => false,
    };
    let under_load = load.cpu.is_some_and(|c| c >= 0.6) || load.load_up() || load.saturated();
    // Without latency figures, the failures themselves say it: the probe timed out waiting
    // for an answer, rather than being refused or told the process is unwell.
    let timed_out = facts
        .events_of(w)
        .iter()
        .any(|e| patterns::is_liveness_failure(e.message) && patterns::is_probe_timeout(e.message));
    if !(near_timeout || under_load || timed_out) {
        killed.clear();
    }
    killed.sort_unstable();
    killed.dedup();
    killed
}

fn liveness_timeout(facts: &Facts<'_>, w: &ResourceRef) -> Option<i32> {
    facts.object_of(w).and_then(|o| {
        o.containers
            .iter()
            .filter_map(|c| c.liveness.as_ref())
            .map(|p| p.timeout_seconds)
            .filter(|t| *t > 0)
            .min()
    })
}

/// Liveness probes time out under load and the kubelet restarts healthy containers: scale
/// up (less load per replica), and a person fixes the probe.
fn probe(facts: &Facts<'_>, w: &ResourceRef, load: &Load) -> Option<Finding> {
    let events = facts.events_of(w);
    let failures: Vec<_> = events
        .iter()
        .filter(|e| patterns::is_liveness_failure(e.message))
        .collect();
    let kills: Vec<_> = events
        .iter()
        .filter(|e| patterns::is_liveness_kill(e.message))
        .collect();
    if failures.is_empty() && kills.is_empty() {
        return None;
    }
    let now = facts.now;
    let containers = facts.containers_of(w);
    let killed: Vec<_> = containers
        .iter()
        .filter(|c| c.restarts > 0 && c.last_exit_code == Some(137) && !c.oom_killed())
        .collect();
    let mut affected: Vec<&str> = failures
        .iter()
        .chain(kills.iter())
        .filter(|e| e.about_pod())
        .map(|e| e.object_name)
        .chain(killed.iter().map(|c| c.pod))
        .collect();
    affected.sort_unstable();
    affected.dedup();
    let replicas = facts.replicas_of(w).unwrap_or(affected.len() as i32).max(1);
    let timeout_s = liveness_timeout(facts, w);
    let latency = load.latency_ms.map(|(now, _)| now);
    let near_timeout = match (latency, timeout_s) {
        (Some(l), Some(t)) => l >= 0.7 * f64::from(t) * 1000.0,
        _ => false,
    };
    let timeouts = failures
        .iter()
        .any(|e| patterns::is_probe_timeout(e.message));
    let broad = affected.len() >= 2 || affected.len() as i32 * 2 >= replicas;
    let under_load = load.cpu.is_some_and(|c| c >= 0.6) || load.load_up() || load.saturated();
    let others_healthy = containers
        .iter()
        .any(|c| c.healthy(now) && !affected.contains(&c.pod));
    if !near_timeout && !broad && others_healthy {
        // One replica stuck while the rest are fine: a hang, not the probe.
        return None;
    }
    let mut confidence = 0.45;
    if !kills.is_empty() {
        confidence += 0.1;
    }
    if !killed.is_empty() {
        confidence += 0.05;
    }
    if near_timeout {
        confidence += 0.2;
    }
    if timeouts {
        confidence += 0.05;
    }
    if broad {
        confidence += 0.05;
    }
    if under_load {
        confidence += 0.05;
    }
    let mut cites = Cites::default();
    cites.extend(failures.iter().chain(kills.iter()).map(|e| e.id));
    cites.extend(killed.iter().map(|c| c.id));
    cites.extend(load.cites.ids());
    if let Some(o) = facts.object_of(w) {
        cites.add(o.id);
    }
    let timing = match (latency, timeout_s) {
        (Some(l), Some(t)) => format!("latency {l:.0}ms against a {t}s liveness timeout"),
        (None, Some(t)) => format!("liveness timeout {t}s"),
        (Some(l), None) => format!("latency {l:.0}ms"),
        (None, None) => "probe timing unknown".to_string(),
    };
    let restarts = containers.iter().map(|c| c.restarts).max().unwrap_or(0);
    let summary = format!(
        "{w}: liveness probe failures restart {} (up to {restarts} restarts, exit 137, not OOM); {timing}{}",
        count(affected.len().max(1), "pod"),
        if under_load { ", under load" } else { "" }
    );
    let changed_by = facts
        .rollout_of(w)
        .and_then(|r| r.newest())
        .filter(|n| {
            n.change
                .iter()
                .any(|c| c.to_ascii_lowercase().contains("liveness"))
        })
        .map(|n| format!(" (revision {} changed it)", n.revision))
        .unwrap_or_default();
    let fix = match (timeout_s, latency) {
        (Some(t), Some(l)) => format!(
            "the liveness timeout ({t}s{changed_by}) is below the latency under load ({l:.0}ms); a person must raise timeoutSeconds"
        ),
        _ => "the liveness probe is stricter than the service under load; a person must fix its settings".to_string(),
    };
    let finding = Finding::new(Category::Probe, w.clone(), confidence, summary, cites);
    // Probes that time out on most replicas while the processes run say the service answers
    // too slowly for the probe: less load per replica is what the catalogue can do about it.
    if under_load || near_timeout || (timeouts && broad) {
        let target = load.replicas_needed(replicas);
        Some(
            finding
                .plan(
                    Action::Scale {
                        target: w.clone(),
                        replicas: target,
                    },
                    confidence.min(0.8),
                    &format!(
                        "latency grows with load per replica; {target} replicas instead of {replicas} bring it back under the probe timeout"
                    ),
                    "liveness probes pass, restart counts flat, latency lower",
                )
                .escalate(0.6, &fix),
        )
    } else {
        Some(finding.escalate(confidence.min(0.7), &fix))
    }
}
