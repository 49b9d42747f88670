//! The Prometheus text exposition format, with the HELP and TYPE of every family.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Sample;

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
