//! Correlation: every signal is mapped to the root resource it is a symptom of, using the
//! topology: pod → owner → workload, pod → its node when the node is unhealthy, Service →
//! the workload it selects, and caller → the in-cluster dependency its logs blame when that
//! dependency is itself unhealthy. Fifty pods failing on one dead node are one node incident.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::LogParams;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client};
use nightshift_core::ResourceRef;

use crate::collect::{blamed_hosts, service_of_host};
use crate::perceive::watchers::Caches;
use crate::topology;

/// How long a dependency verdict for a workload is reused.
const DEPENDENCY_CACHE: Duration = Duration::from_secs(30);

/// Maps signals' resources to root resources.
pub struct Correlator {
    client: Client,
    caches: Caches,
    dependency: Mutex<HashMap<ResourceRef, (Instant, Option<ResourceRef>)>>,
}

/// Whether a node is unhealthy enough to be the root cause of its pods' trouble.
pub fn node_unhealthy(n: &Node) -> bool {
    n.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| match c.type_.as_str() {
            "Ready" => c.status != "True",
            "DiskPressure" | "MemoryPressure" | "PIDPressure" => c.status == "True",
            _ => false,
        })
}

impl Correlator {
    /// A correlator reading the reflector caches (and pod logs for dependencies).
    pub fn new(client: Client, caches: Caches) -> Self {
        Correlator {
            client,
            caches,
            dependency: Mutex::new(HashMap::new()),
        }
    }

    /// The root resource of a signal about `resource`.
    pub async fn root_of(&self, resource: &ResourceRef) -> ResourceRef {
        let direct = self.structural_root(resource);
        match &direct {
            ResourceRef::Workload { .. } => self.dependency_root(&direct).await.unwrap_or(direct),
            _ => direct,
        }
    }

    /// The root without looking at logs: owner chains, nodes, services.
    pub fn structural_root(&self, resource: &ResourceRef) -> ResourceRef {
        match resource {
            ResourceRef::Pod { namespace, name } => {
                let Some(pod) = self
                    .caches
                    .pods
                    .get(&ObjectRef::<Pod>::new(name).within(namespace))
                else {
                    return owner_of_gone_pod(namespace, name, &self.caches);
                };
                if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_ref())
                    && self
                        .caches
                        .nodes
                        .get(&ObjectRef::<Node>::new(node))
                        .is_some_and(|n| node_unhealthy(&n))
                {
                    return ResourceRef::node(node);
                }
                owner_of(&pod, &self.caches).unwrap_or_else(|| resource.clone())
            }
            ResourceRef::Service { namespace, name } => {
                let svc = self
                    .caches
                    .services
                    .get(&ObjectRef::new(name).within(namespace));
                let selector = svc
                    .and_then(|s| s.spec.clone())
                    .and_then(|s| s.selector)
                    .unwrap_or_default();
                if selector.is_empty() {
                    return resource.clone();
                }
                for d in self.caches.deployments.state() {
                    if d.metadata.namespace.as_deref() != Some(namespace) {
                        continue;
                    }
                    let labels = d
                        .spec
                        .as_ref()
                        .and_then(|s| s.template.metadata.as_ref())
                        .and_then(|m| m.labels.clone())
                        .unwrap_or_default();
                    if selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                        return ResourceRef::deployment(
                            namespace,
                            d.metadata.name.as_deref().unwrap_or(""),
                        );
                    }
                }
                // StatefulSets and DaemonSets are not cached: find a pod the Service selects.
                for p in self.caches.pods.state() {
                    if p.metadata.namespace.as_deref() != Some(namespace) {
                        continue;
                    }
                    let labels = p.metadata.labels.clone().unwrap_or_default();
                    if selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                        && let Some(o) = owner_of(&p, &self.caches)
                    {
                        return o;
                    }
                }
                resource.clone()
            }
            _ => resource.clone(),
        }
    }

    /// When a workload's pods fail because a dependency they name in their logs is itself
    /// down, the dependency is the root.
    async fn dependency_root(&self, workload: &ResourceRef) -> Option<ResourceRef> {
        if let Some((at, verdict)) = self.dependency.lock().ok()?.get(workload).cloned()
            && at.elapsed() < DEPENDENCY_CACHE
        {
            return verdict;
        }
        let verdict = self.find_dependency(workload).await;
        if let Ok(mut m) = self.dependency.lock() {
            m.insert(workload.clone(), (Instant::now(), verdict.clone()));
        }
        verdict
    }

    async fn find_dependency(&self, workload: &ResourceRef) -> Option<ResourceRef> {
        let ResourceRef::Workload { namespace, .. } = workload else {
            return None;
        };
        // A not-ready pod of the workload whose container runs (not crash looping).
        let pod = self.caches.pods.state().into_iter().find(|p| {
            // The cheap tests first: most pods are ready or in another namespace.
            p.metadata.namespace.as_deref() == Some(namespace.as_str())
                && !crate::collect::pod_ready(p)
                && p.status
                    .iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
                    .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
                && owner_of(p, &self.caches).as_ref() == Some(workload)
        })?;
        let lp = LogParams {
            tail_lines: Some(30),
            ..Default::default()
        };
        let text = Api::<Pod>::namespaced(self.client.clone(), namespace)
            .logs(pod.metadata.name.as_deref()?, &lp)
            .await
            .ok()?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let (host, _) = blamed_hosts(&lines).into_iter().max_by_key(|(_, n)| *n)?;
        let Some((ns, svc)) = service_of_host(&host, namespace) else {
            return Some(ResourceRef::External { host_port: host });
        };
        let target = self.structural_root(&ResourceRef::Service {
            namespace: ns,
            name: svc,
        });
        (matches!(target, ResourceRef::Workload { .. }) && &target != workload).then_some(target)
    }
}

/// The workload owning a pod, from its owner references and the ReplicaSet cache.
pub fn owner_of(pod: &Pod, caches: &Caches) -> Option<ResourceRef> {
    topology::pod_owner_with(pod, |ns, name| {
        caches
            .replicasets
            .get(&ObjectRef::<ReplicaSet>::new(name).within(ns))
            .and_then(|rs| topology::replica_set_owner(&rs))
    })
}

/// For a pod no longer in the cache (an alert about a pod its controller already replaced),
/// whose owner references can no longer be read: a controller that generates its pods' names
/// from its own (`<replicaset>-<suffix>`, `<statefulset>-<ordinal>`, `<daemonset>-<suffix>`)
/// and still exists, resolved through that controller's own owner references; otherwise the
/// pod itself.
fn owner_of_gone_pod(ns: &str, name: &str, caches: &Caches) -> ResourceRef {
    if let Some((prefix, suffix)) = name.rsplit_once('-')
        && !suffix.is_empty()
    {
        let rs = caches
            .replicasets
            .get(&ObjectRef::<ReplicaSet>::new(prefix).within(ns));
        if let Some(owner) = rs.as_deref().and_then(topology::replica_set_owner) {
            return owner;
        }
        // StatefulSets and DaemonSets are not cached: a sibling pod names its controller.
        let sibling_owner = caches.pods.state().iter().find_map(|p| {
            if p.metadata.namespace.as_deref() != Some(ns) {
                return None;
            }
            match topology::pod_controller(p)? {
                topology::PodController::Workload(w @ ResourceRef::Workload { .. })
                    if matches!(&w, ResourceRef::Workload { name: n, .. } if n == prefix) =>
                {
                    Some(w)
                }
                _ => None,
            }
        });
        if let Some(owner) = sibling_owner {
            return owner;
        }
    }
    ResourceRef::Pod {
        namespace: ns.into(),
        name: name.into(),
    }
}
