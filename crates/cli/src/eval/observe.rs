//! What the evaluation watches while a scenario runs: the health of every workload, the facts
//! an executed action is judged against (replicas, memory limits just before it), which pods
//! belong to which workload and which workloads ran on each node when the first fault struck.
//! Read straight from the simulated cluster's object store, in simulated time, without going
//! through the agent.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use nightshift_core::policy::{TargetFacts, operations};
use nightshift_core::{Action, ResourceRef};
use nightshift_scenario::{Scenario, Workload, WorkloadKind};
use nightshift_sim::Simulation;

use super::score::{HealthSample, ObservedAction};

/// Replicas and memory limits of a workload at one moment.
#[derive(Debug, Clone, PartialEq)]
struct Facts {
    at_s: f64,
    replicas: Option<i32>,
    memory_limits: BTreeMap<String, String>,
}

/// The record one run builds, sample by sample.
#[derive(Debug, Default)]
pub struct Watcher {
    start_ms: i64,
    first_fault_s: f64,
    workloads: Vec<Workload>,
    /// Health samples, in time order.
    pub health: Vec<HealthSample>,
    facts: BTreeMap<String, Vec<Facts>>,
    pods: BTreeMap<(String, String), String>,
    /// Workloads with pods on each node, up to the first fault.
    pub node_workloads: BTreeMap<String, BTreeSet<String>>,
}

