//! A digest of the evidence bundle: items read into typed views, pods tied to their
//! workloads, and the questions every rule family asks (which revision is newest, when did
//! the trouble start, what does the workload look like).

mod ownership;
mod rollout_tie;

pub(crate) use rollout_tie::*;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub(crate) use super::views::*;
use crate::evidence::{Evidence, EvidenceData};
use crate::incident::Incident;
use crate::resource::{ResourceRef, WorkloadKind};

/// Everything the rules read, digested once per analysis.
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    pub incident: &'a Incident,
    pub evidence: &'a Evidence,
    pub now: DateTime<Utc>,
    pub containers: Vec<ContainerFact<'a>>,
    pub events: Vec<EventFact<'a>>,
    pub logs: Vec<LogFact<'a>>,
    pub rollouts: Vec<Rollout<'a>>,
    pub nodes: Vec<NodeFact<'a>>,
    pub metrics: Vec<MetricFact<'a>>,
    pub dependencies: Vec<DependencyFact<'a>>,
    pub signals: Vec<SignalFact<'a>>,
    pub objects: Vec<ObjectFact<'a>>,
    pub past: Vec<PastFact<'a>>,
    /// Workloads the evidence names.
    pub workloads: Vec<ResourceRef>,
    /// Pods' owners as the evidence states them (from owner references), by namespace and pod.
    pub pod_owners: BTreeMap<(&'a str, &'a str), ResourceRef>,
    /// The workload the incident is about, when it is about one.
    pub primary: Option<ResourceRef>,
}

