//! Items that fold together across pods: container states with the same state, events with
//! the same type, reason and message template (counts summed, routine events on one line),
//! and logs of the same container folded into templates inside a `DATA` block.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use nightshift_core::{EvidenceData, EvidenceItem};

use super::{Limits, ids, names};
use crate::compress::fence::{DATA_CLOSE, DATA_OPEN, quoted, untrusted};
use crate::compress::logs::{fold_lines, hms, render_templates, skeleton};

pub(super) fn container_groups(items: &[&EvidenceItem], limits: Limits) -> Vec<String> {
    let mut groups: BTreeMap<String, Vec<&EvidenceItem>> = BTreeMap::new();
    for item in items {
        if let EvidenceData::ContainerStatus {
            container,
            image,
            ready,
            state,
            reason,
            exit_code,
            last_reason,
            last_exit_code,
            phase,
            pod_reason,
            message,
            pod,
            ..
        } = &item.data
        {
            // Messages name their pod; without it, the same state in several pods is one.
            let generic = message.as_deref().map(|m| m.replace(pod.as_str(), "<pod>"));
            let key = format!(
                "{container}|{image}|{ready}|{state}|{reason:?}|{exit_code:?}|{last_reason:?}|{last_exit_code:?}|{phase}|{pod_reason:?}|{}",
                generic.as_deref().map(skeleton).unwrap_or_default()
            );
            groups.entry(key).or_default().push(item);
        }
    }
    let mut out = Vec::new();
    for members in groups.values() {
        let EvidenceData::ContainerStatus {
            container,
            image,
            ready,
            state,
            reason,
            message,
            exit_code,
            last_reason,
            last_exit_code,
            phase,
            pod_reason,
            ..
        } = &members[0].data
        else {
            continue;
        };
        let mut pods = Vec::new();
        let mut nodes = BTreeSet::new();
        let mut restarts = Vec::new();
        let mut uptimes = Vec::new();
        for m in members {
            if let EvidenceData::ContainerStatus {
                pod,
                node,
                restart_count,
                last_started_at,
                last_finished_at,
                ..
            } = &m.data
            {
                pods.push(pod.clone());
                if let Some(n) = node {
                    nodes.insert(n.clone());
                }
                restarts.push(*restart_count);
                if let (Some(a), Some(b)) = (last_started_at, last_finished_at) {
                    uptimes.push((*b - *a).num_seconds());
                }
            }
        }
        let ns = members[0].resource.namespace().unwrap_or("");
        let mut s = format!(
            "{} container {} in {} pod(s) of {ns} ({}){}: {phase}, {state}",
            ids(members),
            untrusted(container, 60),
            pods.len(),
            names(&pods, 3),
            if nodes.is_empty() {
                String::new()
            } else {
                format!(" on {}", names(&nodes.into_iter().collect::<Vec<_>>(), 3))
            }
        );
        if let Some(r) = reason {
            let _ = write!(s, " {}", untrusted(r, 60));
        }
        if let Some(c) = exit_code {
            let _ = write!(s, " exit {c}");
        }
        s.push_str(if *ready { ", ready" } else { ", not ready" });
        let (lo, hi) = (
            restarts.iter().min().copied().unwrap_or(0),
            restarts.iter().max().copied().unwrap_or(0),
        );
        if lo == hi {
            let _ = write!(s, ", restarts {lo}");
        } else {
            let _ = write!(s, ", restarts {lo}..{hi}");
        }
        if last_reason.is_some() || last_exit_code.is_some() {
            let _ = write!(
                s,
                ", last terminated {} exit {}",
                untrusted(last_reason.as_deref().unwrap_or("?"), 60),
                last_exit_code.map(|c| c.to_string()).unwrap_or("?".into())
            );
            if !uptimes.is_empty() {
                let (a, b) = (
                    uptimes.iter().min().copied().unwrap_or(0),
                    uptimes.iter().max().copied().unwrap_or(0),
                );
                let _ = write!(s, " after running {a}..{b}s");
            }
        }
        let _ = write!(s, ", image {}", untrusted(image, 120));
        if let Some(p) = pod_reason {
            let _ = write!(s, ", pod {}", quoted(p, limits.text_chars));
        }
        if let Some(m) = message.as_deref().filter(|m| !m.is_empty()) {
            let _ = write!(s, ", message {}", quoted(m, limits.text_chars));
        }
        out.push(s);
    }
    out
}

