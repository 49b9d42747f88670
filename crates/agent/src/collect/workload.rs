//! The incident's workload: its object, its PromQL ranges, its rollout history, its pods and
//! the nodes of the failing ones; and the workload behind a Service.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::ListParams;
use nightshift_core::{EvidenceData, EvidenceKind, ResourceRef, WorkloadKind};

use super::summary::{conditions, pod_ready, t, template_containers};

use super::{Bundle, CollectError, Collector};

/// A workload's kind, name and pod-template labels.
type Template = (WorkloadKind, String, Option<BTreeMap<String, String>>);

impl Collector {
    /// The workload whose pod template matches a Service's selector.
    pub async fn workload_of_service(
        &self,
        ns: &str,
        name: &str,
    ) -> Option<(WorkloadKind, String)> {
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
        // Kinds in the order they are tried; the first workload whose pod template the
        // Service selects.
        let found = self
            .templates::<Deployment>(ns, WorkloadKind::Deployment, |d| {
                (d.metadata, d.spec.map(|s| s.template))
            })
            .await
            .into_iter()
            .chain(
                self.templates::<StatefulSet>(ns, WorkloadKind::StatefulSet, |d| {
                    (d.metadata, d.spec.map(|s| s.template))
                })
                .await,
            )
            .chain(
                self.templates::<DaemonSet>(ns, WorkloadKind::DaemonSet, |d| {
                    (d.metadata, d.spec.map(|s| s.template))
                })
                .await,
            )
            .find(|(_, _, labels)| matches(labels.as_ref()));
        found.map(|(kind, name, _)| (kind, name))
    }

    /// The name and pod-template labels of every workload of one kind in `ns`.
    async fn templates<K>(
        &self,
        ns: &str,
        kind: WorkloadKind,
        parts: fn(K) -> (ObjectMeta, Option<PodTemplateSpec>),
    ) -> Vec<Template>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
        K::DynamicType: Default,
    {
        let Ok(list) = Api::<K>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default())
            .await
        else {
            return Vec::new();
        };
        list.items
            .into_iter()
            .map(|w| {
                let (meta, template) = parts(w);
                let labels = template.and_then(|t| t.metadata).and_then(|m| m.labels);
                (kind, meta.name.unwrap_or_default(), labels)
            })
            .collect()
    }

    pub(super) async fn workload(
        &self,
        b: &mut Bundle,
        kind: WorkloadKind,
        ns: &str,
        name: &str,
    ) -> Result<(), CollectError> {
        let resource = ResourceRef::workload(kind, ns, name);
        let err = |source| CollectError::Read {
            resource: resource.to_string(),
            source,
        };
        let (selector, template, replicas, ready, available, updated, conds, uid) = match kind {
            WorkloadKind::StatefulSet => {
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
            WorkloadKind::DaemonSet => {
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
            WorkloadKind::Deployment => {
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
                kind: kind.to_string(),
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
        if kind == WorkloadKind::Deployment {
            self.deployment_history(b, &resource, ns, uid.as_deref().unwrap_or(""))
                .await;
        } else {
            self.revision_history(b, &resource, ns, uid.as_deref().unwrap_or(""))
                .await;
        }
        // Pods.
        // Its pods, by its whole selector (matchLabels and matchExpressions); a selector no
        // query can express selects none.
        let pods = match crate::topology::selector_query(&selector) {
            Some(query) => Api::<Pod>::namespaced(self.client.clone(), ns)
                .list(&ListParams::default().labels(&query))
                .await
                .map(|l| l.items)
                .unwrap_or_default(),
            None => Vec::new(),
        };
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
}
