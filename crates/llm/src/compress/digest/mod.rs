//! The evidence digest: a bundle rewritten as short lines, each led by the ids of the items
//! it stands for. Signals, objects, rollout history, nodes, metrics, dependencies and past
//! incidents get a line each; container states, events and logs are grouped across pods
//! ([`groups`]); conditions, container specs and revisions are rendered by [`objects`].
//! Whatever does not fit the character budget is counted, not shown.

mod groups;
mod objects;

use std::fmt::Write as _;

use nightshift_core::{Evidence, EvidenceData, EvidenceItem, EvidenceKind};

use super::fence::untrusted;
use super::logs::hms;
use groups::{container_groups, event_groups, log_groups};
use objects::{conditions, container_spec, revision};

/// Limits of the rendering.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Templates shown per folded log block.
    pub templates_per_log: usize,
    /// Event groups shown.
    pub event_groups: usize,
    /// Characters of one untrusted string.
    pub text_chars: usize,
    /// Characters of the whole rendering; items past it are counted, not shown.
    pub total_chars: usize,
    /// Characters of the past incidents and documents the knowledge base retrieved, a part of
    /// `total_chars` of their own, so that context from the past never crowds out the
    /// evidence of the present; the best matches come first and the rest are counted.
    pub past_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            templates_per_log: 12,
            event_groups: 12,
            text_chars: 160,
            total_chars: 11_000,
            past_chars: 900,
        }
    }
}

/// A rendering of one bundle, grouped, deduplicated and folded.
pub struct Digest {
    /// The text.
    pub text: String,
    /// Items not shown because the character budget ran out.
    pub omitted: usize,
}

/// Renders `evidence` compactly. Items are cited by their ids; grouped items list all of
/// theirs.
pub fn digest(evidence: &Evidence, limits: Limits) -> Digest {
    let mut blocks: Vec<String> = Vec::new();
    let of = |k: EvidenceKind| evidence.of_kind(k).collect::<Vec<_>>();

    for item in of(EvidenceKind::Signal) {
        if let EvidenceData::Signal {
            name,
            status,
            labels,
            starts_at,
        } = &item.data
        {
            let labels: Vec<String> = labels
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "alertname" | "prometheus" | "job" | "instance" | "endpoint" | "service"
                    )
                })
                .map(|(k, v)| format!("{k}={}", untrusted(v, 60)))
                .collect();
            blocks.push(format!(
                "{} signal {} {status} since {} on {} {{{}}}",
                item.id.0,
                untrusted(name, 80),
                hms(*starts_at),
                item.resource,
                labels.join(", ")
            ));
        }
    }
    for item in of(EvidenceKind::Object) {
        if let EvidenceData::Object {
            kind,
            replicas,
            ready,
            available,
            updated,
            labels: _,
            conditions: conds,
            containers,
            node_selector,
        } = &item.data
        {
            let mut s = format!("{} object {} ({kind})", item.id.0, item.resource);
            let counts: Vec<String> = [
                ("replicas", replicas),
                ("ready", ready),
                ("available", available),
                ("updated", updated),
            ]
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
            .collect();
            if !counts.is_empty() {
                let _ = write!(s, ": {}", counts.join(", "));
            }
            if !conds.is_empty() {
                let _ = write!(s, "; conditions {}", conditions(conds, limits.text_chars));
            }
            for c in containers {
                let _ = write!(s, "; {}", container_spec(c));
            }
            if !node_selector.is_empty() {
                let sel: Vec<String> = node_selector
                    .iter()
                    .map(|(k, v)| format!("{k}={}", untrusted(v, 60)))
                    .collect();
                let _ = write!(s, "; nodeSelector {}", sel.join(","));
            }
            blocks.push(s);
        }
    }
    blocks.extend(container_groups(&of(EvidenceKind::ContainerStatus), limits));
    for item in of(EvidenceKind::RolloutHistory) {
        if let EvidenceData::RolloutHistory { revisions, current } = &item.data {
            let revs: Vec<String> = revisions.iter().take(4).map(revision).collect();
            blocks.push(format!(
                "{} rollout history of {} (current rev {current}): {}",
                item.id.0,
                item.resource,
                revs.join("; ")
            ));
        }
    }
    for item in of(EvidenceKind::NodeCondition) {
        if let EvidenceData::NodeCondition {
            node,
            conditions: conds,
            taints,
            unschedulable,
            pods,
            workloads,
        } = &item.data
        {
            let mut s = format!(
                "{} node {}: {}",
                item.id.0,
                untrusted(node, 80),
                conditions(conds, limits.text_chars)
            );
            if !taints.is_empty() {
                let _ = write!(s, "; taints {}", names(taints, 6));
            }
            if *unschedulable {
                s.push_str("; cordoned");
            }
            let _ = write!(
                s,
                "; {} pods; workloads {}",
                pods.len(),
                names(workloads, 8)
            );
            blocks.push(s);
        }
    }
    // The same metric with the same values across pods is one line.
    let mut metric_lines: Vec<(String, Vec<&EvidenceItem>, Vec<String>)> = Vec::new();
    for item in of(EvidenceKind::Metric) {
        if let Some((values, subject)) = metric(item) {
            match metric_lines.iter_mut().find(|(v, _, _)| *v == values) {
                Some((_, items, subjects)) => {
                    items.push(item);
                    subjects.push(subject);
                }
                None => metric_lines.push((values, vec![item], vec![subject])),
            }
        }
    }
    for (values, items, subjects) in metric_lines {
        blocks.push(format!(
            "{} metric {values} (of {})",
            ids(&items),
            names(&subjects, 3)
        ));
    }
    for item in of(EvidenceKind::Dependency) {
        if let EvidenceData::Dependency {
            host_port,
            in_cluster,
            ready_endpoints,
            failing_callers,
            error_lines,
        } = &item.data
        {
            let mut s = format!("{} dependency {}", item.id.0, untrusted(host_port, 120));
            if let Some(r) = in_cluster {
                let _ = write!(s, " = {r}");
            }
            if let Some(n) = ready_endpoints {
                let _ = write!(s, ", ready endpoints {n}");
            }
            let _ = write!(
                s,
                ", {error_lines} error lines from callers {}",
                names(failing_callers, 6)
            );
            blocks.push(s);
        }
    }
    let mut past = of(EvidenceKind::PastIncident);
    past.sort_by(|a, b| similarity(b).total_cmp(&similarity(a)));
    let (mut past_used, mut past_left) = (0, 0);
    for item in past {
        if let Some((_, line)) = past_incident(item) {
            let line = format!("{} past incident {line}", item.id.0);
            if past_used + line.len() > limits.past_chars {
                past_left += 1;
                continue;
            }
            past_used += line.len() + 1;
            blocks.push(line);
        }
    }
    if past_left > 0 {
        blocks.push(format!(
            "({past_left} more past incidents not shown: budget)"
        ));
    }
    blocks.extend(event_groups(&of(EvidenceKind::Event), limits));
    blocks.extend(log_groups(&of(EvidenceKind::Logs), limits));

    let mut text = String::new();
    let mut omitted = 0;
    for b in blocks {
        if text.len() + b.len() > limits.total_chars {
            omitted += 1;
            continue;
        }
        text.push_str(&b);
        text.push('\n');
    }
    if omitted > 0 || evidence.truncated > 0 {
        let _ = writeln!(
            text,
            "({} evidence blocks not shown: budget)",
            omitted + evidence.truncated
        );
    }
    Digest { text, omitted }
}

