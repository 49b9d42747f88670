//! kube-state-metrics: the series of the stored objects (pods, workloads, nodes, endpoints,
//! services), with kube-state-metrics' names and labels.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};

use super::{Samples, l};
use crate::store::Store;

/// The series of one pod and of its containers' statuses.
pub(super) fn pod(out: &mut Samples, p: &Pod) {
    let ns = p.metadata.namespace.as_deref().unwrap_or("");
    let pod = p.metadata.name.as_deref().unwrap_or("");
    let st = p.status.clone().unwrap_or_default();
    let phase = st.phase.as_deref().unwrap_or("Pending");
    for ph in ["Pending", "Running", "Succeeded", "Failed", "Unknown"] {
        out.push(
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
        out.push(
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
            out.push(
                "kube_pod_status_scheduled",
                l(&[("namespace", ns), ("pod", pod), ("condition", c)]),
                f64::from(u8::from(c == s)),
            );
        }
    }
    if let Some(r) = st.reason.as_deref() {
        out.push(
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
    out.push(
        "kube_pod_owner",
        l(&[
            ("namespace", ns),
            ("pod", pod),
            ("owner_kind", ok),
            ("owner_name", on),
        ]),
        1.0,
    );
    out.push(
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
        out.push(
            "kube_pod_container_status_restarts_total",
            l(&[("namespace", ns), ("pod", pod), ("container", c)]),
            f64::from(cs.restart_count),
        );
        out.push(
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
            out.push(
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
            out.push(
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
}

/// The series of the workloads, nodes, endpoints and services.
pub(super) fn objects(out: &mut Samples, store: &Store) {
    for d in store.list_typed::<Deployment>(None) {
        let ns = d.metadata.namespace.as_deref().unwrap_or("");
        let n = d.metadata.name.as_deref().unwrap_or("");
        let st = d.status.clone().unwrap_or_default();
        let lab = l(&[("namespace", ns), ("deployment", n)]);
        out.push(
            "kube_deployment_spec_replicas",
            lab.clone(),
            f64::from(d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)),
        );
        out.push(
            "kube_deployment_status_replicas_available",
            lab.clone(),
            f64::from(st.available_replicas.unwrap_or(0)),
        );
        out.push(
            "kube_deployment_status_replicas_unavailable",
            lab.clone(),
            f64::from(st.unavailable_replicas.unwrap_or(0)),
        );
        out.push(
            "kube_deployment_status_replicas_updated",
            lab.clone(),
            f64::from(st.updated_replicas.unwrap_or(0)),
        );
        out.push(
            "kube_deployment_status_observed_generation",
            lab.clone(),
            st.observed_generation.unwrap_or(0) as f64,
        );
        out.push(
            "kube_deployment_metadata_generation",
            lab.clone(),
            d.metadata.generation.unwrap_or(0) as f64,
        );
        for c in st.conditions.iter().flatten() {
            for s in ["true", "false", "unknown"] {
                let mut lab = lab.clone();
                lab.insert("condition".into(), c.type_.clone());
                lab.insert("status".into(), s.into());
                out.push(
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
        out.push(
            "kube_statefulset_replicas",
            lab.clone(),
            f64::from(s.spec.as_ref().and_then(|x| x.replicas).unwrap_or(1)),
        );
        out.push(
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
        out.push(
            "kube_daemonset_status_desired_number_scheduled",
            lab.clone(),
            f64::from(st.desired_number_scheduled),
        );
        out.push(
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
                out.push(
                    "kube_node_status_condition",
                    l(&[("node", name), ("condition", &c.type_), ("status", s)]),
                    f64::from(u8::from(c.status.to_lowercase() == s)),
                );
            }
        }
        out.push(
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
        out.push("kube_endpoint_address_available", lab.clone(), ready as f64);
        out.push("kube_endpoint_address_not_ready", lab, not_ready as f64);
    }
    for s in store.list_typed::<Service>(None) {
        out.push(
            "kube_service_info",
            l(&[
                ("namespace", s.metadata.namespace.as_deref().unwrap_or("")),
                ("service", s.metadata.name.as_deref().unwrap_or("")),
            ]),
            1.0,
        );
    }
}
