//! Pods that fit on no node, and whether a new revision made them so.

use chrono::Duration;

use crate::Category;
use crate::resource::ResourceRef;
use crate::rules::facts::{Facts, RevisionOf, Rollout};
use crate::rules::finding::{Cites, Finding, count};
use crate::rules::patterns::SchedulingReasons;

use super::*;

/// FailedScheduling: roll back when a new revision made the pods unschedulable; escalate
/// when the cluster simply has no room.
pub(super) fn scheduling(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let mut reasons = SchedulingReasons::default();
    let mut cites = Cites::default();
    let mut pending: Vec<&str> = Vec::new();
    let mut first_seen = None;
    for e in facts.events_of(w) {
        let r = SchedulingReasons::parse(e.message);
        if e.reason == "FailedScheduling" || r.any() {
            cites.add(e.id);
            reasons.merge(r);
            if e.about_pod() && !pending.contains(&e.object_name) {
                pending.push(e.object_name);
            }
            first_seen = Some(
                first_seen.map_or(e.when(), |f: chrono::DateTime<chrono::Utc>| f.min(e.when())),
            );
        }
    }
    for c in facts.containers_of(w) {
        let text = [c.pod_reason, c.message, c.reason];
        let unschedulable = text
            .iter()
            .flatten()
            .any(|t| t.contains("Unschedulable") || SchedulingReasons::parse(t).any());
        if c.pending() && unschedulable {
            cites.add(c.id);
            for t in text.iter().flatten() {
                reasons.merge(SchedulingReasons::parse(t));
            }
            if !pending.contains(&c.pod) {
                pending.push(c.pod);
            }
        }
    }
    for o in &facts.objects {
        let ResourceRef::Pod { namespace, name } = o.resource else {
            continue;
        };
        if facts.owner_of(namespace, name).as_ref() != Some(w) {
            continue;
        }
        if let Some(cond) = o
            .conditions
            .iter()
            .find(|c| c.kind == "PodScheduled" && c.status.eq_ignore_ascii_case("false"))
        {
            cites.add(o.id);
            if let Some(m) = &cond.message {
                reasons.merge(SchedulingReasons::parse(m));
            }
            if !pending.contains(&name.as_str()) {
                pending.push(name);
            }
        }
    }
    if cites.is_empty() || reasons.only_node_condition_taints() {
        return None;
    }
    let rollout = facts.rollout_of(w);
    let newest = rollout.and_then(Rollout::newest);
    let previous = rollout.and_then(Rollout::previous);
    if let Some(r) = rollout {
        cites.add(r.id);
    }
    let onset = first_seen.unwrap_or(facts.now);
    let recent = newest.and_then(|n| n.created_at).is_some_and(|created| {
        let lead = onset - created;
        lead >= -Duration::minutes(2) && lead <= window()
    });
    let change_mentions = newest.is_some_and(|n| {
        n.change.iter().any(|c| {
            let c = c.to_ascii_lowercase();
            [
                "request",
                "limit",
                "cpu",
                "memory",
                "selector",
                "affinity",
                "toleration",
                "gpu",
                "nodename",
            ]
            .iter()
            .any(|k| c.contains(k))
        })
    });
    let running = facts.containers_of(w);
    let running_hashes: Vec<Option<&str>> = running
        .iter()
        .filter(|c| c.running())
        .map(|c| facts.template_of(w, c.pod))
        .collect();
    let disjoint = !running_hashes.is_empty()
        && pending.iter().all(|p| {
            let h = facts.template_of(w, p);
            h.is_some() && !running_hashes.contains(&h)
        });
    let older_pods_run = running.iter().any(|c| {
        c.running() && rollout.is_some_and(|r| facts.revision_of(r, c) == RevisionOf::Previous)
    });
    let what = reasons.describe();
    // A node-condition taint among the reasons means some of the trouble is a node's.
    let node_trouble = if reasons
        .taints
        .iter()
        .any(|t| t.starts_with("node.kubernetes.io/"))
    {
        0.15
    } else {
        0.0
    };
    let pods = count(pending.len().max(1), "pod");
    match (newest, previous) {
        (Some(newest), Some(previous)) if recent || change_mentions => {
            let strong = change_mentions || disjoint || older_pods_run;
            let confidence = if strong { 0.85 } else { 0.72 } - node_trouble;
            let change = newest
                .change
                .first()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            let summary = format!(
                "{w}: {pods} of revision {}{change} fit on no node: {what}",
                newest.revision
            );
            Some(
                Finding::new(Category::Scheduling, w.clone(), confidence, summary, cites)
                    .plan(
                        rollback(w, previous),
                        confidence,
                        &format!(
                            "revision {} asks for something no node offers; revision {} was scheduled fine",
                            newest.revision, previous.revision
                        ),
                        "the rollout returns to the previous template; no pod stays Pending",
                    )
                    .escalate(
                        0.45,
                        "if the new requirement is intended, a person must add matching nodes",
                    ),
            )
        }
        _ => {
            let summary =
                format!("{w}: {pods} fit on no node: {what}; not tied to a recent rollout");
            Some(
                Finding::new(
                    Category::Scheduling,
                    w.clone(),
                    0.7 - node_trouble,
                    summary,
                    cites,
                )
                .escalate(
                    0.7,
                    &format!(
                        "pods fit on no node ({what}); the cluster needs capacity or the template a change, which a person must decide"
                    ),
                ),
            )
        }
    }
}
