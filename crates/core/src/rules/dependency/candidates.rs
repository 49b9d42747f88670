//! The dependencies callers fail to reach, merged from dependency items, log lines and the
//! callers' alerts, with cascades folded into their deepest link.

use crate::resource::ResourceRef;
use crate::rules::deploy::clip;
use crate::rules::facts::{ContainerFact, Facts, name_of};
use crate::rules::finding::Cites;
use crate::rules::patterns;

/// A dependency that callers fail to reach, merged from Dependency items and log lines.
#[derive(Debug)]
pub(super) struct Candidate {
    pub(super) host_port: String,
    pub(super) target: ResourceRef,
    pub(super) callers: Vec<String>,
    pub(super) error_lines: usize,
    pub(super) ready_endpoints: Option<u32>,
    pub(super) collected: bool,
    pub(super) sample: Option<String>,
    pub(super) cites: Cites,
}

pub(super) fn candidates(facts: &Facts<'_>) -> Vec<Candidate> {
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
pub(super) fn follow_chains(mut all: Vec<Candidate>) -> Vec<Candidate> {
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
pub(super) fn correlated_root(facts: &Facts<'_>, out: &mut Vec<Candidate>) {
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
pub(super) fn signal_workload(
    facts: &Facts<'_>,
    s: &crate::rules::facts::SignalFact<'_>,
) -> Option<ResourceRef> {
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
pub(super) fn caller_workload(facts: &Facts<'_>, caller: &str) -> String {
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
pub(super) fn looks_like_pod(name: &str) -> bool {
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

pub(super) fn entry<'c>(
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
pub(super) fn resolve(
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
pub(super) fn plausible_host_port(host_port: &str) -> bool {
    host_port.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit())
    })
}

pub(super) fn known_namespace(facts: &Facts<'_>, ns: &str) -> bool {
    facts.workloads.iter().any(|w| w.namespace() == Some(ns))
}

/// The workload behind a Service of the same name: known, or guessed from its pods' names.
pub(super) fn workload_behind(
    facts: &Facts<'_>,
    namespace: &str,
    name: &str,
) -> Option<ResourceRef> {
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

pub(super) fn dependency_pods<'f>(
    facts: &'f Facts<'_>,
    target: &ResourceRef,
) -> Vec<&'f ContainerFact<'f>> {
    facts
        .containers
        .iter()
        .filter(|c| c.owner.as_ref() == Some(target))
        .collect()
}