/// A metric item as its name and values, and its subject.
fn metric(item: &EvidenceItem) -> Option<(String, String)> {
    let EvidenceData::Metric {
        name,
        subject,
        current,
        min,
        max,
        trend_per_minute,
        limit,
        window_seconds,
    } = &item.data
    else {
        return None;
    };
    let mut s = format!("{}: last {}", untrusted(name, 80), human(name, *current));
    if *window_seconds > 0 {
        let trend = human(name, trend_per_minute.abs());
        let sign = if *trend_per_minute < 0.0 { "-" } else { "+" };
        let _ = write!(
            s,
            ", min {}, max {}, trend {sign}{trend}/min over {}m",
            human(name, *min),
            human(name, *max),
            window_seconds / 60
        );
    }
    if let Some(l) = limit {
        let _ = write!(s, ", limit {}", human(name, *l));
    }
    Some((s, subject.clone()))
}

/// A past-incident item's similarity (0 for other items).
fn similarity(item: &EvidenceItem) -> f64 {
    match &item.data {
        EvidenceData::PastIncident { similarity, .. } if similarity.is_finite() => *similarity,
        _ => 0.0,
    }
}

/// A past-incident item as one line (`inc-7 on deployment/shop/x: resource/memory-limit,
/// action set-resources, resolved, similarity 0.82`), with its category.
pub fn past_incident(item: &EvidenceItem) -> Option<(&str, String)> {
    let EvidenceData::PastIncident {
        incident,
        category,
        action,
        outcome,
        similarity,
    } = &item.data
    else {
        return None;
    };
    Some((
        category,
        format!(
            "{} on {}: {}, action {}, {}, similarity {similarity:.2}",
            untrusted(incident, 40),
            item.resource,
            untrusted(category, 40),
            untrusted(action.as_deref().unwrap_or("none"), 40),
            untrusted(outcome, 20)
        ),
    ))
}

/// Ids to cite, at most a dozen (the rest counted).
fn ids(items: &[&EvidenceItem]) -> String {
    const MAX: usize = 12;
    let mut s = items
        .iter()
        .take(MAX)
        .map(|i| i.id.0.as_str())
        .collect::<Vec<_>>()
        .join(",");
    if items.len() > MAX {
        let _ = write!(s, "(+{})", items.len() - MAX);
    }
    s
}

fn names(list: &[String], max: usize) -> String {
    let mut s = list
        .iter()
        .take(max)
        .map(|n| untrusted(n, 80))
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > max {
        let _ = write!(s, " (+{})", list.len() - max);
    }
    s
}

/// A quantity in human units: bytes as Mi/Gi for memory metrics, cores as millicores.
fn human(name: &str, v: f64) -> String {
    let n = name.to_lowercase();
    if n.contains("bytes") || n.contains("memory") {
        let mi = v / (1024.0 * 1024.0);
        if mi.abs() >= 1024.0 {
            format!("{:.1}Gi", mi / 1024.0)
        } else {
            format!("{mi:.0}Mi")
        }
    } else if n.contains("cpu") && v.abs() < 64.0 {
        format!("{:.0}m", v * 1000.0)
    } else if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
