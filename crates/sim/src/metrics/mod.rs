//! The metrics a real cluster exports, under the names real exporters use: kube-state-metrics
//! from the stored objects, cAdvisor and application RED metrics from the runtime.
//!
//! [`collect`] takes every sample at one instant: [`kube_state`] from the stored objects,
//! [`cadvisor`] and [`red`] from the containers the kubelet runs; [`render`] writes them in
//! the Prometheus text format.

mod cadvisor;
mod kube_state;
mod red;
mod render;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use crate::store::Store;
use crate::world::{CState, World};

pub use render::render;

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

/// The samples of one collection, in the order they are taken.
struct Samples(Vec<Sample>);

impl Samples {
    fn push(&mut self, name: &'static str, labels: BTreeMap<String, String>, value: f64) {
        self.0.push(Sample {
            name,
            labels,
            value,
        });
    }
}

fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every sample at this instant.
pub fn collect(world: &World, store: &Store) -> Vec<Sample> {
    let mut out = Samples(Vec::new());
    for p in store.list_typed::<Pod>(None) {
        kube_state::pod(&mut out, &p);
        containers(&mut out, world, &p);
    }
    kube_state::objects(&mut out, store);
    red::client_requests(&mut out, world);
    out.0
}

/// The cAdvisor and RED series of the containers of a pod that run on a live node.
fn containers(out: &mut Samples, world: &World, p: &Pod) {
    let ns = p.metadata.namespace.as_deref().unwrap_or("");
    let pod = p.metadata.name.as_deref().unwrap_or("");
    // Only containers the kubelet runs have usage and serve requests.
    if let Some(pr) = p.metadata.uid.as_ref().and_then(|u| world.pods.get(u))
        && world.nodes.get(&pr.node).is_some_and(|n| n.alive)
    {
        for (i, c) in pr.containers.iter().enumerate() {
            let Some(inst) = c.running() else { continue };
            let spec = p.spec.as_ref().and_then(|s| s.containers.get(i));
            cadvisor::container(out, ns, pod, c, inst, spec);
            let service = pr
                .workload
                .as_deref()
                .and_then(|w| w.split('/').nth(1))
                .unwrap_or(pod);
            red::http(out, ns, pod, service, c);
        }
    }
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
