//! A digest of the evidence bundle: items read into typed views, pods tied to their
//! workloads, and the questions every rule family asks (which revision is newest, when did
//! the trouble start, what does the workload look like).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

pub(crate) use super::views::*;
use crate::evidence::{Evidence, EvidenceData, RevisionSummary};
use crate::incident::Incident;
use crate::resource::{ResourceRef, WorkloadKind};

/// A previous revision that ran this long before the newest, with the failures starting only
/// after the newest, counts as healthy.
const PREVIOUS_RAN_MINUTES: i64 = 2;

/// Where a container sits relative to the newest rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevisionOf {
    Newest,
    Previous,
    Unknown,
}

/// A newest revision that plausibly caused the failures.
#[derive(Debug)]
pub(crate) struct RolloutTie<'a> {
    pub rollout: &'a Rollout<'a>,
    pub newest: &'a RevisionSummary,
    pub previous: &'a RevisionSummary,
    /// Minutes from the rollout to the first failure, when both are known.
    pub minutes_before_onset: Option<i64>,
    /// Failures are shown to be confined to the newest revision.
    pub only_newest_failing: bool,
    /// The previous revision ran (or runs) fine.
    pub previous_healthy: bool,
}

impl RolloutTie<'_> {
    /// A phrase for summaries: `revision 4 (x:1.2)`.
    pub fn describe(&self) -> String {
        let image = self
            .newest
            .images
            .first()
            .map(|i| format!(" ({})", short_image(i)))
            .unwrap_or_default();
        format!("revision {}{image}", self.newest.revision)
    }

    /// `, 3m after its rollout`, when the timing is known.
    pub fn timing(&self) -> String {
        self.minutes_before_onset
            .map(|m| format!(", starting {m}m after its rollout"))
            .unwrap_or_default()
    }
}

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

    /// The workload an event's object belongs to: a pod's owner, the workload itself, a
    /// ReplicaSet's Deployment.
    fn event_owner(&self, e: &EventFact<'_>) -> Option<ResourceRef> {
        let ns = e.namespace.as_deref()?;
        let kind = e.object_kind;
        if kind.eq_ignore_ascii_case("pod") {
            self.owner_of(ns, e.object_name)
        } else if let Ok(kind) = kind.parse::<WorkloadKind>() {
            Some(self.resolve_workload(ns, e.object_name, kind))
        } else if kind.eq_ignore_ascii_case("replicaset") {
            self.owner_of_replica_set(ns, e.object_name)
        } else {
            None
        }
    }

    /// The workload a pod belongs to, as the evidence states it (read from the pod's owner
    /// references). A pod the evidence does not describe (an event about a pod already
    /// replaced) belongs to the known workload whose generated names it carries
    /// (`<name>-<hash>-<id>`, `<name>-<ordinal>`); otherwise to none: an owner is never
    /// made up from the shape of a name alone.
    pub fn owner_of(&self, namespace: &str, pod: &str) -> Option<ResourceRef> {
        if let Some(owner) = self.pod_owners.get(&(namespace, pod)) {
            return Some(owner.clone());
        }
        self.known_generator(namespace, pod, None)
    }

    /// The Deployment a ReplicaSet (`<name>-<hash>`) belongs to, among the known workloads.
    fn owner_of_replica_set(&self, namespace: &str, rs: &str) -> Option<ResourceRef> {
        self.known_generator(namespace, rs, Some(WorkloadKind::Deployment))
    }

    /// The known workload (of `kind`, when given) whose name, with a generated suffix, makes
    /// `child`; the longest such name wins.
    fn known_generator(
        &self,
        namespace: &str,
        child: &str,
        kind: Option<WorkloadKind>,
    ) -> Option<ResourceRef> {
        self.workloads
            .iter()
            .filter_map(|w| match w {
                ResourceRef::Workload {
                    kind: k,
                    namespace: ns,
                    name,
                } if ns == namespace && kind.is_none_or(|kind| kind == *k) => child
                    .strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .filter(|rest| generated_suffix(rest))
                    .map(|_| (name.len(), w)),
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, w)| w.clone())
    }

    /// A known workload with this namespace and name, else one of the kind given.
    pub fn resolve_workload(&self, namespace: &str, name: &str, kind: WorkloadKind) -> ResourceRef {
        self.known_workload(namespace, name)
            .cloned()
            .unwrap_or_else(|| ResourceRef::workload(kind, namespace, name))
    }

    /// A pod's template revision: as its container statuses state it (the
    /// `pod-template-hash` label), else the hash in a Deployment pod's generated name.
    pub fn template_of<'p>(&'p self, w: &ResourceRef, pod: &'p str) -> Option<&'p str> {
        self.containers
            .iter()
            .find(|c| c.pod == pod && c.template.is_some())
            .and_then(|c| c.template)
            .or_else(|| template_in_name(w, pod))
    }

    /// A known workload with this namespace and name.
    pub fn known_workload(&self, namespace: &str, name: &str) -> Option<&ResourceRef> {
        self.workloads.iter().find(|w| {
            matches!(w, ResourceRef::Workload { namespace: ns, name: n, .. } if ns == namespace && n == name)
        })
    }

    /// The workload a resource reference stands for: itself, a pod's owner, a Service's
    /// same-named workload.
    pub fn workload_of_ref(&self, r: &ResourceRef) -> Option<ResourceRef> {
        match r {
            ResourceRef::Workload { .. } => Some(r.clone()),
            ResourceRef::Pod { namespace, name } => self.owner_of(namespace, name),
            ResourceRef::Service { namespace, name } => {
                self.known_workload(namespace, name).cloned()
            }
            ResourceRef::Node { .. } | ResourceRef::External { .. } | ResourceRef::Storm { .. } => {
                None
            }
        }
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
    /// in image).
    pub fn revision_of(&self, rollout: &Rollout<'_>, c: &ContainerFact<'_>) -> RevisionOf {
        let (Some(newest), Some(previous)) = (rollout.newest(), rollout.previous()) else {
            return RevisionOf::Unknown;
        };
        let in_new = newest.images.iter().any(|i| same_image(i, c.image));
        let in_old = previous.images.iter().any(|i| same_image(i, c.image));
        match (in_new, in_old) {
            (true, false) => RevisionOf::Newest,
            (false, true) => RevisionOf::Previous,
            _ => RevisionOf::Unknown,
        }
    }

    /// Whether the newest rollout of `w` plausibly caused the failures of `failing` pods: it
    /// came shortly before they started (within `window`), there is a previous revision to
    /// return to, and no pod of the previous revision fails.
    pub fn rollout_tie(
        &self,
        w: &ResourceRef,
        failing: &[&ContainerFact<'_>],
        window: Duration,
    ) -> Option<RolloutTie<'_>> {
        let rollout = self.rollout_of(w)?;
        let newest = rollout.newest()?;
        let previous = rollout.previous()?;
        // `newest` is the newest release: the agent's own remedies made since are skipped,
        // never suspects (see `Rollout`).
        if rollout.newest_is_remedy() {
            // Same containers with only the template's metadata moved (a `rollout restart`) or
            // only a limit raised: a person's remedy on the record, not a release that could
            // have brought the failure, and no reason to go back before it.
            return None;
        }
        let pods: Vec<&str> = failing.iter().map(|c| c.pod).collect();
        let onset = self.onset(w, &pods);
        if previous.made_by.is_some()
            && let (Some(made), Some(onset)) = (previous.created_at, onset)
            && made >= onset
        {
            // Our own change after the failures began is no state to go back to.
            return None;
        }
        let mut minutes_before_onset = None;
        if let Some(created) = newest.created_at {
            let onset = onset.unwrap_or(self.now);
            let lead = onset - created;
            if lead < -Duration::minutes(2) || lead > window {
                return None;
            }
            minutes_before_onset = Some(lead.num_minutes().max(0));
        }
        let all = self.containers_of(w);
        let mut on_newest = 0;
        let mut on_previous = 0;
        for c in failing {
            match self.revision_of(rollout, c) {
                RevisionOf::Newest => on_newest += 1,
                RevisionOf::Previous => on_previous += 1,
                RevisionOf::Unknown => {}
            }
        }
        if on_previous > 0 {
            return None;
        }
        let healthy: Vec<&&ContainerFact<'_>> =
            all.iter().filter(|c| c.healthy(self.now)).collect();
        let failing_hashes: Vec<Option<&str>> =
            failing.iter().map(|c| self.template_of(w, c.pod)).collect();
        let hashes_disjoint = !healthy.is_empty()
            && !failing.is_empty()
            && failing_hashes.iter().all(Option::is_some)
            && healthy
                .iter()
                .all(|h| !failing_hashes.contains(&self.template_of(w, h.pod)));
        let only_newest_failing =
            !failing.is_empty() && (on_newest == failing.len() || hashes_disjoint);
        if newest.created_at.is_none() && !only_newest_failing {
            // Neither timing nor images tie the failures to the rollout.
            return None;
        }
        let healthy_on_previous = healthy
            .iter()
            .any(|h| self.revision_of(rollout, h) == RevisionOf::Previous)
            || (hashes_disjoint && !healthy.is_empty());
        // The previous revision ran for a while and nothing failed until the new one came.
        let ran_a_while = match (previous.created_at, newest.created_at) {
            (Some(p), Some(n)) => n - p >= Duration::minutes(PREVIOUS_RAN_MINUTES),
            _ => false,
        };
        Some(RolloutTie {
            rollout,
            newest,
            previous,
            minutes_before_onset,
            only_newest_failing,
            previous_healthy: previous.ready > 0 || healthy_on_previous || ran_a_while,
        })
    }

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
        | ResourceRef::Node { name } => Some(name),
        ResourceRef::External { .. } | ResourceRef::Storm { .. } => None,
    }
}

/// The part of a name after its controller's name is one a controller generates:
/// `<hash>-<id>` (Deployment pods), `<ordinal>`, `<hash>` or `<id>`.
fn generated_suffix(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('-').collect();
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    match parts.as_slice() {
        [hash, id] => alnum(hash) && alnum(id),
        [one] => alnum(one),
        _ => false,
    }
}

/// The pod-template-hash part of a Deployment pod's name (`checkout-5d8f7c9b6-x2x7q`), for
/// evidence that does not state the pod's template.
fn template_in_name<'p>(w: &ResourceRef, pod: &'p str) -> Option<&'p str> {
    let name = name_of(w)?;
    let rest = pod.strip_prefix(name)?.strip_prefix('-')?;
    let (hash, _) = rest.split_once('-')?;
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_hash_in_a_deployment_pod_name() {
        let w = ResourceRef::deployment("shop", "checkout");
        assert_eq!(
            template_in_name(&w, "checkout-5d8f7c9b6-x2x7q"),
            Some("5d8f7c9b6")
        );
        assert_eq!(template_in_name(&w, "billing-5d8f7c9b6-x2x7q"), None);
    }
}
