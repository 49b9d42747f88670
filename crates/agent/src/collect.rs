//! Collect: the bounded evidence bundle an SRE would look at for an incident's resource:
//! objects, container states, events (deduplicated, newest first), log tails of current and
//! previous containers, rollout history with what changed, node conditions, current usage,
//! the dependencies the logs name, and (with a Prometheus configured) the workload's PromQL
//! ranges of the last half hour (`crate::prometheus`). Every text is redacted; the bundle has
//! a byte budget.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::{Container, Event, Node, Pod, PodTemplateSpec, Service};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};
use nightshift_core::evidence::{
    ConditionSummary, ContainerSpecSummary, ProbeSummary, RevisionSummary,
};
use nightshift_core::{
    Evidence, EvidenceData, EvidenceId, EvidenceItem, EvidenceKind, ResourceRef, Signal,
};
use regex::Regex;

use crate::prometheus::Prometheus;
use crate::redact::redact;

/// A workload's kind, name and pod-template labels.
type Template = (&'static str, String, Option<BTreeMap<String, String>>);

/// Limits of one bundle.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Total serialized bytes.
    pub bytes: usize,
    /// Pods whose containers are described.
    pub pods: usize,
    /// Pods whose logs are read.
    pub log_pods: usize,
    /// Lines kept per log.
    pub log_lines: i64,
    /// Events kept.
    pub events: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            bytes: 48 * 1024,
            pods: 8,
            log_pods: 3,
            log_lines: 40,
            events: 25,
        }
    }
}

/// Why collection failed (partial failures only drop the item concerned).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The incident's resource could not be read at all.
    #[error("unable to read {resource}")]
    Read {
        /// The resource.
        resource: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

/// Collects evidence through the Kubernetes API (and a Prometheus, when there is one).
#[derive(Clone)]
pub struct Collector {
    client: Client,
    budget: Budget,
    prometheus: Option<Prometheus>,
}

struct Bundle {
    items: Vec<(u8, EvidenceItem)>,
    next: usize,
    now: DateTime<Utc>,
}

impl Bundle {
    fn push(
        &mut self,
        priority: u8,
        kind: EvidenceKind,
        resource: ResourceRef,
        summary: String,
        data: EvidenceData,
    ) {
        self.next += 1;
        self.items.push((
            priority,
            EvidenceItem {
                id: EvidenceId(format!("E{}", self.next)),
                kind,
                resource,
                summary: redact(&summary),
                data,
                observed_at: self.now,
            },
        ));
    }
}

fn t(x: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(x.0.as_millisecond()).unwrap_or_default()
}

fn probe(p: Option<&k8s_openapi::api::core::v1::Probe>) -> Option<ProbeSummary> {
    p.map(|p| ProbeSummary {
        timeout_seconds: p.timeout_seconds.unwrap_or(1),
        period_seconds: p.period_seconds.unwrap_or(10),
        failure_threshold: p.failure_threshold.unwrap_or(3),
        initial_delay_seconds: p.initial_delay_seconds.unwrap_or(0),
    })
}

/// A template's container as evidence.
pub fn container_summary(c: &Container) -> ContainerSpecSummary {
    let q =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
                .unwrap_or_default()
        };
    let mut refs = Vec::new();
    for ef in c.env_from.iter().flatten() {
        if let Some(r) = &ef.config_map_ref {
            refs.push(format!("configmap/{}", r.name));
        }
        if let Some(r) = &ef.secret_ref {
            refs.push(format!("secret/{}", r.name));
        }
    }
    for e in c.env.iter().flatten() {
        if let Some(vf) = &e.value_from {
            if let Some(r) = &vf.secret_key_ref {
                refs.push(format!("secret/{}", r.name));
            }
            if let Some(r) = &vf.config_map_key_ref {
                refs.push(format!("configmap/{}", r.name));
            }
        }
    }
    ContainerSpecSummary {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        requests: q(c.resources.as_ref().and_then(|r| r.requests.as_ref())),
        limits: q(c.resources.as_ref().and_then(|r| r.limits.as_ref())),
        readiness: probe(c.readiness_probe.as_ref()),
        liveness: probe(c.liveness_probe.as_ref()),
        config_refs: refs,
    }
}

fn template_containers(t: Option<&PodTemplateSpec>) -> Vec<ContainerSpecSummary> {
    t.and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.iter().map(container_summary).collect())
        .unwrap_or_default()
}

/// What changed between two templates, in words.
pub fn template_change(old: &[ContainerSpecSummary], new: &[ContainerSpecSummary]) -> Vec<String> {
    let mut out = Vec::new();
    for n in new {
        let Some(o) = old.iter().find(|o| o.name == n.name) else {
            out.push(format!("+container {}", n.name));
            continue;
        };
        if o.image != n.image {
            out.push(format!("image {} -> {}", o.image, n.image));
        }
        for (kind, om, nm) in [
            ("request", &o.requests, &n.requests),
            ("limit", &o.limits, &n.limits),
        ] {
            for k in om.keys().chain(nm.keys()).collect::<BTreeSet<_>>() {
                if om.get(k) != nm.get(k) {
                    out.push(format!(
                        "{k} {kind} {} -> {}",
                        om.get(k).map_or("none", String::as_str),
                        nm.get(k).map_or("none", String::as_str)
                    ));
                }
            }
        }
        for r in &n.config_refs {
            if !o.config_refs.contains(r) {
                out.push(format!("+envFrom {r}"));
            }
        }
        for r in &o.config_refs {
            if !n.config_refs.contains(r) {
                out.push(format!("-envFrom {r}"));
            }
        }
        if o.liveness != n.liveness {
            out.push(format!(
                "liveness probe {:?} -> {:?}",
                o.liveness, n.liveness
            ));
        }
        if o.readiness != n.readiness {
            out.push("readiness probe changed".into());
        }
    }
    out
}

