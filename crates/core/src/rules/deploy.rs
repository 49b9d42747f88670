//! Signatures tied to what a workload runs: a broken release, an image that cannot be
//! pulled, a ConfigMap or Secret that does not exist, pods that fit on no node.

use chrono::Duration;

use super::facts::{
    ContainerFact, Facts, MetricFact, MetricKind, ROLLOUT_WINDOW_MINUTES, RevisionOf, Rollout,
    short_image,
};
use super::finding::{Cites, Finding, count};
use super::patterns::{self, PullFailure, SchedulingReasons};
use crate::Category;
use crate::action::Action;
use crate::evidence::RevisionSummary;
use crate::resource::ResourceRef;

/// Every deploy signature over the workloads under examination.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in facts.subjects() {
        out.extend(bad_release(facts, &w));
        out.extend(image_pull(facts, &w));
        out.extend(missing_reference(facts, &w));
        out.extend(scheduling(facts, &w));
    }
    out
}

fn rollback(w: &ResourceRef, to: &RevisionSummary) -> Action {
    Action::Rollback {
        target: w.clone(),
        revision: Some(to.revision),
    }
}

fn window() -> Duration {
    Duration::minutes(ROLLOUT_WINDOW_MINUTES)
}

/// Failures (crash loop, OOM, not ready, errors) only in pods of the newest revision, which
/// came shortly before them, while the previous revision was healthy: roll back.
fn bad_release(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let now = facts.now;
    let containers = facts.containers_of(w);
    // Liveness kills under load are the probe signature's, even after a rollout.
    let probe_killed = super::capacity::probe_killed_pods(facts, w);
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
    let saturated = errors_only && super::capacity::saturated(facts, w);
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

fn pods_count(containers: &[&ContainerFact<'_>]) -> usize {
    let mut pods: Vec<&str> = containers.iter().map(|c| c.pod).collect();
    pods.sort_unstable();
    pods.dedup();
    pods.len()
}

/// At most `n` characters of a log line.
pub(crate) fn clip(line: &str, n: usize) -> String {
    if line.chars().count() <= n {
        line.to_string()
    } else {
        let mut s: String = line.chars().take(n).collect();
        s.push('…');
        s
    }
}

/// ErrImagePull / ImagePullBackOff: roll back when a new revision brought the image.
fn image_pull(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let pulling: Vec<&ContainerFact<'_>> = facts
        .containers_of(w)
        .into_iter()
        .filter(|c| c.pull_failing())
        .collect();
    let events: Vec<_> = facts
        .events_of(w)
        .into_iter()
        .filter(|e| {
            e.event_type.eq_ignore_ascii_case("warning")
                && (e.message.contains("pull image")
                    || e.message.contains("ErrImagePull")
                    || e.message.contains("ImagePullBackOff")
                    || e.message.contains("pulling image"))
        })
        .collect();
    if pulling.is_empty() && events.is_empty() {
        return None;
    }
    let texts: Vec<&str> = pulling
        .iter()
        .filter_map(|c| c.message)
        .chain(events.iter().map(|e| e.message))
        .collect();
    let failure = texts
        .iter()
        .map(|t| PullFailure::of(t))
        .min()
        .unwrap_or(PullFailure::Unknown);
    let image = pulling
        .first()
        .map(|c| c.image.to_string())
        .or_else(|| texts.iter().find_map(|t| quoted_image(t)))
        .unwrap_or_default();
    let mut cites = Cites::default();
    cites.extend(pulling.iter().map(|c| c.id));
    cites.extend(events.iter().map(|e| e.id));

    let rollout = facts.rollout_of(w);
    if let Some(r) = rollout {
        cites.add(r.id);
    }
    let introduced = rollout.and_then(|r| introduced_image(r, &image));
    let mut confidence = 0.6;
    if failure != PullFailure::Unknown {
        confidence += 0.15;
    }
    if introduced.is_some() {
        confidence += 0.1;
    }
    if pods_count(&pulling) >= 2 || events.iter().any(|e| e.times() >= 2) {
        confidence += 0.05;
    }
    let image_short = short_image(&image);
    match (introduced, failure) {
        (Some((newest, previous)), f) if f != PullFailure::Network => {
            let summary = format!(
                "{w}: image {image_short} of revision {} {}; revision {} runs {}",
                newest.revision,
                f.describe(),
                previous.revision,
                previous
                    .images
                    .first()
                    .map(|i| short_image(i))
                    .unwrap_or("an older image")
            );
            let plan_confidence = if f == PullFailure::NotFound { 0.9 } else { 0.8 };
            Some(
                Finding::new(Category::ImagePull, w.clone(), confidence, summary, cites)
                    .plan(
                        rollback(w, previous),
                        plan_confidence,
                        &format!(
                            "revision {} changed the image to one that cannot be pulled; revision {} runs an image that exists",
                            newest.revision, previous.revision
                        ),
                        "the rollout returns to the previous image; no pod waits in ImagePullBackOff",
                    )
                    .escalate(0.4, "someone must publish the intended image or fix the tag"),
            )
        }
        (introduced, PullFailure::Network) => {
            let summary =
                format!("{w}: image {image_short} cannot be pulled: the registry is unreachable");
            let mut finding = Finding::new(
                Category::ImagePull,
                w.clone(),
                confidence - 0.1,
                summary,
                cites,
            )
            .escalate(
                0.5,
                "the registry cannot be reached from the nodes; pulls succeed again once it answers",
            );
            if let Some((_, previous)) = introduced {
                finding = finding.plan(
                    rollback(w, previous),
                    0.45,
                    "the previous image is probably cached on the nodes",
                    "pods start from the cached previous image",
                );
            }
            Some(finding)
        }
        (_, f) => {
            let summary = format!(
                "{w}: image {image_short} {}; no recent revision introduced it",
                f.describe()
            );
            let reason = match f {
                PullFailure::Denied => {
                    "the registry refuses the pull credentials; a person must fix the image pull secret"
                }
                _ => {
                    "the image the workload has been running can no longer be pulled; a person must restore it in the registry"
                }
            };
            let mut finding =
                Finding::new(Category::ImagePull, w.clone(), confidence, summary, cites)
                    .escalate(0.7, reason);
            if rollout.is_none() {
                finding = finding
                    .plan(
                        Action::Rollback {
                            target: w.clone(),
                            revision: None,
                        },
                        0.35,
                        "no rollout history was collected; if a rollout brought this image, rolling back restores the old one",
                        "pods return to the previous image",
                    )
                    .note("no rollout history in the evidence: cannot tell whether a rollout brought the image".into());
            }
            Some(finding)
        }
    }
}

/// `(newest, previous)` when the newest revision brought `image` and the previous did not run it.
fn introduced_image<'r>(
    rollout: &'r Rollout<'_>,
    image: &str,
) -> Option<(&'r RevisionSummary, &'r RevisionSummary)> {
    let newest = rollout.newest()?;
    let previous = rollout.previous()?;
    let in_new = newest
        .images
        .iter()
        .any(|i| super::facts::same_image(i, image));
    let in_old = previous
        .images
        .iter()
        .any(|i| super::facts::same_image(i, image));
    (in_new && !in_old).then_some((newest, previous))
}

fn quoted_image(text: &str) -> Option<String> {
    let start = text.find("image \"")? + "image \"".len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

/// CreateContainerConfigError on a ConfigMap or Secret that does not exist: roll back the
/// revision that added the reference; escalate when the object was deleted from under a
/// revision that ran fine.
fn missing_reference(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
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
fn mentions_reference(change: &str, kind: &str, name: &str) -> bool {
    let c = change.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    c.contains(&format!("{kind}/{name}"))
        || (c.contains(kind)
            && c.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-' || ch == '.'))
                .any(|word| word == name))
}

/// FailedScheduling: roll back when a new revision made the pods unschedulable; escalate
/// when the cluster simply has no room.
fn scheduling(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
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
