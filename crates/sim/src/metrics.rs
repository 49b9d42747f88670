//! The metrics a real cluster exports, under the names real exporters use: kube-state-metrics
//! from the stored objects, cAdvisor and application RED metrics from the runtime.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};

use crate::quantity;
use crate::store::Store;
use crate::world::{CState, LATENCY_BUCKETS, World};

/// One sample of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: &'static str,
    /// Labels, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "kube_pod_container_status_restarts_total",
        "counter",
        "The number of container restarts per container.",
    ),
    (
        "kube_pod_container_status_waiting_reason",
        "gauge",
        "Describes the reason the container is currently in waiting state.",
    ),
    (
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        "Describes the last reason the container was in terminated state.",
    ),
    (
        "kube_pod_container_status_ready",
        "gauge",
        "Describes whether the containers readiness check succeeded.",
    ),
    ("kube_pod_status_phase", "gauge", "The pods current phase."),
    (
        "kube_pod_status_ready",
        "gauge",
        "Describes whether the pod is ready to serve requests.",
    ),
    (
        "kube_pod_status_scheduled",
        "gauge",
        "Describes the status of the scheduling process for the pod.",
    ),
    ("kube_pod_status_reason", "gauge", "The pod status reasons"),
    (
        "kube_pod_owner",
        "gauge",
        "Information about the Pod's owner.",
    ),
    ("kube_pod_info", "gauge", "Information about pod."),
    (
        "kube_deployment_spec_replicas",
        "gauge",
        "Number of desired pods for a deployment.",
    ),
    (
        "kube_deployment_status_replicas_available",
        "gauge",
        "The number of available replicas per deployment.",
    ),
    (
        "kube_deployment_status_replicas_unavailable",
        "gauge",
        "The number of unavailable replicas per deployment.",
    ),
    (
        "kube_deployment_status_replicas_updated",
        "gauge",
        "The number of updated replicas per deployment.",
    ),
    (
        "kube_deployment_status_condition",
        "gauge",
        "The current status conditions of a deployment.",
    ),
    (
        "kube_deployment_status_observed_generation",
        "gauge",
        "The generation observed by the deployment controller.",
    ),
    (
        "kube_deployment_metadata_generation",
        "gauge",
        "Sequence number representing a specific generation of the desired state.",
    ),
    (
        "kube_statefulset_replicas",
        "gauge",
        "Number of desired pods for a StatefulSet.",
    ),
    (
        "kube_statefulset_status_replicas_ready",
        "gauge",
        "The number of ready replicas per StatefulSet.",
    ),
    (
        "kube_daemonset_status_desired_number_scheduled",
        "gauge",
        "The number of nodes that should be running the daemon pod.",
    ),
    (
        "kube_daemonset_status_number_ready",
        "gauge",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    (
        "kube_node_status_condition",
        "gauge",
        "The condition of a cluster node.",
    ),
    (
        "kube_node_spec_unschedulable",
        "gauge",
        "Whether a node can schedule new pods.",
    ),
    (
        "kube_endpoint_address_available",
        "gauge",
        "Number of addresses available in endpoint.",
    ),
    (
        "kube_endpoint_address_not_ready",
        "gauge",
        "Number of addresses not ready in endpoint",
    ),
    ("kube_service_info", "gauge", "Information about service."),
    (
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set of the container in bytes",
    ),
    (
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed in seconds.",
    ),
    (
        "container_spec_memory_limit_bytes",
        "gauge",
        "Memory limit for the container.",
    ),
    (
        "container_spec_cpu_quota",
        "gauge",
        "CPU quota of the container.",
    ),
    (
        "container_cpu_cfs_periods_total",
        "counter",
        "Number of elapsed enforcement period intervals.",
    ),
    (
        "container_cpu_cfs_throttled_periods_total",
        "counter",
        "Number of throttled period intervals.",
    ),
    (
        "http_requests_total",
        "counter",
        "Total HTTP requests served, by status code.",
    ),
    (
        "http_request_duration_seconds",
        "histogram",
        "HTTP request latency.",
    ),
    (
        "service_client_requests_total",
        "counter",
        "Requests made to in-cluster services, by outcome.",
    ),
];

fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every sample at this instant.
pub fn collect(world: &World, store: &Store) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut push = |name: &'static str, labels: BTreeMap<String, String>, value: f64| {
        out.push(Sample {
            name,
            labels,
            value,
        })
    };
    for p in store.list_typed::<Pod>(None) {
        let ns = p.metadata.namespace.as_deref().unwrap_or("");
        let pod = p.metadata.name.as_deref().unwrap_or("");
        let st = p.status.clone().unwrap_or_default();
        let phase = st.phase.as_deref().unwrap_or("Pending");
        for ph in ["Pending", "Running", "Succeeded", "Failed", "Unknown"] {
            push(
                "kube_pod_status_phase",
                l(&[("namespace", ns), ("pod", pod), ("phase", ph)]),
                f64::from(u8::from(ph == phase)),
            );
        }
        let ready = st
            .conditions
            .as_ref()
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.to_lowercase())
            .unwrap_or_else(|| "false".into());
        for c in ["true", "false", "unknown"] {
            push(
                "kube_pod_status_ready",
                l(&[("namespace", ns), ("pod", pod), ("condition", c)]),
                f64::from(u8::from(c == ready)),
            );
        }
        let scheduled = st
            .conditions
            .as_ref()
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
            .map(|c| c.status.to_lowercase());
        if let Some(s) = scheduled {
            for c in ["true", "false", "unknown"] {
                push(
                    "kube_pod_status_scheduled",
                    l(&[("namespace", ns), ("pod", pod), ("condition", c)]),
                    f64::from(u8::from(c == s)),
                );
            }
        }
        if let Some(r) = st.reason.as_deref() {
            push(
                "kube_pod_status_reason",
                l(&[("namespace", ns), ("pod", pod), ("reason", r)]),
                1.0,
            );
        }
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("");
        let owner = p.metadata.owner_references.as_ref().and_then(|o| o.first());
        let (ok, on) = owner
            .map(|o| (o.kind.as_str(), o.name.as_str()))
            .unwrap_or(("<none>", "<none>"));
        push(
            "kube_pod_owner",
            l(&[
                ("namespace", ns),
                ("pod", pod),
                ("owner_kind", ok),
                ("owner_name", on),
            ]),
            1.0,
        );
        push(
            "kube_pod_info",
            l(&[
                ("namespace", ns),
                ("pod", pod),
                ("node", node),
                ("created_by_kind", ok),
                ("created_by_name", on),
            ]),
            1.0,
        );
        for cs in st.container_statuses.iter().flatten() {
            let c = cs.name.as_str();
            push(
                "kube_pod_container_status_restarts_total",
                l(&[("namespace", ns), ("pod", pod), ("container", c)]),
                f64::from(cs.restart_count),
            );
            push(
                "kube_pod_container_status_ready",
                l(&[("namespace", ns), ("pod", pod), ("container", c)]),
                f64::from(u8::from(cs.ready)),
            );
            if let Some(w) = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
            {
                push(
                    "kube_pod_container_status_waiting_reason",
                    l(&[
                        ("namespace", ns),
                        ("pod", pod),
                        ("container", c),
                        ("reason", w),
                    ]),
                    1.0,
                );
            }
            if let Some(t) = cs
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.reason.as_deref())
            {
                push(
                    "kube_pod_container_status_last_terminated_reason",
                    l(&[
                        ("namespace", ns),
                        ("pod", pod),
                        ("container", c),
                        ("reason", t),
                    ]),
                    1.0,
                );
            }
        }
        // cAdvisor: limits for every container the kubelet runs.
        if let Some(pr) = p.metadata.uid.as_ref().and_then(|u| world.pods.get(u))
            && world.nodes.get(&pr.node).is_some_and(|n| n.alive)
        {
            for (i, c) in pr.containers.iter().enumerate() {
                let Some(inst) = c.running() else { continue };
                let lab = l(&[("namespace", ns), ("pod", pod), ("container", &c.name)]);
                let spec = p.spec.as_ref().and_then(|s| s.containers.get(i));
                let limits = spec
                    .and_then(|s| s.resources.as_ref())
                    .and_then(|r| r.limits.as_ref());
                push(
                    "container_memory_working_set_bytes",
                    lab.clone(),
                    inst.memory_bytes as f64,
                );
                push(
                    "container_cpu_usage_seconds_total",
                    lab.clone(),
                    c.cpu_seconds,
                );
                if let Some(m) = limits
                    .and_then(|x| x.get("memory"))
                    .and_then(|q| quantity::memory(&q.0))
                {
                    push("container_spec_memory_limit_bytes", lab.clone(), m as f64);
                }
                if let Some(cpu) = limits
                    .and_then(|x| x.get("cpu"))
                    .and_then(|q| quantity::cpu(&q.0))
                {
                    push("container_spec_cpu_quota", lab.clone(), cpu as f64 * 100.0);
                    push("container_cpu_cfs_periods_total", lab.clone(), c.cfs.1);
                    push(
                        "container_cpu_cfs_throttled_periods_total",
                        lab.clone(),
                        c.cfs.0,
                    );
                }
                let service = pr
                    .workload
                    .as_deref()
                    .and_then(|w| w.split('/').nth(1))
                    .unwrap_or(pod);
                for (code, n) in &c.requests {
                    if *code == 0 {
                        continue;
                    }
                    push(
                        "http_requests_total",
                        l(&[
                            ("namespace", ns),
                            ("pod", pod),
                            ("service", service),
                            ("code", &code.to_string()),
                        ]),
                        n.floor(),
                    );
                }
                let total: f64 = c
                    .requests
                    .iter()
                    .filter(|(k, _)| **k != 0)
                    .map(|(_, v)| v)
                    .sum();
                if total > 0.0 {
                    for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
                        push(
                            "http_request_duration_seconds_bucket",
                            l(&[
                                ("namespace", ns),
                                ("pod", pod),
                                ("service", service),
                                ("le", &format_le(*b)),
                            ]),
                            c.latency_buckets[i].floor(),
                        );
                    }
                    push(
                        "http_request_duration_seconds_bucket",
                        l(&[
                            ("namespace", ns),
                            ("pod", pod),
                            ("service", service),
                            ("le", "+Inf"),
                        ]),
                        total.floor(),
                    );
                    push(
                        "http_request_duration_seconds_sum",
                        l(&[("namespace", ns), ("pod", pod), ("service", service)]),
                        c.latency_sum,
                    );
                    push(
                        "http_request_duration_seconds_count",
                        l(&[("namespace", ns), ("pod", pod), ("service", service)]),
                        total.floor(),
                    );
                }
            }
        }
    }
    for d in store.list_typed::<Deployment>(None) {
        let ns = d.metadata.namespace.as_deref().unwrap_or("");
        let n = d.metadata.name.as_deref().unwrap_or("");
        let st = d.status.clone().unwrap_or_default();
        let lab = l(&[("namespace", ns), ("deployment", n)]);
        push(
            "kube_deployment_spec_replicas",
            lab.clone(),
            f64::from(d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)),
        );
        push(
            "kube_deployment_status_replicas_available",
            lab.clone(),
            f64::from(st.available_replicas.unwrap_or(0)),
        );
        push(
            "kube_deployment_status_replicas_unavailable",
            lab.clone(),
            f64::from(st.unavailable_replicas.unwrap_or(0)),
        );
        push(
            "kube_deployment_status_replicas_updated",
            lab.clone(),
            f64::from(st.updated_replicas.unwrap_or(0)),
        );
        push(
            "kube_deployment_status_observed_generation",
            lab.clone(),
            st.observed_generation.unwrap_or(0) as f64,
        );
        push(
            "kube_deployment_metadata_generation",
            lab.clone(),
            d.metadata.generation.unwrap_or(0) as f64,
        );
        for c in st.conditions.iter().flatten() {
            for s in ["true", "false", "unknown"] {
                let mut lab = lab.clone();
                lab.insert("condition".into(), c.type_.clone());
                lab.insert("status".into(), s.into());
                push(
                    "kube_deployment_status_condition",
                    lab,
                    f64::from(u8::from(c.status.to_lowercase() == s)),
                );
            }
        }
    }
    for s in store.list_typed::<StatefulSet>(None) {
        let lab = l(&[
            ("namespace", s.metadata.namespace.as_deref().unwrap_or("")),
            ("statefulset", s.metadata.name.as_deref().unwrap_or("")),
        ]);
        push(
            "kube_statefulset_replicas",
            lab.clone(),
            f64::from(s.spec.as_ref().and_then(|x| x.replicas).unwrap_or(1)),
        );
        push(
            "kube_statefulset_status_replicas_ready",
            lab,
            f64::from(
                s.status
                    .as_ref()
                    .and_then(|x| x.ready_replicas)
                    .unwrap_or(0),
            ),
        );
    }
    for d in store.list_typed::<DaemonSet>(None) {
        let lab = l(&[
            ("namespace", d.metadata.namespace.as_deref().unwrap_or("")),
            ("daemonset", d.metadata.name.as_deref().unwrap_or("")),
        ]);
        let st = d.status.clone().unwrap_or_default();
        push(
            "kube_daemonset_status_desired_number_scheduled",
            lab.clone(),
            f64::from(st.desired_number_scheduled),
        );
        push(
            "kube_daemonset_status_number_ready",
            lab,
            f64::from(st.number_ready),
        );
    }
    for n in store.list_typed::<Node>(None) {
        let name = n.metadata.name.as_deref().unwrap_or("");
        for c in n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
        {
            for s in ["true", "false", "unknown"] {
                push(
                    "kube_node_status_condition",
                    l(&[("node", name), ("condition", &c.type_), ("status", s)]),
                    f64::from(u8::from(c.status.to_lowercase() == s)),
                );
            }
        }
        push(
            "kube_node_spec_unschedulable",
            l(&[("node", name)]),
            f64::from(u8::from(
                n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true),
            )),
        );
    }
    for e in store.list_typed::<Endpoints>(None) {
        let lab = l(&[
            ("namespace", e.metadata.namespace.as_deref().unwrap_or("")),
            ("endpoint", e.metadata.name.as_deref().unwrap_or("")),
        ]);
        let subsets = e.subsets.clone().unwrap_or_default();
        let ready: usize = subsets
            .iter()
            .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
            .sum();
        let not_ready: usize = subsets
            .iter()
            .map(|s| s.not_ready_addresses.as_ref().map_or(0, Vec::len))
            .sum();
        push("kube_endpoint_address_available", lab.clone(), ready as f64);
        push("kube_endpoint_address_not_ready", lab, not_ready as f64);
    }
    for s in store.list_typed::<Service>(None) {
        push(
            "kube_service_info",
            l(&[
                ("namespace", s.metadata.namespace.as_deref().unwrap_or("")),
                ("service", s.metadata.name.as_deref().unwrap_or("")),
            ]),
            1.0,
        );
    }
    for ((ns, svc, cns, caller, outcome), v) in &world.client_requests {
        push(
            "service_client_requests_total",
            l(&[
                ("namespace", ns),
                ("service", svc),
                ("caller_namespace", cns),
                ("caller", caller),
                ("outcome", outcome),
            ]),
            v.floor(),
        );
    }
    out
}