fn conditions(
    list: impl Iterator<
        Item = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<DateTime<Utc>>,
        ),
    >,
) -> Vec<ConditionSummary> {
    list.map(|(kind, status, reason, message, since)| ConditionSummary {
        kind,
        status,
        reason,
        message: message.map(|m| redact(&m)),
        since,
    })
    .collect()
}

/// `host:port` mentioned next to an error in a log line.
fn dependency_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(?:refused|timed? ?out|timeout|unavailable|unreachable|reset|no route|failed|error|deadline)[^\n]*?\b([a-z0-9][a-z0-9.-]*[a-z0-9]:[0-9]{2,5})\b|\b([a-z0-9][a-z0-9.-]*[a-z0-9]:[0-9]{2,5})\b[^\n]*?(?:refused|timed? ?out|timeout|unavailable|unreachable|reset|no route|deadline)")
            .expect("valid")
    })
}

/// Hosts that log lines blame, with how many lines name each.
pub fn blamed_hosts(lines: &[String]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for l in lines {
        for c in dependency_regex().captures_iter(l) {
            if let Some(m) = c.get(1).or_else(|| c.get(2)) {
                *out.entry(m.as_str().to_lowercase()).or_default() += 1;
            }
        }
    }
    out
}

/// The in-cluster Service a host names (`name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`).
pub fn service_of_host(host_port: &str, default_ns: &str) -> Option<(String, String)> {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        [name] => Some((default_ns.to_string(), name.to_string())),
        [name, ns] => Some((ns.to_string(), name.to_string())),
        [name, ns, "svc", ..] => Some((ns.to_string(), name.to_string())),
        _ => None,
    }
}

impl Collector {
    /// A collector with a budget.
    pub fn new(client: Client, budget: Budget) -> Self {
        Collector {
            client,
            budget,
            prometheus: None,
        }
    }

    /// Adds PromQL ranges of the incident's workload to every bundle.
    pub fn with_prometheus(mut self, prometheus: Option<Prometheus>) -> Self {
        self.prometheus = prometheus;
        self
    }

    /// The evidence bundle for `resource`, with the signals that point at it.
    pub async fn collect(
        &self,
        resource: &ResourceRef,
        signals: &[Signal],
        now: DateTime<Utc>,
    ) -> Result<Evidence, CollectError> {
        let mut b = Bundle {
            items: Vec::new(),
            next: 0,
            now,
        };
        for s in signals.iter().take(10) {
            b.push(
                3,
                EvidenceKind::Signal,
                s.resource.clone().unwrap_or_else(|| resource.clone()),
                format!(
                    "{} {:?}: {}",
                    s.name,
                    s.status,
                    s.annotations.get("summary").cloned().unwrap_or_default()
                ),
                EvidenceData::Signal {
                    name: s.name.clone(),
                    status: format!("{:?}", s.status).to_lowercase(),
                    labels: s.labels.clone(),
                    starts_at: s.starts_at,
                },
            );
        }
        match resource {
            ResourceRef::Workload {
                kind,
                namespace,
                name,
            } => self.workload(&mut b, kind, namespace, name).await?,
            ResourceRef::Pod { namespace, name } => {
                let pod = Api::<Pod>::namespaced(self.client.clone(), namespace)
                    .get(name)
                    .await
                    .map_err(|source| CollectError::Read {
                        resource: resource.to_string(),
                        source,
                    })?;
                self.pods(&mut b, namespace, &[pod]).await;
            }
            ResourceRef::Node { name } => self.node(&mut b, name, true).await?,
            ResourceRef::Service { namespace, name } => {
                if let Some((kind, wname)) = self.workload_of_service(namespace, name).await {
                    self.workload(&mut b, &kind, namespace, &wname).await?;
                }
            }
            ResourceRef::External { host_port } => {
                self.callers(&mut b, resource, signals).await;
                b.push(
                    1,
                    EvidenceKind::Dependency,
                    resource.clone(),
                    format!("external dependency {host_port}"),
                    EvidenceData::Dependency {
                        host_port: host_port.clone(),
                        in_cluster: None,
                        ready_endpoints: None,
                        failing_callers: Vec::new(),
                        error_lines: 0,
                    },
                );
            }
        }
        if !matches!(
            resource,
            ResourceRef::External { .. } | ResourceRef::Node { .. }
        ) {
            self.callers(&mut b, resource, signals).await;
        }
        Ok(self.finish(b))
    }

