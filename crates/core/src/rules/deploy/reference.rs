//! ConfigMaps and Secrets that do not exist, and the revision that added the reference.

use chrono::Duration;

use crate::Category;
use crate::resource::ResourceRef;
use crate::rules::facts::{ContainerFact, Facts, Rollout};
use crate::rules::finding::{Cites, Finding, count};
use crate::rules::patterns::{self};

use super::*;

/// CreateContainerConfigError on a ConfigMap or Secret that does not exist: roll back the
/// revision that added the reference; escalate when the object was deleted from under a
/// revision that ran fine.
pub(super) fn missing_reference(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let affected: Vec<&ContainerFact<'_>> = facts
        .containers_of(w)
        .into_iter()
        .filter(|c| c.config_error())
        .collect();
    let events: Vec<_> = facts
        .events_of(w)
        .into_iter()
        .filter(|e| patterns::missing_reference(e.message).is_some())
        .collect();
    if affected.is_empty() && events.is_empty() {
        return None;
    }
    let mut refs: Vec<((String, String), usize)> = Vec::new();
    for text in affected
        .iter()
        .filter_map(|c| c.message)
        .chain(events.iter().map(|e| e.message))
    {
        if let Some(r) = patterns::missing_reference(text) {
            match refs.iter_mut().find(|(k, _)| *k == r) {
                Some((_, n)) => *n += 1,
                None => refs.push((r, 1)),
            }
        }
    }
    refs.sort_by_key(|r| std::cmp::Reverse(r.1));
    let mut cites = Cites::default();
    cites.extend(affected.iter().map(|c| c.id));
    cites.extend(events.iter().map(|e| e.id));
    let ns = w.namespace().unwrap_or_default();

    let Some(((kind, name), _)) = refs.into_iter().next() else {
        let summary = format!(
            "{w}: {} cannot be created (CreateContainerConfigError) and the message names no object",
            count(pods_count(&affected), "pod")
        );
        return Some(
            Finding::new(Category::MissingReference, w.clone(), 0.5, summary, cites).escalate(
                0.5,
                "a container's configuration cannot be assembled; a person must check its ConfigMaps and Secrets",
            ),
        );
    };
    let reference = format!("{kind}/{name}");
    let rollout = facts.rollout_of(w);
    if let Some(r) = rollout {
        cites.add(r.id);
    }
    let object = facts.object_of(w);
    let in_template = object.is_some_and(|o| {
        o.containers.iter().any(|c| {
            c.config_refs
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&reference))
        })
    });
    if let (true, Some(o)) = (in_template, object) {
        cites.add(o.id);
    }
    let newest = rollout.and_then(Rollout::newest);
    let previous = rollout.and_then(Rollout::previous);
    let added_by_newest = newest.is_some_and(|n| {
        n.change
            .iter()
            .any(|c| mentions_reference(c, &kind, &name) && !c.trim_start().starts_with('-'))
    });
    let pods: Vec<&str> = affected.iter().map(|c| c.pod).collect();
    let onset = facts.onset(w, &pods).unwrap_or(facts.now);
    let recent = newest.and_then(|n| n.created_at).is_some_and(|created| {
        let lead = onset - created;
        lead >= -Duration::minutes(2) && lead <= window()
    });
    let healthy_others = facts
        .containers_of(w)
        .iter()
        .any(|c| c.healthy(facts.now) && !pods.contains(&c.pod));

    match (newest, previous) {
        (Some(newest), Some(previous)) if added_by_newest => {
            let summary = format!(
                "{w}: {kind} {ns}/{name} does not exist; revision {} added the reference ({}), {} cannot start",
                newest.revision,
                newest
                    .change
                    .iter()
                    .find(|c| mentions_reference(c, &kind, &name))
                    .map(String::as_str)
                    .unwrap_or(""),
                count(pods_count(&affected).max(1), "pod")
            );
            let confidence = if recent { 0.9 } else { 0.8 };
            Some(
                Finding::new(Category::MissingReference, w.clone(), confidence, summary, cites)
                    .plan(
                        rollback(w, previous),
                        confidence,
                        &format!(
                            "revision {} references {reference}, which nobody created; revision {} does not need it",
                            newest.revision, previous.revision
                        ),
                        "the rollout returns to the previous template; no container waits in CreateContainerConfigError",
                    )
                    .escalate(
                        0.45,
                        &format!("someone must create {kind} {ns}/{name} before rolling out again"),
                    ),
            )
        }
        (Some(newest), Some(previous)) if recent && healthy_others => {
            let summary = format!(
                "{w}: {kind} {ns}/{name} does not exist; the failing pods came with revision {} while older pods run",
                newest.revision
            );
            Some(
                Finding::new(Category::MissingReference, w.clone(), 0.72, summary, cites)
                    .plan(
                        rollback(w, previous),
                        0.7,
                        &format!(
                            "only pods of the new revision {} fail; the change list does not say it added {reference}, so this is likely but not certain",
                            newest.revision
                        ),
                        "the rollout returns to the previous template and its pods keep running",
                    )
                    .escalate(
                        0.6,
                        &format!("{kind} {ns}/{name} is missing; a person should check whether it was deleted"),
                    ),
            )
        }
        _ => {
            let since = newest
                .map(|n| match n.created_at {
                    Some(t) => format!(", which has run since {}", t.format("%Y-%m-%d %H:%M")),
                    None => String::new(),
                })
                .unwrap_or_default();
            let revision = newest
                .map(|n| format!("revision {}{since}", n.revision))
                .unwrap_or_else(|| "the running template".to_string());
            let summary = format!(
                "{w}: {kind} {ns}/{name} referenced by {revision} no longer exists; {} cannot start",
                count(pods_count(&affected).max(1), "pod")
            );
            let confidence = if in_template || newest.is_some() {
                0.85
            } else {
                0.7
            };
            Some(
                Finding::new(Category::MissingReference, w.clone(), confidence, summary, cites)
                    .escalate(
                        confidence,
                        &format!(
                            "{kind} {ns}/{name} was deleted while the workload still needs it; nothing in the catalogue recreates it: a person must restore it"
                        ),
                    ),
            )
        }
    }
}

/// A change line that adds a reference to `kind/name`.
pub(super) fn mentions_reference(change: &str, kind: &str, name: &str) -> bool {
    let c = change.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    c.contains(&format!("{kind}/{name}"))
        || (c.contains(kind)
            && c.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-' || ch == '.'))
                .any(|word| word == name))
}
