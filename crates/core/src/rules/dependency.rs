//! Signatures where the root cause is something the incident's workload calls: a dependency
//! that stopped answering, or a workload someone scaled to zero.

use super::deploy::clip;
use super::facts::{ContainerFact, Facts, MetricKind, name_of};
use super::finding::{Cites, Finding, count};
use super::patterns;
use crate::Category;
use crate::action::Action;
use crate::resource::{ResourceRef, WorkloadKind};

/// Replicas to restore when nothing tells how many there were.
const DEFAULT_REPLICAS: i32 = 2;

/// Dependency signatures over the whole bundle.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out: Vec<Finding> = follow_chains(candidates(facts))
        .iter()
        .filter_map(|c| unavailable(facts, c))
        .collect();
    out.extend(scaled_to_zero(facts));
    out
}

/// A dependency that callers fail to reach, merged from Dependency items and log lines.
#[derive(Debug)]
struct Candidate {
    host_port: String,
    target: ResourceRef,
    callers: Vec<String>,
    error_lines: usize,
    ready_endpoints: Option<u32>,
    collected: bool,
    sample: Option<String>,
    cites: Cites,
}

fn candidates(facts: &Facts<'_>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let caller_ns = facts
        .incident
        .resource
        .namespace()
        .map(str::to_string)
        .or_else(|| {
            facts
                .primary
                .as_ref()
                .and_then(|p| p.namespace().map(str::to_string))
        });
    for d in &facts.dependencies {
        if !plausible_host_port(&d.host_port) && d.in_cluster.is_none() {
            continue;
        }
        let target = resolve(facts, &d.host_port, d.in_cluster, caller_ns.as_deref());
        let c = entry(&mut out, &d.host_port, target);
        c.collected = true;
        c.error_lines = c.error_lines.saturating_add(d.error_lines);
        c.ready_endpoints = d.ready_endpoints.or(c.ready_endpoints);
        for caller in d.failing_callers {
            let caller = caller_workload(facts, caller);
            if !caller.is_empty() && !c.callers.contains(&caller) {
                c.callers.push(caller);
            }
        }
        c.cites.add(d.id);
    }
    for l in &facts.logs {
        let ns = l
            .owner
            .as_ref()
            .and_then(|o| o.namespace().map(str::to_string))
            .or_else(|| caller_ns.clone());
        for line in l.lines.iter() {
            let Some(host_port) = patterns::connection_failure_target(line) else {
                continue;
            };
            let target = resolve(facts, &host_port, None, ns.as_deref());
            if l.owner.as_ref() == Some(&target) {
                continue;
            }
            let c = entry(&mut out, &host_port, target);
            c.error_lines = c.error_lines.saturating_add(1);
            if c.sample.is_none() {
                c.sample = Some(clip(patterns::strip_timestamp(line), 110));
            }
            if let Some(owner) = &l.owner {
                let key = owner.locate_key();
                if !c.callers.contains(&key) {
                    c.callers.push(key);
                }
            }
            c.cites.add(l.id);
        }
    }
    correlated_root(facts, &mut out);
    out.retain(|c| c.error_lines > 0 || !c.callers.is_empty());
    out
}

/// Cascades: a dependency that does not answer because it cannot reach its own dependency
/// (its own logs blame that one) is a symptom, not the cause. Its candidate is folded into
/// the deeper one, whose callers then include the whole chain; restarting the middle of the
/// chain fixes nothing.
fn follow_chains(mut all: Vec<Candidate>) -> Vec<Candidate> {
    loop {
        let link = all.iter().enumerate().find_map(|(i, c)| {
            let key = c.target.locate_key();
            if !matches!(c.target, ResourceRef::Workload { .. }) {
                return None;
            }
            all.iter()
                .position(|d| d.target != c.target && d.error_lines > 0 && d.callers.contains(&key))
                .map(|j| (i, j))
        });
        let Some((middle, deeper)) = link else {
            return all;
        };
        let folded = all.remove(middle);
        let deeper = if deeper > middle { deeper - 1 } else { deeper };
        let d = &mut all[deeper];
        for caller in folded.callers {
            if !d.callers.contains(&caller) {
                d.callers.push(caller);
            }
        }
        d.cites.extend(folded.cites.ids());
    }
}