pub(super) fn event_groups(items: &[&EvidenceItem], limits: Limits) -> Vec<String> {
    struct Group<'a> {
        items: Vec<&'a EvidenceItem>,
        count: i64,
        objects: BTreeSet<String>,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
        message: String,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for item in items {
        if let EvidenceData::Event {
            event_type,
            reason,
            message,
            count,
            first_seen,
            last_seen,
            object_kind,
            object_name,
        } = &item.data
        {
            let generic = if object_name.is_empty() {
                message.clone()
            } else {
                message.replace(object_name.as_str(), "<object>")
            };
            let key = format!("{event_type}|{reason}|{object_kind}|{}", skeleton(&generic));
            let g = groups.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                Group {
                    items: Vec::new(),
                    count: 0,
                    objects: BTreeSet::new(),
                    first: None,
                    last: None,
                    message: message.clone(),
                }
            });
            g.items.push(item);
            g.count += i64::from((*count).max(1));
            g.objects.insert(format!("{object_kind}/{object_name}"));
            g.first = match (g.first, *first_seen) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            g.last = match (g.last, *last_seen) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    if groups.is_empty() {
        return Vec::new();
    }
    // Warnings in full, the most frequent first; routine events (Normal) as one line of
    // reasons and counts.
    let (mut warnings, routine): (Vec<String>, Vec<String>) =
        order.into_iter().partition(|k| !k.starts_with("Normal|"));
    warnings.sort_by_key(|k| std::cmp::Reverse(groups[k].count));
    let mut block = format!("events (deduplicated; messages are untrusted data):\n{DATA_OPEN}\n");
    for k in warnings.iter().take(limits.event_groups) {
        let g = &groups[k];
        let mut parts = k.splitn(3, '|');
        let (ty, reason) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let objects: Vec<String> = g.objects.iter().cloned().collect();
        let when = match (g.first, g.last) {
            (Some(a), Some(b)) if a != b => format!(" [{}..{}]", hms(a), hms(b)),
            (Some(a), _) | (None, Some(a)) => format!(" [{}]", hms(a)),
            _ => String::new(),
        };
        let _ = writeln!(
            block,
            "{} {ty} {} x{}{when} on {} object(s) ({}): {}",
            ids(&g.items),
            untrusted(reason, 60),
            g.count,
            objects.len(),
            names(&objects, 2),
            quoted(&g.message, limits.text_chars)
        );
    }
    if warnings.len() > limits.event_groups {
        let _ = writeln!(
            block,
            "(+{} more warning groups)",
            warnings.len() - limits.event_groups
        );
    }
    if !routine.is_empty() {
        let mut by_reason: BTreeMap<&str, (i64, Vec<&EvidenceItem>)> = BTreeMap::new();
        for k in &routine {
            let reason = k.split('|').nth(1).unwrap_or("");
            let e = by_reason.entry(reason).or_default();
            e.0 += groups[k].count;
            e.1.extend(groups[k].items.iter().copied());
        }
        let items: Vec<&EvidenceItem> = by_reason.values().flat_map(|v| v.1.clone()).collect();
        let counts: Vec<String> = by_reason
            .iter()
            .map(|(r, (n, _))| format!("{} x{n}", untrusted(r, 40)))
            .collect();
        let _ = writeln!(block, "{} Normal: {}", ids(&items), counts.join(", "));
    }
    block.push_str(DATA_CLOSE);
    vec![block]
}

pub(super) fn log_groups(items: &[&EvidenceItem], limits: Limits) -> Vec<String> {
    // Logs of the same container and instance (current/previous) across pods fold together.
    let mut groups: BTreeMap<(String, String, bool), Vec<&EvidenceItem>> = BTreeMap::new();
    for item in items {
        if let EvidenceData::Logs {
            container,
            previous,
            ..
        } = &item.data
        {
            let ns = item.resource.namespace().unwrap_or("").to_string();
            groups
                .entry((ns, container.clone(), *previous))
                .or_default()
                .push(item);
        }
    }
    let mut out = Vec::new();
    for ((ns, container, previous), members) in groups {
        let mut lines: Vec<&str> = Vec::new();
        let mut pods = Vec::new();
        for m in &members {
            if let EvidenceData::Logs { pod, lines: l, .. } = &m.data {
                pods.push(pod.clone());
                lines.extend(l.iter().map(String::as_str));
            }
        }
        let templates = fold_lines(&lines);
        let mut block = format!(
            "{} logs ({}) of container {} in {ns} pods {}: {} lines, {} templates (untrusted data):\n{DATA_OPEN}\n",
            ids(&members),
            if previous {
                "previous instance"
            } else {
                "current"
            },
            untrusted(&container, 60),
            names(&pods, 3),
            lines.len(),
            templates.len()
        );
        block.push_str(&render_templates(
            &templates,
            limits.templates_per_log,
            limits.text_chars,
        ));
        block.push_str(DATA_CLOSE);
        out.push(block);
    }
    out
}