impl<'a> Facts<'a> {
    /// Digests a bundle.
    pub fn gather(incident: &'a Incident, evidence: &'a Evidence) -> Facts<'a> {
        let now = evidence
            .items
            .iter()
            .map(|i| i.observed_at)
            .max()
            .unwrap_or(incident.updated_at);
        let mut facts = Facts {
            incident,
            evidence,
            now,
            containers: Vec::new(),
            events: Vec::new(),
            logs: Vec::new(),
            rollouts: Vec::new(),
            nodes: Vec::new(),
            metrics: Vec::new(),
            dependencies: Vec::new(),
            signals: Vec::new(),
            objects: Vec::new(),
            past: Vec::new(),
            workloads: Vec::new(),
            pod_owners: BTreeMap::new(),
            primary: None,
        };
        facts.collect_workloads();
        let default_ns = incident.resource.namespace().map(str::to_string);
        for item in &evidence.items {
            let ns = item
                .resource
                .namespace()
                .map(str::to_string)
                .or_else(|| default_ns.clone());
            let owned_by_item = matches!(item.resource, ResourceRef::Workload { .. })
                .then(|| item.resource.clone());
            match &item.data {
                EvidenceData::ContainerStatus { .. } => {
                    if let Some(mut c) = ContainerFact::read(item, ns.unwrap_or_default()) {
                        c.owner = c
                            .owner
                            .take()
                            .or(owned_by_item)
                            .or_else(|| facts.owner_of(&c.namespace, c.pod));
                        facts.containers.push(c);
                    }
                }
                EvidenceData::Event { .. } => {
                    if let Some(mut e) = EventFact::read(item, ns) {
                        e.owner = facts.event_owner(&e);
                        facts.events.push(e);
                    }
                }
                EvidenceData::Logs { .. } => {
                    if let Some(mut l) = LogFact::read(item) {
                        l.owner = l
                            .owner
                            .take()
                            .or(owned_by_item)
                            .or_else(|| ns.as_deref().and_then(|ns| facts.owner_of(ns, l.pod)));
                        facts.logs.push(l);
                    }
                }
                EvidenceData::RolloutHistory { .. } => {
                    if let Some(r) = facts
                        .workload_of_ref(&item.resource)
                        .and_then(|w| Rollout::read(item, w))
                    {
                        facts.rollouts.push(r);
                    }
                }
                EvidenceData::Metric { .. } => {
                    if let Some(mut m) = MetricFact::read(item) {
                        m.owner = facts.workload_of_ref(&item.resource).or_else(|| {
                            let mut parts = MetricFact::subject(item)?.split('/');
                            let (ns, pod) = (parts.next()?, parts.next()?);
                            facts.owner_of(ns, pod)
                        });
                        facts.metrics.push(m);
                    }
                }
                EvidenceData::NodeCondition { .. } => facts.nodes.extend(NodeFact::read(item)),
                EvidenceData::Dependency { .. } => {
                    facts.dependencies.extend(DependencyFact::read(item));
                }
                EvidenceData::Signal { .. } => facts.signals.extend(SignalFact::read(item)),
                EvidenceData::Object { .. } => facts.objects.extend(ObjectFact::read(item)),
                EvidenceData::PastIncident { .. } => facts.past.extend(PastFact::read(item)),
            }
        }
        facts.primary = facts.primary_workload();
        facts
    }

    /// Workloads named anywhere: the incident, objects, histories, dependencies, signals.
    fn collect_workloads(&mut self) {
        let mut found: Vec<ResourceRef> = Vec::new();
        let mut pod_owners = BTreeMap::new();
        let mut add = |r: ResourceRef| {
            if matches!(r, ResourceRef::Workload { .. }) && !found.contains(&r) {
                found.push(r);
            }
        };
        add(self.incident.resource.clone());
        for item in &self.evidence.items {
            add(item.resource.clone());
            match &item.data {
                EvidenceData::Object { kind, .. } => {
                    if let (Ok(kind), Some(ns), Some(name)) = (
                        kind.parse::<WorkloadKind>(),
                        item.resource.namespace(),
                        name_of(&item.resource),
                    ) {
                        add(ResourceRef::workload(kind, ns, name));
                    }
                }
                EvidenceData::ContainerStatus {
                    pod,
                    owner: Some(owner),
                    ..
                }
                | EvidenceData::Logs {
                    pod,
                    owner: Some(owner),
                    ..
                } => {
                    add(owner.clone());
                    if let Some(ns) = owner.namespace() {
                        pod_owners.insert((ns, pod.as_str()), owner.clone());
                    }
                }
                EvidenceData::Dependency {
                    in_cluster: Some(r),
                    ..
                } => add(r.clone()),
                EvidenceData::Signal { labels, .. } => {
                    if let Some(ns) = labels.get("namespace") {
                        for kind in WorkloadKind::ALL {
                            let label = kind.as_str().to_ascii_lowercase();
                            if let Some(name) = labels.get(&label).filter(|n| !n.is_empty()) {
                                add(ResourceRef::workload(kind, ns, name));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.workloads = found;
        self.pod_owners = pod_owners;
    }

    fn primary_workload(&self) -> Option<ResourceRef> {
        self.workload_of_ref(&self.incident.resource)
    }

    /// The workloads the workload-level rules examine: the incident's, or when it is not
    /// about a workload, every workload with container evidence.
    pub fn subjects(&self) -> Vec<ResourceRef> {
        if let Some(p) = &self.primary {
            return vec![p.clone()];
        }
        let mut out: Vec<ResourceRef> = Vec::new();
        for c in &self.containers {
            if let Some(o) = &c.owner
                && !out.contains(o)
            {
                out.push(o.clone());
            }
        }
        for m in &self.metrics {
            if let Some(o) = &m.owner
                && !out.contains(o)
            {
                out.push(o.clone());
            }
        }
        out
    }

    /// Container statuses of a workload that say something about the app.
    pub fn containers_of(&self, w: &ResourceRef) -> Vec<&ContainerFact<'a>> {
        self.containers
            .iter()
            .filter(|c| c.owner.as_ref() == Some(w) && c.speaks_for_app())
            .collect()
    }

    /// Events about a workload or its pods.
    pub fn events_of(&self, w: &ResourceRef) -> Vec<&EventFact<'a>> {
        self.events
            .iter()
            .filter(|e| e.owner.as_ref() == Some(w))
            .collect()
    }

    /// Log tails of a workload's containers.
    pub fn logs_of(&self, w: &ResourceRef) -> Vec<&LogFact<'a>> {
        self.logs
            .iter()
            .filter(|l| l.owner.as_ref() == Some(w))
            .collect()
    }

    /// The workload's rollout history.
    pub fn rollout_of(&self, w: &ResourceRef) -> Option<&Rollout<'a>> {
        self.rollouts.iter().find(|r| &r.workload == w)
    }

    /// The workload's object.
    pub fn object_of(&self, w: &ResourceRef) -> Option<&ObjectFact<'a>> {
        let (ns, name) = (w.namespace()?, name_of(w)?);
        self.objects.iter().find(|o| {
            o.is_workload()
                && o.resource.namespace() == Some(ns)
                && name_of(o.resource) == Some(name)
        })
    }

    /// The workload's metrics of a kind.
    pub fn metrics_of(&self, w: &ResourceRef, kind: MetricKind) -> Vec<&MetricFact<'a>> {
        self.metrics
            .iter()
            .filter(|m| m.kind == kind && m.owner.as_ref() == Some(w))
            .collect()
    }

    /// Signals (firing or not) that are about a workload.
    pub fn signals_of(&self, w: &ResourceRef) -> Vec<&SignalFact<'a>> {
        let (Some(ns), Some(name)) = (w.namespace(), name_of(w)) else {
            return Vec::new();
        };
        self.signals
            .iter()
            .filter(|s| {
                s.label("namespace").is_none_or(|n| n == ns)
                    && ([
                        "deployment",
                        "statefulset",
                        "daemonset",
                        "service",
                        "workload",
                    ]
                    .iter()
                    .any(|l| s.label(l) == Some(name))
                        || s.label("pod")
                            .and_then(|p| self.owner_of(ns, p))
                            .is_some_and(|o| &o == w))
            })
            .collect()
    }

    /// Desired replicas: from the object, else the pods seen.
    pub fn replicas_of(&self, w: &ResourceRef) -> Option<i32> {
        if let Some(r) = self.object_of(w).and_then(|o| o.replicas) {
            return Some(r);
        }
        let mut pods: Vec<&str> = self.containers_of(w).iter().map(|c| c.pod).collect();
        pods.sort_unstable();
        pods.dedup();
        (!pods.is_empty()).then_some(pods.len() as i32)
    }

    /// The node fact for a node.
    pub fn node(&self, name: &str) -> Option<&NodeFact<'a>> {
        self.nodes.iter().find(|n| n.node == name)
    }

    /// Whether a pod's node is known to be not ready.
    pub fn on_lost_node(&self, c: &ContainerFact<'_>) -> bool {
        c.node
            .and_then(|n| self.node(n))
            .is_some_and(NodeFact::not_ready)
    }

    /// When the trouble with these pods started: their earliest warning event or last
    /// termination; else the earliest firing signal about the workload.
    pub fn onset(&self, w: &ResourceRef, pods: &[&str]) -> Option<DateTime<Utc>> {
        let from_pods = self
            .events
            .iter()
            .filter(|e| {
                e.event_type.eq_ignore_ascii_case("warning")
                    && e.about_pod()
                    && pods.contains(&e.object_name)
            })
            .map(EventFact::when)
            .chain(
                self.containers
                    .iter()
                    .filter(|c| pods.contains(&c.pod))
                    .filter_map(|c| c.last_finished_at),
            )
            .min();
        from_pods.or_else(|| {
            self.signals_of(w)
                .iter()
                .filter(|s| s.firing)
                .map(|s| s.starts_at)
                .min()
        })
    }

    /// Which revision a container runs, by its image (when the two newest revisions differ
    /// Whether the bundle holds anything beyond the alert itself.
    pub fn has_direct_evidence(&self) -> bool {
        !(self.containers.is_empty()
            && self.events.is_empty()
            && self.logs.is_empty()
            && self.metrics.is_empty()
            && self.nodes.is_empty()
            && self.dependencies.is_empty()
            && self.objects.is_empty())
    }
}

/// The name of a namespaced resource or node.
pub(crate) fn name_of(r: &ResourceRef) -> Option<&str> {
    match r {
        ResourceRef::Workload { name, .. }
        | ResourceRef::Pod { name, .. }
        | ResourceRef::Service { name, .. }
        | ResourceRef::Object { name, .. }
        | ResourceRef::Node { name } => Some(name),
        ResourceRef::External { .. } | ResourceRef::Storm { .. } => None,
    }
}