/// The correlator may have made the dependency itself the incident's root: its bundle then
/// holds the callers' alerts rather than their logs, and those alerts are what shows it is
/// missed.
fn correlated_root(facts: &Facts<'_>, out: &mut Vec<Candidate>) {
    let root = match (&facts.incident.resource, &facts.primary) {
        (ResourceRef::External { .. }, _) => facts.incident.resource.clone(),
        (_, Some(p)) => p.clone(),
        _ => return,
    };
    let mut alerting: Vec<(String, &crate::evidence::EvidenceId)> = facts
        .signals
        .iter()
        .filter(|s| s.firing)
        .filter_map(|s| Some((signal_workload(facts, s)?, s.id)))
        .filter(|(w, _)| *w != root)
        .map(|(w, id)| (w.locate_key(), id))
        .collect();
    // An alert that the root's Service has no endpoints while something calls it says the
    // callers miss it, even before their own alerts arrive.
    for s in facts
        .signals
        .iter()
        .filter(|s| s.firing && s.name == "ServiceNoEndpointsWithCallers")
    {
        if signal_workload(facts, s).as_ref() == Some(&root) {
            alerting.push((format!("callers of {}", root.locate_key()), s.id));
        }
    }
    if alerting.is_empty() {
        return;
    }
    let index = match out.iter().position(|c| c.target == root) {
        Some(i) => i,
        None => {
            let silent = match &root {
                ResourceRef::External { .. } => true,
                w => facts
                    .containers_of(w)
                    .iter()
                    .any(|c| c.running_not_ready() && !c.crash_looping(facts.now)),
            };
            if !silent {
                return;
            }
            let host_port = match &root {
                ResourceRef::External { host_port } => host_port.clone(),
                other => other.locate_key(),
            };
            entry(out, &host_port, root.clone());
            out.len() - 1
        }
    };
    let c = &mut out[index];
    for (caller, id) in alerting {
        if !c.callers.contains(&caller) {
            c.callers.push(caller);
        }
        c.cites.add(id);
    }
}

/// The workload (or Service) an alert is about, from its labels.
fn signal_workload(facts: &Facts<'_>, s: &super::facts::SignalFact<'_>) -> Option<ResourceRef> {
    let ns = s.label("namespace")?;
    if let Some((kind, name)) = s.workload_label() {
        return Some(facts.resolve_workload(ns, name, kind));
    }
    if let Some(pod) = s.label("pod") {
        return facts.owner_of(ns, pod);
    }
    let service = s.label("service")?;
    Some(
        facts
            .known_workload(ns, service)
            .cloned()
            .unwrap_or_else(|| ResourceRef::Service {
                namespace: ns.to_string(),
                name: service.to_string(),
            }),
    )
}

/// A failing caller as `namespace/workload`: collectors may name the caller's pods.
fn caller_workload(facts: &Facts<'_>, caller: &str) -> String {
    let Some((ns, name)) = caller.split_once('/') else {
        return caller.to_string();
    };
    if facts.known_workload(ns, name).is_some() {
        return caller.to_string();
    }
    match facts.owner_of(ns, name) {
        Some(owner) if looks_like_pod(name) => owner.locate_key(),
        _ => caller.to_string(),
    }
}

/// `name-<hash>-<id>` or `name-<ordinal>`.
fn looks_like_pod(name: &str) -> bool {
    let parts: Vec<&str> = name.rsplit('-').collect();
    match parts.as_slice() {
        [last, ..] if last.chars().all(|c| c.is_ascii_digit()) && !last.is_empty() => true,
        [id, hash, _, ..] => {
            id.len() == 5
                && (6..=10).contains(&hash.len())
                && hash.chars().all(|c| c.is_ascii_alphanumeric())
        }
        _ => false,
    }
}