    /// Pods that signalled into this incident from other workloads (callers of a failing
    /// dependency): their state and log tails show who misses the root resource.
    async fn callers(&self, b: &mut Bundle, resource: &ResourceRef, signals: &[Signal]) {
        let root_ns = resource.namespace().unwrap_or("");
        let root_name = match resource {
            ResourceRef::Workload { name, .. }
            | ResourceRef::Service { name, .. }
            | ResourceRef::Pod { name, .. } => name.as_str(),
            _ => "",
        };
        let mut seen = BTreeSet::new();
        for s in signals {
            let Some(ResourceRef::Pod { namespace, name }) = &s.resource else {
                continue;
            };
            // Pods of the root itself are already described.
            if namespace == root_ns
                && !root_name.is_empty()
                && name.starts_with(&format!("{root_name}-"))
            {
                continue;
            }
            let owner = name.rsplitn(3, '-').last().unwrap_or(name).to_string();
            if !seen.insert((namespace.clone(), owner)) || seen.len() > 3 {
                continue;
            }
            if let Ok(Some(pod)) = Api::<Pod>::namespaced(self.client.clone(), namespace)
                .get_opt(name)
                .await
            {
                self.pods(b, namespace, &[pod]).await;
            }
        }
    }

    fn finish(&self, mut b: Bundle) -> Evidence {
        b.items
            .sort_by_key(|(p, i)| (*p, i.id.0.len(), i.id.0.clone()));
        let mut ev = Evidence::default();
        for (_, item) in b.items {
            let size = serde_json::to_vec(&item).map(|v| v.len()).unwrap_or(0);
            if ev.bytes + size > self.budget.bytes {
                ev.truncated += 1;
                continue;
            }
            ev.bytes += size;
            ev.items.push(item);
        }
        ev
    }

    /// The workload whose pod template matches a Service's selector.
    pub async fn workload_of_service(&self, ns: &str, name: &str) -> Option<(String, String)> {
        let svc = Api::<Service>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
            .ok()??;
        let selector = svc
            .spec
            .and_then(|s| s.selector)
            .filter(|s| !s.is_empty())?;
        let matches = |labels: Option<&BTreeMap<String, String>>| {
            selector
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        };
        let lp = ListParams::default();
        // Pod-template labels of every workload in the namespace, in the order kinds are tried.
        let mut templates: Vec<Template> = Vec::new();
        if let Ok(l) = Api::<Deployment>::namespaced(self.client.clone(), ns)
            .list(&lp)
            .await
        {
            templates.extend(l.items.into_iter().map(|d| {
                let labels = d
                    .spec
                    .and_then(|s| s.template.metadata)
                    .and_then(|m| m.labels);
                ("Deployment", d.metadata.name.unwrap_or_default(), labels)
            }));
        }
        if let Ok(l) = Api::<StatefulSet>::namespaced(self.client.clone(), ns)
            .list(&lp)
            .await
        {
            templates.extend(l.items.into_iter().map(|d| {
                let labels = d
                    .spec
                    .and_then(|s| s.template.metadata)
                    .and_then(|m| m.labels);
                ("StatefulSet", d.metadata.name.unwrap_or_default(), labels)
            }));
        }
        if let Ok(l) = Api::<DaemonSet>::namespaced(self.client.clone(), ns)
            .list(&lp)
            .await
        {
            templates.extend(l.items.into_iter().map(|d| {
                let labels = d
                    .spec
                    .and_then(|s| s.template.metadata)
                    .and_then(|m| m.labels);
                ("DaemonSet", d.metadata.name.unwrap_or_default(), labels)
            }));
        }
        templates
            .into_iter()
            .find(|(_, _, labels)| matches(labels.as_ref()))
            .map(|(kind, name, _)| (kind.to_string(), name))
    }

