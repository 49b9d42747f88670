//! cAdvisor: the resource series of running containers (working set, CPU time, limits and
//! CFS throttling).

use k8s_openapi::api::core::v1::Container;

use super::{Samples, l};
use crate::quantity;
use crate::world::{ContainerRuntime, Instance};

/// The series of one running container; `spec` gives its limits.
pub(super) fn container(
    out: &mut Samples,
    ns: &str,
    pod: &str,
    c: &ContainerRuntime,
    inst: &Instance,
    spec: Option<&Container>,
) {
    let lab = l(&[("namespace", ns), ("pod", pod), ("container", &c.name)]);
    let limits = spec
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    out.push(
        "container_memory_working_set_bytes",
        lab.clone(),
        inst.memory_bytes as f64,
    );
    out.push(
        "container_cpu_usage_seconds_total",
        lab.clone(),
        c.cpu_seconds,
    );
    if let Some(m) = limits
        .and_then(|x| x.get("memory"))
        .and_then(|q| quantity::memory(&q.0))
    {
        out.push("container_spec_memory_limit_bytes", lab.clone(), m as f64);
    }
    if let Some(cpu) = limits
        .and_then(|x| x.get("cpu"))
        .and_then(|q| quantity::cpu(&q.0))
    {
        out.push("container_spec_cpu_quota", lab.clone(), cpu as f64 * 100.0);
        out.push("container_cpu_cfs_periods_total", lab.clone(), c.cfs.1);
        out.push(
            "container_cpu_cfs_throttled_periods_total",
            lab.clone(),
            c.cfs.0,
        );
    }
}