fn entry<'c>(
    out: &'c mut Vec<Candidate>,
    host_port: &str,
    target: ResourceRef,
) -> &'c mut Candidate {
    let key = target.locate_key();
    let index = match out.iter().position(|c| c.target.locate_key() == key) {
        Some(i) => i,
        None => {
            out.push(Candidate {
                host_port: host_port.to_string(),
                target,
                callers: Vec::new(),
                error_lines: 0,
                ready_endpoints: None,
                collected: false,
                sample: None,
                cites: Cites::default(),
            });
            out.len() - 1
        }
    };
    &mut out[index]
}

/// What `host:port` stands for: a workload (or Service) in the cluster, or something outside.
fn resolve(
    facts: &Facts<'_>,
    host_port: &str,
    in_cluster: Option<&ResourceRef>,
    caller_ns: Option<&str>,
) -> ResourceRef {
    if let Some(r) = in_cluster {
        if let Some(w) = facts.workload_of_ref(r) {
            return w;
        }
        if let ResourceRef::Service { namespace, name } = r {
            return workload_behind(facts, namespace, name).unwrap_or_else(|| r.clone());
        }
        return r.clone();
    }
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let labels: Vec<&str> = host.split('.').collect();
    let is_ip = labels.len() == 4 && labels.iter().all(|l| l.parse::<u8>().is_ok());
    let service = if is_ip {
        None
    } else if labels.len() >= 3 && labels[2] == "svc" {
        Some((labels[1].to_string(), labels[0].to_string()))
    } else if labels.len() == 1 {
        caller_ns.map(|ns| (ns.to_string(), host.to_string()))
    } else if labels.len() == 2 && known_namespace(facts, labels[1]) {
        Some((labels[1].to_string(), labels[0].to_string()))
    } else {
        None
    };
    match service {
        Some((ns, name)) => workload_behind(facts, &ns, &name).unwrap_or(ResourceRef::Service {
            namespace: ns,
            name,
        }),
        None => ResourceRef::External {
            host_port: host_port.to_string(),
        },
    }
}

/// `host:port` with a non-empty host and a numeric port.
fn plausible_host_port(host_port: &str) -> bool {
    host_port.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit())
    })
}

fn known_namespace(facts: &Facts<'_>, ns: &str) -> bool {
    facts.workloads.iter().any(|w| w.namespace() == Some(ns))
}

/// The workload behind a Service of the same name: known, or guessed from its pods' names.
fn workload_behind(facts: &Facts<'_>, namespace: &str, name: &str) -> Option<ResourceRef> {
    if let Some(w) = facts.known_workload(namespace, name) {
        return Some(w.clone());
    }
    facts
        .containers
        .iter()
        .filter(|c| c.namespace == namespace)
        .filter_map(|c| c.owner.clone())
        .find(|o| name_of(o) == Some(name))
}

fn dependency_pods<'f>(facts: &'f Facts<'_>, target: &ResourceRef) -> Vec<&'f ContainerFact<'f>> {
    facts
        .containers
        .iter()
        .filter(|c| c.owner.as_ref() == Some(target))
        .collect()
}