    async fn workload(
        &self,
        b: &mut Bundle,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<(), CollectError> {
        let resource = ResourceRef::Workload {
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        };
        let err = |source| CollectError::Read {
            resource: resource.to_string(),
            source,
        };
        let (selector, template, replicas, ready, available, updated, conds, uid) = match kind {
            "StatefulSet" => {
                let s = Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await
                    .map_err(err)?;
                let spec = s.spec.clone().unwrap_or_default();
                let st = s.status.clone().unwrap_or_default();
                (
                    spec.selector,
                    spec.template,
                    spec.replicas,
                    st.ready_replicas,
                    st.available_replicas,
                    st.updated_replicas,
                    Vec::new(),
                    s.metadata.uid.clone(),
                )
            }
            "DaemonSet" => {
                let s = Api::<DaemonSet>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await
                    .map_err(err)?;
                let spec = s.spec.clone().unwrap_or_default();
                let st = s.status.clone().unwrap_or_default();
                (
                    spec.selector,
                    spec.template,
                    Some(st.desired_number_scheduled),
                    Some(st.number_ready),
                    st.number_available,
                    st.updated_number_scheduled,
                    Vec::new(),
                    s.metadata.uid.clone(),
                )
            }
            _ => {
                let d = Api::<Deployment>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await
                    .map_err(err)?;
                let spec = d.spec.clone().unwrap_or_default();
                let st = d.status.clone().unwrap_or_default();
                let conds = conditions(st.conditions.iter().flatten().map(|c| {
                    (
                        c.type_.clone(),
                        c.status.clone(),
                        c.reason.clone(),
                        c.message.clone(),
                        c.last_transition_time.as_ref().map(t),
                    )
                }));
                (
                    spec.selector,
                    spec.template,
                    spec.replicas,
                    st.ready_replicas,
                    st.available_replicas,
                    st.updated_replicas,
                    conds,
                    d.metadata.uid.clone(),
                )
            }
        };
        let containers = template_containers(Some(&template));
        let labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let node_selector = template
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.clone())
            .unwrap_or_default();
        b.push(
            1,
            EvidenceKind::Object,
            resource.clone(),
            format!(
                "{kind} {ns}/{name}: {} desired, {} ready, {} available, {} updated",
                replicas.unwrap_or(1),
                ready.unwrap_or(0),
                available.unwrap_or(0),
                updated.unwrap_or(0)
            ),
            EvidenceData::Object {
                kind: kind.into(),
                replicas,
                ready,
                available,
                updated,
                labels: labels.clone(),
                conditions: conds,
                containers: containers.clone(),
                node_selector,
            },
        );
        if let Some(prometheus) = &self.prometheus {
            for (about, summary, data) in prometheus.workload_ranges(&resource, b.now).await {
                let priority = match &data {
                    EvidenceData::Metric { name, .. } if name.contains("memory") => 3,
                    _ => 4,
                };
                b.push(priority, EvidenceKind::Metric, about, summary, data);
            }
        }
        // Rollout history.
        if kind == "Deployment" {
            self.deployment_history(b, &resource, ns, uid.as_deref().unwrap_or(""))
                .await;
        } else {
            self.revision_history(b, &resource, ns, uid.as_deref().unwrap_or(""))
                .await;
        }
        // Pods.
        let sel = selector
            .match_labels
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods = Api::<Pod>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default().labels(&sel))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        // Events about the workload itself.
        self.events(b, ns, Some(name), 2).await;
        self.pods(b, ns, &pods).await;
        // Nodes of failing pods that are not healthy.
        let nodes: BTreeSet<String> = pods
            .iter()
            .filter(|p| !pod_ready(p))
            .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
            .collect();
        for n in nodes.iter().take(3) {
            let _ = self.node(b, n, false).await;
        }
        Ok(())
    }

    async fn deployment_history(
        &self,
        b: &mut Bundle,
        resource: &ResourceRef,
        ns: &str,
        uid: &str,
    ) {
        let Ok(list) = Api::<ReplicaSet>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default())
            .await
        else {
            return;
        };
        let mut revs: Vec<(i64, RevisionSummary, Vec<ContainerSpecSummary>)> = list
            .items
            .iter()
            .filter(|rs| {
                rs.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == uid)
            })
            .map(|rs| {
                let rev = rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                let cs = template_containers(rs.spec.as_ref().and_then(|s| s.template.as_ref()));
                let st = rs.status.clone().unwrap_or_default();
                (
                    rev,
                    RevisionSummary {
                        revision: rev,
                        images: cs.iter().map(|c| c.image.clone()).collect(),
                        created_at: rs.metadata.creation_timestamp.as_ref().map(t),
                        replicas: st.replicas,
                        ready: st.ready_replicas.unwrap_or(0),
                        change: Vec::new(),
                    },
                    cs,
                )
            })
            .collect();
        self.push_history(b, resource, &mut revs);
    }

    async fn revision_history(&self, b: &mut Bundle, resource: &ResourceRef, ns: &str, uid: &str) {
        let Ok(list) = Api::<ControllerRevision>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default())
            .await
        else {
            return;
        };
        let mut revs: Vec<(i64, RevisionSummary, Vec<ContainerSpecSummary>)> = list
            .items
            .iter()
            .filter(|r| {
                r.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == uid)
            })
            .map(|r| {
                let template: Option<PodTemplateSpec> = r
                    .data
                    .as_ref()
                    .and_then(|d| serde_json::to_value(d).ok())
                    .and_then(|v| v.pointer("/spec/template").cloned())
                    .and_then(|v| serde_json::from_value(v).ok());
                let cs = template_containers(template.as_ref());
                (
                    r.revision,
                    RevisionSummary {
                        revision: r.revision,
                        images: cs.iter().map(|c| c.image.clone()).collect(),
                        created_at: r.metadata.creation_timestamp.as_ref().map(t),
                        replicas: 0,
                        ready: 0,
                        change: Vec::new(),
                    },
                    cs,
                )
            })
            .collect();
        self.push_history(b, resource, &mut revs);
    }

    fn push_history(
        &self,
        b: &mut Bundle,
        resource: &ResourceRef,
        revs: &mut [(i64, RevisionSummary, Vec<ContainerSpecSummary>)],
    ) {
        if revs.is_empty() {
            return;
        }
        revs.sort_by_key(|(r, _, _)| *r);
        for i in 1..revs.len() {
            let change = template_change(&revs[i - 1].2, &revs[i].2);
            revs[i].1.change = change;
        }
        let current = revs.last().map(|r| r.0).unwrap_or(0);
        let mut list: Vec<RevisionSummary> =
            revs.iter().rev().take(5).map(|r| r.1.clone()).collect();
        for r in &mut list {
            r.change = r.change.iter().map(|c| redact(c)).collect();
        }
        let summary = match list.first() {
            Some(r) if !r.change.is_empty() => format!(
                "revision {} (current) created {}: {}",
                r.revision,
                r.created_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                r.change.join("; ")
            ),
            Some(r) => format!(
                "revision {} (current), {} revisions kept",
                r.revision,
                revs.len()
            ),
            None => String::new(),
        };
        b.push(
            1,
            EvidenceKind::RolloutHistory,
            resource.clone(),
            summary,
            EvidenceData::RolloutHistory {
                revisions: list,
                current,
            },
        );
    }

    async fn events(&self, b: &mut Bundle, ns: &str, object: Option<&str>, priority: u8) -> usize {
        let api = Api::<Event>::namespaced(self.client.clone(), ns);
        let lp = match object {
            Some(name) => ListParams::default().fields(&format!("involvedObject.name={name}")),
            None => ListParams::default(),
        };
        let Ok(list) = api.list(&lp).await else {
            return 0;
        };
        let mut events = list.items;
        events.sort_by_key(|e| {
            std::cmp::Reverse(
                e.last_timestamp
                    .as_ref()
                    .map(t)
                    .or(e.event_time.as_ref().map(|m| {
                        DateTime::from_timestamp_millis(m.0.as_millisecond()).unwrap_or_default()
                    })),
            )
        });
        let mut seen = BTreeSet::new();
        let mut n = 0;
        for e in events {
            let reason = e.reason.clone().unwrap_or_default();
            let message = redact(&e.message.clone().unwrap_or_default());
            let kind = e.involved_object.kind.clone().unwrap_or_default();
            let oname = e.involved_object.name.clone().unwrap_or_default();
            // Dedup identical reason+message across replicas; the count says how often.
            let key = (reason.clone(), generalize(&message));
            if !seen.insert(key) || n >= self.budget.events {
                continue;
            }
            n += 1;
            let etype = e.type_.clone().unwrap_or_else(|| "Normal".into());
            let pri = if etype == "Warning" {
                priority
            } else {
                priority + 2
            };
            let resource = match kind.as_str() {
                "Pod" => ResourceRef::Pod {
                    namespace: ns.into(),
                    name: oname.clone(),
                },
                "Node" => ResourceRef::node(&oname),
                k => ResourceRef::Workload {
                    kind: k.into(),
                    namespace: ns.into(),
                    name: oname.clone(),
                },
            };
            b.push(
                pri,
                EvidenceKind::Event,
                resource,
                format!(
                    "{etype} {reason} on {kind} {oname} (x{}): {message}",
                    e.count.unwrap_or(1)
                ),
                EvidenceData::Event {
                    event_type: etype,
                    reason,
                    message,
                    count: e.count.unwrap_or(1),
                    first_seen: e.first_timestamp.as_ref().map(t),
                    last_seen: e.last_timestamp.as_ref().map(t),
                    object_kind: kind,
                    object_name: oname,
                },
            );
        }
        n
    }

    async fn pods(&self, b: &mut Bundle, ns: &str, pods: &[Pod]) {
        // Unhealthy pods first; they are what the evidence is about.
        let mut pods: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        pods.sort_by_key(|p| {
            (
                pod_ready(p),
                std::cmp::Reverse(restarts(p)),
                p.metadata.name.clone(),
            )
        });
        let mut logs_read = 0;
        let mut blamed: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
        for (i, p) in pods.iter().take(self.budget.pods).enumerate() {
            let pname = p.metadata.name.clone().unwrap_or_default();
            let pres = ResourceRef::Pod {
                namespace: ns.into(),
                name: pname.clone(),
            };
            let st = p.status.clone().unwrap_or_default();
            let phase = st.phase.clone().unwrap_or_default();
            let pod_reason = st.reason.clone().or_else(|| {
                st.conditions
                    .iter()
                    .flatten()
                    .find(|c| c.type_ == "Ready" && c.status != "True")
                    .and_then(|c| {
                        c.reason
                            .clone()
                            .map(|r| format!("{r}: {}", c.message.clone().unwrap_or_default()))
                    })
            });
            let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
            let statuses = st.container_statuses.clone().unwrap_or_default();
            if statuses.is_empty() {
                let sched = st
                    .conditions
                    .iter()
                    .flatten()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False");
                b.push(
                    1,
                    EvidenceKind::ContainerStatus,
                    pres.clone(),
                    format!(
                        "pod {ns}/{pname} {phase}{}",
                        sched
                            .map(|c| format!(": {}", c.message.clone().unwrap_or_default()))
                            .unwrap_or_default()
                    ),
                    EvidenceData::ContainerStatus {
                        pod: pname.clone(),
                        node: node.clone(),
                        phase: phase.clone(),
                        container: String::new(),
                        image: String::new(),
                        ready: false,
                        restart_count: 0,
                        state: "waiting".into(),
                        reason: sched.and_then(|c| c.reason.clone()),
                        message: sched.and_then(|c| c.message.clone()).map(|m| redact(&m)),
                        exit_code: None,
                        last_reason: None,
                        last_exit_code: None,
                        last_finished_at: None,
                        last_started_at: None,
                        started_at: None,
                        pod_reason: pod_reason.clone(),
                    },
                );
            }
            for cs in &statuses {
                let state = cs.state.clone().unwrap_or_default();
                let (sname, reason, message, exit, started) = if let Some(w) = &state.waiting {
                    ("waiting", w.reason.clone(), w.message.clone(), None, None)
                } else if let Some(r) = &state.running {
                    ("running", None, None, None, r.started_at.as_ref().map(t))
                } else if let Some(x) = &state.terminated {
                    (
                        "terminated",
                        x.reason.clone(),
                        x.message.clone(),
                        Some(x.exit_code),
                        x.started_at.as_ref().map(t),
                    )
                } else {
                    ("waiting", None, None, None, None)
                };
                let last = cs.last_state.as_ref().and_then(|s| s.terminated.clone());
                let summary = format!(
                    "pod {ns}/{pname} container {}: {}{}, ready {}, {} restarts{}",
                    cs.name,
                    sname,
                    reason.as_ref().map(|r| format!(" {r}")).unwrap_or_default(),
                    cs.ready,
                    cs.restart_count,
                    last.as_ref()
                        .map(|l| format!(
                            ", last exit {} {}",
                            l.exit_code,
                            l.reason.clone().unwrap_or_default()
                        ))
                        .unwrap_or_default()
                );
                b.push(
                    if cs.ready { 4 } else { 1 },
                    EvidenceKind::ContainerStatus,
                    pres.clone(),
                    summary,
                    EvidenceData::ContainerStatus {
                        pod: pname.clone(),
                        node: node.clone(),
                        phase: phase.clone(),
                        container: cs.name.clone(),
                        image: cs.image.clone(),
                        ready: cs.ready,
                        restart_count: cs.restart_count,
                        state: sname.into(),
                        reason,
                        message: message.map(|m| redact(&m)),
                        exit_code: exit,
                        last_reason: last.as_ref().and_then(|l| l.reason.clone()),
                        last_exit_code: last.as_ref().map(|l| l.exit_code),
                        last_finished_at: last.as_ref().and_then(|l| l.finished_at.as_ref().map(t)),
                        last_started_at: last.as_ref().and_then(|l| l.started_at.as_ref().map(t)),
                        started_at: started,
                        pod_reason: pod_reason.clone(),
                    },
                );
                // Logs of the first unhealthy pods: the previous container for crashes.
                if logs_read < self.budget.log_pods && (!cs.ready || i == 0) {
                    let api = Api::<Pod>::namespaced(self.client.clone(), ns);
                    for previous in [true, false] {
                        if previous && last.is_none() {
                            continue;
                        }
                        let lp = LogParams {
                            container: Some(cs.name.clone()),
                            previous,
                            tail_lines: Some(self.budget.log_lines),
                            ..Default::default()
                        };
                        let Ok(text) = api.logs(&pname, &lp).await else {
                            continue;
                        };
                        let lines: Vec<String> = text.lines().map(redact).collect();
                        if lines.is_empty() {
                            continue;
                        }
                        for (host, n) in blamed_hosts(&lines) {
                            let e = blamed.entry(host).or_default();
                            e.0 += n;
                            e.1.insert(pname.clone());
                        }
                        let total = lines.len();
                        let last_line = lines.last().cloned().unwrap_or_default();
                        b.push(
                            if previous { 1 } else { 2 },
                            EvidenceKind::Logs,
                            pres.clone(),
                            format!(
                                "{} log of {ns}/{pname}/{} ({total} lines), last: {last_line}",
                                if previous { "previous" } else { "current" },
                                cs.name
                            ),
                            EvidenceData::Logs {
                                pod: pname.clone(),
                                container: cs.name.clone(),
                                previous,
                                lines,
                                total_lines: total,
                            },
                        );
                    }
                    logs_read += 1;
                }
            }
            // Current usage from metrics.k8s.io.
            if let Some(usage) = self.pod_usage(ns, &pname).await {
                for (c, cpu_m, mem_b) in usage {
                    let spec = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.containers.iter().find(|x| x.name == c))
                        .map(container_summary);
                    let limit = spec
                        .as_ref()
                        .and_then(|s| s.limits.get("memory"))
                        .and_then(|q| parse_memory(q));
                    b.push(
                        3,
                        EvidenceKind::Metric,
                        pres.clone(),
                        format!(
                            "{ns}/{pname}/{c} memory {} MiB{}, cpu {cpu_m}m",
                            mem_b / (1 << 20),
                            limit
                                .map(|l| format!(" of {} MiB limit", l as u64 / (1 << 20)))
                                .unwrap_or_default()
                        ),
                        EvidenceData::Metric {
                            name: "container_memory_working_set_bytes".into(),
                            subject: format!("{ns}/{pname}/{c}"),
                            current: mem_b as f64,
                            min: mem_b as f64,
                            max: mem_b as f64,
                            trend_per_minute: 0.0,
                            limit,
                            window_seconds: 0,
                        },
                    );
                    let cpu_limit = spec
                        .as_ref()
                        .and_then(|s| s.limits.get("cpu"))
                        .and_then(|q| parse_cpu(q));
                    b.push(
                        4,
                        EvidenceKind::Metric,
                        pres.clone(),
                        format!(
                            "{ns}/{pname}/{c} cpu {cpu_m}m{}",
                            cpu_limit
                                .map(|l| format!(" of {l}m limit"))
                                .unwrap_or_default()
                        ),
                        EvidenceData::Metric {
                            name: "container_cpu_usage_millicores".into(),
                            subject: format!("{ns}/{pname}/{c}"),
                            current: cpu_m as f64,
                            min: cpu_m as f64,
                            max: cpu_m as f64,
                            trend_per_minute: 0.0,
                            limit: cpu_limit,
                            window_seconds: 0,
                        },
                    );
                }
            }
            // Events of the pod.
            if i < 4 {
                self.events(b, ns, Some(&pname), 2).await;
            }
        }
        for (host, (lines, callers)) in blamed {
            let in_cluster = service_of_host(&host, ns);
            let mut ready = None;
            let mut target = None;
            if let Some((sns, sname)) = &in_cluster
                && let Some((kind, wname)) = self.workload_of_service(sns, sname).await
            {
                ready = self.ready_endpoints(sns, sname).await;
                target = Some(ResourceRef::Workload {
                    kind,
                    namespace: sns.clone(),
                    name: wname,
                });
            }
            let resource = target.clone().unwrap_or(ResourceRef::External {
                host_port: host.clone(),
            });
            b.push(
                1,
                EvidenceKind::Dependency,
                resource,
                format!(
                    "{lines} log lines of {} pods blame {host}{}",
                    callers.len(),
                    ready
                        .map(|r| format!(" ({r} ready endpoints)"))
                        .unwrap_or_default()
                ),
                EvidenceData::Dependency {
                    host_port: host.clone(),
                    in_cluster: target,
                    ready_endpoints: ready,
                    failing_callers: callers.iter().map(|c| format!("{ns}/{c}")).collect(),
                    error_lines: lines,
                },
            );
        }
    }

    async fn ready_endpoints(&self, ns: &str, name: &str) -> Option<u32> {
        let ep = Api::<k8s_openapi::api::core::v1::Endpoints>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
            .ok()??;
        Some(
            ep.subsets
                .iter()
                .flatten()
                .map(|s| s.addresses.as_ref().map_or(0, |a| a.len() as u32))
                .sum(),
        )
    }

    async fn pod_usage(&self, ns: &str, pod: &str) -> Option<Vec<(String, u64, u64)>> {
        let url = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{pod}");
        let req = http::Request::get(url).body(Vec::new()).ok()?;
        let v: serde_json::Value = self.client.request(req).await.ok()?;
        let out = v
            .get("containers")?
            .as_array()?
            .iter()
            .filter_map(|c| {
                let name = c.get("name")?.as_str()?.to_string();
                let cpu = parse_cpu(c.pointer("/usage/cpu")?.as_str()?)? as u64;
                let mem = parse_memory(c.pointer("/usage/memory")?.as_str()?)? as u64;
                Some((name, cpu, mem))
            })
            .collect();
        Some(out)
    }

    async fn node(&self, b: &mut Bundle, name: &str, with_pods: bool) -> Result<(), CollectError> {
        let resource = ResourceRef::node(name);
        let n = Api::<Node>::all(self.client.clone())
            .get(name)
            .await
            .map_err(|source| CollectError::Read {
                resource: resource.to_string(),
                source,
            })?;
        let st = n.status.clone().unwrap_or_default();
        let conds = conditions(st.conditions.iter().flatten().map(|c| {
            (
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone(),
                c.message.clone(),
                c.last_transition_time.as_ref().map(t),
            )
        }));
        let taints: Vec<String> = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        let unschedulable = n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
        let pods = Api::<Pod>::all(self.client.clone())
            .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let mut workloads = BTreeSet::new();
        for p in &pods {
            if let Some(o) = p
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true))
            {
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let owner = if o.kind == "ReplicaSet" {
                    o.name
                        .rsplit_once('-')
                        .map_or(o.name.clone(), |(d, _)| d.to_string())
                } else {
                    o.name.clone()
                };
                workloads.insert(format!("{ns}/{owner}"));
            }
        }
        let ready = conds
            .iter()
            .find(|c| c.kind == "Ready")
            .map(|c| c.status.clone())
            .unwrap_or_default();
        let pressure: Vec<String> = conds
            .iter()
            .filter(|c| c.kind.ends_with("Pressure") && c.status == "True")
            .map(|c| c.kind.clone())
            .collect();
        b.push(
            if ready == "True" && pressure.is_empty() {
                4
            } else {
                0
            },
            EvidenceKind::NodeCondition,
            resource.clone(),
            format!(
                "node {name}: Ready={ready}{}{}, {} pods of {} workloads",
                if pressure.is_empty() {
                    String::new()
                } else {
                    format!(", {}", pressure.join(", "))
                },
                if unschedulable { ", cordoned" } else { "" },
                pods.len(),
                workloads.len()
            ),
            EvidenceData::NodeCondition {
                node: name.into(),
                conditions: conds,
                taints,
                unschedulable,
                pods: pods
                    .iter()
                    .map(|p| {
                        format!(
                            "{}/{}",
                            p.metadata.namespace.clone().unwrap_or_default(),
                            p.metadata.name.clone().unwrap_or_default()
                        )
                    })
                    .collect(),
                workloads: workloads.into_iter().collect(),
            },
        );
        if with_pods {
            self.events(b, "default", Some(name), 1).await;
            let mut by_ns: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
            for p in pods {
                by_ns
                    .entry(p.metadata.namespace.clone().unwrap_or_default())
                    .or_default()
                    .push(p);
            }
            for (ns, list) in by_ns.into_iter().take(4) {
                let mut list = list;
                list.truncate(2);
                for p in &list {
                    let pname = p.metadata.name.clone().unwrap_or_default();
                    let pres = ResourceRef::Pod {
                        namespace: ns.clone(),
                        name: pname.clone(),
                    };
                    let st = p.status.clone().unwrap_or_default();
                    b.push(
                        2,
                        EvidenceKind::ContainerStatus,
                        pres,
                        format!(
                            "pod {ns}/{pname} on {name}: {}{}",
                            st.phase.clone().unwrap_or_default(),
                            st.reason
                                .clone()
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default()
                        ),
                        EvidenceData::ContainerStatus {
                            pod: pname,
                            node: Some(name.into()),
                            phase: st.phase.clone().unwrap_or_default(),
                            container: String::new(),
                            image: String::new(),
                            ready: pod_ready(p),
                            restart_count: restarts(p),
                            state: if pod_ready(p) {
                                "running".into()
                            } else {
                                "waiting".into()
                            },
                            reason: st.reason.clone(),
                            message: st.message.clone().map(|m| redact(&m)),
                            exit_code: None,
                            last_reason: None,
                            last_exit_code: None,
                            last_finished_at: None,
                            last_started_at: None,
                            started_at: None,
                            pod_reason: st.reason.clone(),
                        },
                    );
                }
                self.events(b, &ns, None, 2).await;
            }
        }
        Ok(())
    }
}