fn selects(w: &Workload, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    pod.metadata.namespace.as_deref() == Some(w.namespace.as_str())
        && w.labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn terminal(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed")) || pod.metadata.deletion_timestamp.is_some()
}

fn pod_healthy(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let backing_off = status.container_statuses.iter().flatten().any(|c| {
        c.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .is_some_and(|w| w.reason.as_deref().is_some_and(|r| r.ends_with("BackOff")))
    });
    ready && !backing_off
}

fn memory_limits(spec: Option<&PodSpec>) -> BTreeMap<String, String> {
    spec.map(|s| {
        s.containers
            .iter()
            .filter_map(|c| {
                let q = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
                Some((c.name.clone(), q.0.clone()))
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Desired replicas, available replicas and memory limits of one workload object.
fn state<K>(
    store: &nightshift_sim::store::Store,
    w: &Workload,
    read: impl Fn(&K) -> (Option<i32>, Option<i32>, Option<&PodSpec>),
) -> (Option<i32>, i32, BTreeMap<String, String>)
where
    K: k8s_openapi::Resource + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    match store.get_typed::<K>(&w.namespace, &w.name) {
        Some(obj) => {
            let (desired, available, spec) = read(&obj);
            (desired, available.unwrap_or(0), memory_limits(spec))
        }
        None => (None, 0, BTreeMap::new()),
    }
}

impl Watcher {
    /// A watcher for `scenario` on a cluster started at `start_ms`.
    pub fn new(scenario: &Scenario, start_ms: i64) -> Self {
        Watcher {
            start_ms,
            first_fault_s: super::score::first_fault_s(scenario),
            workloads: scenario.cluster.workloads.clone(),
            ..Watcher::default()
        }
    }

    /// Simulated seconds from the start.
    pub fn seconds(&self, ms: i64) -> f64 {
        (ms - self.start_ms) as f64 / 1000.0
    }

    /// Takes one sample of the cluster as it is now.
    pub fn sample(&mut self, sim: &Simulation) {
        let at_s = self.seconds(sim.clock().now_ms());
        let store = sim.store();
        let pods = store.list_typed::<Pod>(None);
        let mut unhealthy = BTreeSet::new();
        for w in &self.workloads {
            let key = w.key();
            let (desired, available, template) = match w.kind {
                WorkloadKind::Deployment => state::<Deployment>(store, w, |d| {
                    let (spec, st) = (d.spec.as_ref(), d.status.as_ref());
                    (
                        spec.and_then(|s| s.replicas),
                        st.and_then(|s| s.available_replicas),
                        spec.and_then(|s| s.template.spec.as_ref()),
                    )
                }),
                WorkloadKind::StatefulSet => state::<StatefulSet>(store, w, |d| {
                    let (spec, st) = (d.spec.as_ref(), d.status.as_ref());
                    (
                        spec.and_then(|s| s.replicas),
                        st.and_then(|s| s.ready_replicas),
                        spec.and_then(|s| s.template.spec.as_ref()),
                    )
                }),
                WorkloadKind::DaemonSet => state::<DaemonSet>(store, w, |d| {
                    let st = d.status.as_ref();
                    (
                        st.map(|s| s.desired_number_scheduled),
                        st.and_then(|s| s.number_available),
                        d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
                    )
                }),
            };
            let facts = Facts {
                at_s,
                replicas: desired,
                memory_limits: template,
            };
            let history = self.facts.entry(key.clone()).or_default();
            if history.last().is_none_or(|f| {
                f.replicas != facts.replicas || f.memory_limits != facts.memory_limits
            }) {
                history.push(facts);
            }
            // A workload meant to run must not sit at zero desired replicas.
            let wanted = desired.unwrap_or(0);
            let meant_to_run = matches!(w.kind, WorkloadKind::DaemonSet) || w.replicas > 0;
            let mut healthy = available >= wanted && !(meant_to_run && wanted == 0);
            for pod in pods.iter().filter(|p| selects(w, p)) {
                let name = pod.metadata.name.clone().unwrap_or_default();
                self.pods.insert((w.namespace.clone(), name), key.clone());
                if terminal(pod) {
                    continue;
                }
                if at_s <= self.first_fault_s
                    && let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone())
                {
                    self.node_workloads
                        .entry(node)
                        .or_default()
                        .insert(key.clone());
                }
                healthy &= pod_healthy(pod);
            }
            if !healthy {
                unhealthy.insert(key);
            }
        }
        self.health.push(HealthSample { at_s, unhealthy });
    }

    /// The workload (`namespace/name`) a pod belonged to: as seen by the samples, else the
    /// workload whose name is the longest prefix of the pod's.
    fn owner_of_pod(&self, namespace: &str, pod: &str) -> Option<String> {
        if let Some(w) = self.pods.get(&(namespace.to_string(), pod.to_string())) {
            return Some(w.clone());
        }
        self.workloads
            .iter()
            .filter(|w| w.namespace == namespace && pod.starts_with(&format!("{}-", w.name)))
            .max_by_key(|w| w.name.len())
            .map(|w| w.key())
    }

    /// An executed action in the scenario's terms: its target workload or node, the namespaces
    /// it reaches, and the derived operations against the facts just before it ran.
    pub fn judge(
        &self,
        at_ms: i64,
        action: Action,
        outcome: Option<&serde_json::Value>,
    ) -> ObservedAction {
        let at_s = self.seconds(at_ms);
        let (target, namespaces) = match action.target() {
            Some(ResourceRef::Pod { namespace, name }) => {
                (self.owner_of_pod(&namespace, &name), vec![namespace])
            }
            Some(ResourceRef::Node { name }) => {
                let ns: BTreeSet<String> = self
                    .node_workloads
                    .get(&name)
                    .into_iter()
                    .flatten()
                    .filter_map(|w| w.split('/').next().map(str::to_string))
                    .collect();
                (Some(format!("node/{name}")), ns.into_iter().collect())
            }
            Some(r @ ResourceRef::Workload { .. }) => {
                let ns = r.namespace().map(str::to_string).into_iter().collect();
                (Some(r.locate_key()), ns)
            }
            Some(other) => (Some(other.locate_key()), vec![]),
            None => (None, vec![]),
        };
        let before = target
            .as_ref()
            .and_then(|t| self.facts.get(t))
            .and_then(|h| h.iter().rev().find(|f| f.at_s <= at_s).or(h.first()));
        let mut facts = TargetFacts {
            replicas: before.and_then(|f| f.replicas),
            memory_limits: before.map(|f| f.memory_limits.clone()).unwrap_or_default(),
            ..TargetFacts::default()
        };
        // What the change itself reported it changed from is exact; the samples are only
        // as fine as their interval.
        for change in outcome
            .and_then(|o| o.get("changes"))
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = change
                .get("field")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let from = change.get("from").and_then(serde_json::Value::as_str);
            if field == "spec.replicas" {
                if let Some(n) = from.and_then(|f| f.parse().ok()) {
                    facts.replicas = Some(n);
                }
            } else if let Some(rest) = field.strip_suffix("].resources.limits.memory")
                && let Some((_, container)) = rest.rsplit_once('[')
                && let Some(from) = from
            {
                facts
                    .memory_limits
                    .insert(container.to_string(), from.to_string());
            }
        }
        ObservedAction {
            at_s,
            operations: operations(&action, &facts),
            action,
            target,
            namespaces,
        }
    }
}

#[cfg(test)]
mod tests {
    use nightshift_core::policy::Operation;
    use serde_json::json;

    use super::*;

    /// The change's own report of what it changed from decides scale-up and
    /// raise-memory-limit, whatever the samples saw.
    #[test]
    fn the_change_report_says_what_the_action_changed_from() {
        let w = Watcher::default();
        let scale = Action::Scale {
            target: ResourceRef::deployment("shop", "web"),
            replicas: 4,
        };
        let up = w.judge(
            0,
            scale.clone(),
            Some(&json!({"changes": [{"object": "deployment/shop/web", "field": "spec.replicas", "from": "2", "to": "4"}]})),
        );
        assert!(up.operations.contains(&Operation::ScaleUp), "{up:?}");
        let down = w.judge(
            0,
            scale,
            Some(&json!({"changes": [{"object": "deployment/shop/web", "field": "spec.replicas", "from": "6", "to": "4"}]})),
        );
        assert!(down.operations.contains(&Operation::ScaleDown), "{down:?}");
        let raise = w.judge(
            0,
            Action::SetResources {
                target: ResourceRef::deployment("shop", "web"),
                container: "web".into(),
                change: nightshift_core::action::ResourceChange {
                    limits: [("memory".to_string(), "512Mi".to_string())].into(),
                    ..Default::default()
                },
            },
            Some(&json!({"changes": [{"object": "deployment/shop/web", "field": "spec.template.spec.containers[web].resources.limits.memory", "from": "256Mi", "to": "512Mi"}]})),
        );
        assert!(
            raise.operations.contains(&Operation::RaiseMemoryLimit),
            "{raise:?}"
        );
    }
}
