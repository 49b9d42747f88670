//! A node: its conditions, taints, allocatable resources and the workloads it runs.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::ListParams;
use nightshift_core::{EvidenceData, EvidenceKind, ResourceRef};

use super::summary::{conditions, pod_ready, restarts, t};
use crate::redact::redact;

use super::{Bundle, CollectError, Collector};

impl Collector {
    pub(super) async fn node(
        &self,
        b: &mut Bundle,
        name: &str,
        with_pods: bool,
    ) -> Result<(), CollectError> {
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
        // The workloads behind its pods, through owner references; the ReplicaSets' owners
        // come from one list, not one read per ReplicaSet.
        let replica_set_owners: BTreeMap<(String, String), ResourceRef> = if pods.iter().any(|p| {
            matches!(
                crate::topology::pod_controller(p),
                Some(crate::topology::PodController::ReplicaSet { .. })
            )
        }) {
            Api::<ReplicaSet>::all(self.client.clone())
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default()
                .iter()
                .filter_map(|rs| {
                    let key = (rs.metadata.namespace.clone()?, rs.metadata.name.clone()?);
                    Some((key, crate::topology::replica_set_owner(rs)?))
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        for p in &pods {
            let owner = crate::topology::pod_owner_with(p, |ns, name| {
                replica_set_owners
                    .get(&(ns.to_string(), name.to_string()))
                    .cloned()
            });
            if let Some(owner) = owner {
                workloads.insert(owner.locate_key());
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
                            owner: crate::topology::pod_owner(&self.client, p).await,
                            template: super::pods::template_label(p),
                        },
                    );
                }
                self.events(b, &ns, None, 2).await;
            }
        }
        Ok(())
    }
}