/// Ready condition True.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |c| c.iter().map(|c| c.restart_count).sum())
}

/// Replaces pod-specific tokens (names with hashes, IPs, numbers) so the same message from
/// many replicas deduplicates.
fn generalize(message: &str) -> String {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"[0-9a-f]{8}-[0-9a-f-]{27}|[a-z0-9]+-[a-z0-9]{5,10}-[a-z0-9]{5}|\d+(\.\d+)*")
            .expect("valid")
    });
    re.replace_all(message, "#").into_owned()
}

/// CPU quantity in millicores.
pub fn parse_cpu(q: &str) -> Option<f64> {
    nightshift_core::units::parse_cpu(q)
        .ok()
        .map(|m| m as f64)
        .or_else(|| {
            // metrics-server reports nanocores (`12345678n`) and microcores (`123u`).
            if let Some(n) = q.strip_suffix('n') {
                return n.parse::<f64>().ok().map(|n| n / 1e6);
            }
            q.strip_suffix('u')
                .and_then(|u| u.parse::<f64>().ok())
                .map(|u| u / 1e3)
        })
}

/// Memory quantity in bytes.
pub fn parse_memory(q: &str) -> Option<f64> {
    nightshift_core::units::parse_memory(q)
        .ok()
        .map(|b| b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blamed_hosts() {
        let lines = vec![
            "ERROR request failed: dial tcp postgres.shop.svc.cluster.local:80: connect: connection refused".to_string(),
            "WARN retrying call to payments.example.com:443 (attempt 2/5): context deadline exceeded".to_string(),
            "INFO GET /api/cart status=200".to_string(),
        ];
        let h = blamed_hosts(&lines);
        assert_eq!(h.get("postgres.shop.svc.cluster.local:80"), Some(&1));
        assert_eq!(h.get("payments.example.com:443"), Some(&1));
        assert_eq!(h.len(), 2);
        assert_eq!(
            service_of_host("postgres.shop.svc.cluster.local:80", "x"),
            Some(("shop".into(), "postgres".into()))
        );
        assert_eq!(
            service_of_host("redis:6379", "shop"),
            Some(("shop".into(), "redis".into()))
        );
        assert_eq!(service_of_host("payments.example.com:443", "shop"), None);
    }

    #[test]
    fn describes_template_changes() {
        let a = ContainerSpecSummary {
            name: "c".into(),
            image: "x:1".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        b.image = "x:2".into();
        b.config_refs.push("secret/tls".into());
        b.limits.insert("memory".into(), "128Mi".into());
        let ch = template_change(&[a], &[b]);
        assert!(ch.contains(&"image x:1 -> x:2".to_string()), "{ch:?}");
        assert!(ch.contains(&"+envFrom secret/tls".to_string()), "{ch:?}");
        assert!(
            ch.contains(&"memory limit none -> 128Mi".to_string()),
            "{ch:?}"
        );
    }

    #[test]
    fn generalizes_replica_names() {
        assert_eq!(
            generalize(
                "Back-off restarting failed container checkout in pod checkout-7d4b9c6f5-x2x9z_shop"
            ),
            generalize(
                "Back-off restarting failed container checkout in pod checkout-7d4b9c6f5-abcde_shop"
            )
        );
    }
}