fn format_le(b: f64) -> String {
    let s = format!("{b}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Prometheus text exposition format 0.0.4.
pub fn render(samples: &[Sample]) -> String {
    let mut by_name: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by_name.entry(s.name).or_default().push(s);
    }
    let mut out = String::with_capacity(samples.len() * 96);
    let mut done_family: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (name, list) in &by_name {
        let family = HELP.iter().find(|(n, _, _)| {
            name == n
                || (name.starts_with(n)
                    && ["_bucket", "_sum", "_count"].contains(&&name[n.len()..]))
        });
        if let Some((fname, kind, help)) = family
            && done_family.insert(fname)
        {
            let _ = writeln!(out, "# HELP {fname} {help}");
            let _ = writeln!(out, "# TYPE {fname} {kind}");
        }
        for s in list {
            out.push_str(name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(
                        out,
                        "{k}=\"{}\"",
                        v.replace('\\', "\\\\")
                            .replace('"', "\\\"")
                            .replace('\n', "\\n")
                    );
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", s.value);
        }
    }
    out
}

/// Running containers' usage for metrics.k8s.io.
pub fn usage_of(world: &World, uid: &str) -> Option<Vec<crate::telemetry::ContainerUsage>> {
    let pr = world.pods.get(uid)?;
    if !world.nodes.get(&pr.node).is_some_and(|n| n.alive) {
        return None;
    }
    let v: Vec<_> = pr
        .containers
        .iter()
        .filter_map(|c| match &c.state {
            CState::Running(i) => Some(crate::telemetry::ContainerUsage {
                name: c.name.clone(),
                cpu_millis: i.cpu_millis.round() as u64,
                memory_bytes: i.memory_bytes,
            }),
            _ => None,
        })
        .collect();
    if v.is_empty() { None } else { Some(v) }
}