/// Callers log connection failures naming a dependency: the dependency is the root cause.
fn unavailable(facts: &Facts<'_>, c: &Candidate) -> Option<Finding> {
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
fn caller_processes_run(facts: &Facts<'_>, callers: &[String]) -> bool {
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

/// A workload with zero desired replicas while callers fail to reach it: scale it back.
fn scaled_to_zero(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in &facts.objects {
        if !o.is_workload() || o.replicas != Some(0) {
            continue;
        }
        let Some(w) = facts.workload_of_ref(o.resource) else {
            continue;
        };
        let (Some(ns), Some(name)) = (w.namespace(), name_of(&w)) else {
            continue;
        };
        let mut cites = Cites::default();
        cites.add(o.id);

        // Who misses it.
        let mut callers: Vec<String> = Vec::new();
        let mut caller_errors: usize = 0;
        for c in candidates(facts) {
            let same = c.target == w
                || matches!(&c.target, ResourceRef::Service { namespace, name: n } if namespace == ns && n == name);
            if same {
                caller_errors = caller_errors.saturating_add(c.error_lines);
                cites.extend(c.cites.ids());
                for caller in c.callers {
                    if !callers.contains(&caller) {
                        callers.push(caller);
                    }
                }
            }
        }
        let no_endpoints_alert = facts.signals.iter().find(|s| {
            s.firing
                && s.label("service") == Some(name)
                && s.label("namespace").is_none_or(|n| n == ns)
                && {
                    let n = s.name.to_ascii_lowercase();
                    n.contains("endpoint") || n.contains("caller")
                }
        });
        if let Some(s) = no_endpoints_alert {
            cites.add(s.id);
        }
        let missed = !callers.is_empty() || caller_errors > 0 || no_endpoints_alert.is_some();

        // How many it had.
        let mut before: Option<i32> = None;
        for e in &facts.events {
            if let Some((rs, from)) = patterns::scaled_to_zero(e.message)
                && rs.starts_with(&format!("{name}-"))
                && e.namespace.as_deref().is_none_or(|n| n == ns)
            {
                cites.add(e.id);
                if let Some(n) = from.filter(|n| *n > 0) {
                    before = Some(before.map_or(n, |b| b.max(n)));
                }
            }
        }
        if before.is_none() {
            for m in facts.metrics_of(&w, MetricKind::Replicas) {
                if m.max >= 1.0 && m.max.is_finite() {
                    cites.add(m.id);
                    before = Some(m.max.round() as i32);
                }
            }
        }
        if before.is_none()
            && let Some(r) = facts.rollout_of(&w)
        {
            let max = r
                .revisions
                .iter()
                .map(|rev| rev.replicas)
                .max()
                .unwrap_or(0);
            if max > 0 {
                cites.add(r.id);
                before = Some(max);
            }
        }

        let replicas = before.unwrap_or(DEFAULT_REPLICAS);
        let mut confidence: f64 = 0.55;
        if missed {
            confidence += 0.3;
        } else {
            confidence -= 0.1;
        }
        if before.is_some() {
            confidence += 0.05;
        }
        let who = if callers.is_empty() {
            if no_endpoints_alert.is_some() {
                "its Service has no endpoints while callers keep calling".to_string()
            } else {
                "no caller is seen failing".to_string()
            }
        } else {
            format!("{} fail to reach it", callers.join(", "))
        };
        let count_text = match before {
            Some(n) => format!("it had {n}"),
            None => format!("its earlier count is unknown, {DEFAULT_REPLICAS} is a guess"),
        };
        let summary = format!("{w}: scaled to 0 replicas; {who}; {count_text}");
        let scale = Action::Scale {
            target: w.clone(),
            replicas,
        };
        let rationale = format!("someone scaled {w} to zero and its callers depend on it");
        let outcome = format!("{w} has {replicas} Ready replicas; callers reach it again");
        let plan_confidence = if before.is_some() {
            confidence
        } else {
            confidence.min(0.72)
        };
        let finding = Finding::new(
            Category::ScaledToZero,
            w.clone(),
            confidence,
            summary,
            cites,
        );
        out.push(if missed {
            finding
                .plan(scale, plan_confidence, &rationale, &outcome)
                .escalate(0.4, "if the scale-down was intended, a person must tell the callers")
        } else {
            finding
                .escalate(
                    0.5,
                    "the workload is scaled to zero but nothing shows it is missed; it may be intended",
                )
                .plan(scale, 0.35, &rationale, &outcome)
        });
    }
    out
}
