//! Pods: container states, log tails of the unhealthy ones (the previous container after a
//! crash), current usage, their events, and the dependencies their logs blame.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::LogParams;
use nightshift_core::{EvidenceData, EvidenceKind, ResourceRef};

use super::dependencies::{blamed_hosts, service_of_host};
use super::summary::{container_summary, parse_cpu, parse_memory, pod_ready, restarts, t};
use super::{Bundle, Collector};
use crate::redact::redact;
use crate::topology::PodController;

/// Hosts the logs read so far blame: error lines, and the pods they came from.
type Blamed = BTreeMap<String, (usize, BTreeSet<String>)>;

/// What every item about one pod repeats.
struct PodView {
    resource: ResourceRef,
    name: String,
    phase: String,
    node: Option<String>,
    /// Why the pod is not ready, from its status or its Ready condition.
    reason: Option<String>,
    /// Its workload, through its owner references.
    owner: Option<ResourceRef>,
    /// Its template revision: the `pod-template-hash` or `controller-revision-hash` label.
    template: Option<String>,
}

impl PodView {
    fn of(ns: &str, p: &Pod, owner: Option<ResourceRef>) -> Self {
        let name = p.metadata.name.clone().unwrap_or_default();
        let st = p.status.clone().unwrap_or_default();
        let reason = st.reason.clone().or_else(|| {
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
        PodView {
            resource: ResourceRef::Pod {
                namespace: ns.into(),
                name: name.clone(),
            },
            name,
            phase: st.phase.clone().unwrap_or_default(),
            node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
            reason,
            owner,
            template: template_label(p),
        }
    }
}

/// The owners of the pods described in one bundle: pods of one ReplicaSet share a lookup.
#[derive(Default)]
struct Owners {
    replica_sets: BTreeMap<(String, String), Option<ResourceRef>>,
}

impl Owners {
    /// The workload owning `p`, through its owner references.
    async fn of(&mut self, client: &kube::Client, p: &Pod) -> Option<ResourceRef> {
        match crate::topology::pod_controller(p)? {
            PodController::Workload(w) => Some(w),
            PodController::ReplicaSet { namespace, name } => {
                let key = (namespace, name);
                if !self.replica_sets.contains_key(&key) {
                    let owner =
                        crate::topology::replica_set_owner_named(client, &key.0, &key.1).await;
                    self.replica_sets.insert(key.clone(), owner);
                }
                self.replica_sets.get(&key).cloned().flatten()
            }
        }
    }
}

/// A pod's template revision from its labels: `pod-template-hash` (set by the Deployment
/// controller) or `controller-revision-hash` (StatefulSet, DaemonSet).
pub(super) fn template_label(p: &Pod) -> Option<String> {
    let labels = p.metadata.labels.as_ref()?;
    labels
        .get("pod-template-hash")
        .or_else(|| labels.get("controller-revision-hash"))
        .cloned()
}

impl Collector {
    /// Describes the first pods within the budget, unhealthy ones first, then the
    /// dependencies their logs blame.
    pub(super) async fn pods(&self, b: &mut Bundle, ns: &str, pods: &[Pod]) {
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
        let mut blamed = Blamed::new();
        let mut owners = Owners::default();
        for (i, p) in pods.iter().take(self.budget.pods).enumerate() {
            let owner = owners.of(&self.client, p).await;
            let view = PodView::of(ns, p, owner);
            let statuses = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.clone())
                .unwrap_or_default();
            if statuses.is_empty() {
                not_started(b, ns, p, &view);
            }
            for cs in &statuses {
                container_status(b, ns, &view, cs);
                // Logs of the first unhealthy pods (and of the first pod in any case).
                if logs_read < self.budget.log_pods && (!cs.ready || i == 0) {
                    self.container_logs(b, ns, &view, cs, &mut blamed).await;
                    logs_read += 1;
                }
            }
            self.usage(b, ns, p, &view).await;
            if i < 4 {
                self.events(b, ns, Some(&view.name), 2).await;
            }
        }
        self.blamed_dependencies(b, ns, blamed).await;
    }

    /// The tails of a container's logs (the previous instance's too, after a restart), and
    /// the hosts they blame.
    async fn container_logs(
        &self,
        b: &mut Bundle,
        ns: &str,
        view: &PodView,
        cs: &ContainerStatus,
        blamed: &mut Blamed,
    ) {
        let pname = &view.name;
        let pres = &view.resource;
        let last = cs.last_state.as_ref().and_then(|s| s.terminated.clone());
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
            let Ok(text) = api.logs(pname, &lp).await else {
                continue;
            };
            // Line by line with the context of the lines before, so every line of a private
            // key block is masked.
            let lines: Vec<String> = crate::redact::redact_lines(&text);
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
                    owner: view.owner.clone(),
                },
            );
        }
    }

    /// Current usage of each container from metrics.k8s.io, against its limits.
    async fn usage(&self, b: &mut Bundle, ns: &str, p: &Pod, view: &PodView) {
        let pname = &view.name;
        let pres = &view.resource;
        if let Some(usage) = self.pod_usage(ns, pname).await {
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
    }

    /// One item per host the logs blame: the in-cluster workload behind it (with its ready
    /// endpoints) or the external host.
    async fn blamed_dependencies(&self, b: &mut Bundle, ns: &str, blamed: Blamed) {
        for (host, (lines, callers)) in blamed {
            let in_cluster = service_of_host(&host, ns);
            let mut ready = None;
            let mut target = None;
            if let Some((sns, sname)) = &in_cluster
                && let Some((kind, wname)) = self.workload_of_service(sns, sname).await
            {
                ready = self.ready_endpoints(sns, sname).await;
                target = Some(ResourceRef::workload(kind, sns, &wname));
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

    pub(super) async fn ready_endpoints(&self, ns: &str, name: &str) -> Option<u32> {
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
}

/// A pod with no container status yet: unscheduled, or not started.
fn not_started(b: &mut Bundle, ns: &str, p: &Pod, view: &PodView) {
    let pname = &view.name;
    let phase = &view.phase;
    let st = p.status.clone().unwrap_or_default();
    let sched = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    b.push(
        1,
        EvidenceKind::ContainerStatus,
        view.resource.clone(),
        format!(
            "pod {ns}/{pname} {phase}{}",
            sched
                .map(|c| format!(": {}", c.message.clone().unwrap_or_default()))
                .unwrap_or_default()
        ),
        EvidenceData::ContainerStatus {
            pod: pname.clone(),
            node: view.node.clone(),
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
            pod_reason: view.reason.clone(),
            owner: view.owner.clone(),
            template: view.template.clone(),
        },
    );
}

/// One container's state, readiness, restarts and last termination.
fn container_status(b: &mut Bundle, ns: &str, view: &PodView, cs: &ContainerStatus) {
    let pname = &view.name;
    let phase = &view.phase;
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
        view.resource.clone(),
        summary,
        EvidenceData::ContainerStatus {
            pod: pname.clone(),
            node: view.node.clone(),
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
            pod_reason: view.reason.clone(),
            owner: view.owner.clone(),
            template: view.template.clone(),
        },
    );
}
