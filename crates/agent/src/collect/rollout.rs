//! Rollout history: a Deployment's ReplicaSets, a StatefulSet's or DaemonSet's
//! ControllerRevisions, and what changed between revisions.

use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Api;
use kube::api::ListParams;
use nightshift_core::evidence::{ContainerSpecSummary, RevisionSummary};
use nightshift_core::{EvidenceData, EvidenceKind, ResourceRef};

use super::summary::{pod_change, pod_fields, t, template_change, template_containers};
use crate::act::ACTION_ID_ANNOTATION;
use crate::redact::redact;

use super::{Bundle, Collector};

/// A revision: its number, its summary, its containers and its pod-level fields.
type Revision = (
    i64,
    RevisionSummary,
    Vec<ContainerSpecSummary>,
    std::collections::BTreeMap<String, serde_json::Value>,
);

/// Whether `uid` is among the owners of an object.
fn owned_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references.iter().flatten().any(|o| o.uid == uid)
}

/// A revision of `template`, numbered `number`, created at `created`; replicas and what changed
/// are filled in by the caller and by [`Collector::push_history`].
fn revision(number: i64, template: Option<&PodTemplateSpec>, created: Option<&Time>) -> Revision {
    let cs = template_containers(template);
    (
        number,
        RevisionSummary {
            revision: number,
            images: cs.iter().map(|c| c.image.clone()).collect(),
            created_at: created.map(t),
            replicas: 0,
            ready: 0,
            change: Vec::new(),
            made_by: made_by(template),
        },
        cs,
        pod_fields(template),
    )
}

impl Collector {
    pub(super) async fn deployment_history(
        &self,
        b: &mut Bundle,
        resource: &ResourceRef,
        ns: &str,
        uid: &str,
    ) {
        let Ok(list) = Api::<ReplicaSet>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default())
            .await
        else {
            return;
        };
        let mut revs: Vec<Revision> = list
            .items
            .iter()
            .filter(|rs| owned_by(&rs.metadata, uid))
            .map(|rs| {
                let rev = rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                let template = rs.spec.as_ref().and_then(|s| s.template.as_ref());
                let st = rs.status.clone().unwrap_or_default();
                let mut r = revision(rev, template, rs.metadata.creation_timestamp.as_ref());
                r.1.replicas = st.replicas;
                r.1.ready = st.ready_replicas.unwrap_or(0);
                r
            })
            .collect();
        self.push_history(b, resource, &mut revs);
    }

    pub(super) async fn revision_history(
        &self,
        b: &mut Bundle,
        resource: &ResourceRef,
        ns: &str,
        uid: &str,
    ) {
        let Ok(list) = Api::<ControllerRevision>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default())
            .await
        else {
            return;
        };
        let mut revs: Vec<Revision> = list
            .items
            .iter()
            .filter(|r| owned_by(&r.metadata, uid))
            .map(|r| {
                let template: Option<PodTemplateSpec> = r
                    .data
                    .as_ref()
                    .and_then(|d| serde_json::to_value(d).ok())
                    .and_then(|v| v.pointer("/spec/template").cloned())
                    .and_then(|v| serde_json::from_value(v).ok());
                revision(
                    r.revision,
                    template.as_ref(),
                    r.metadata.creation_timestamp.as_ref(),
                )
            })
            .collect();
        self.push_history(b, resource, &mut revs);
    }

    pub(super) fn push_history(
        &self,
        b: &mut Bundle,
        resource: &ResourceRef,
        revs: &mut [Revision],
    ) {
        if revs.is_empty() {
            return;
        }
        revs.sort_by_key(|(r, _, _, _)| *r);
        for i in 1..revs.len() {
            let mut change = template_change(&revs[i - 1].2, &revs[i].2);
            change.extend(pod_change(&revs[i - 1].3, &revs[i].3));
            revs[i].1.change = change;
        }
        let current = revs.last().map(|r| r.0).unwrap_or(0);
        let mut list: Vec<RevisionSummary> =
            revs.iter().rev().take(5).map(|r| r.1.clone()).collect();
        for r in &mut list {
            r.change = r.change.iter().map(|c| redact(c)).collect();
        }
        let summary = match list.first() {
            Some(r) if !r.change.is_empty() => format!(
                "revision {} (current) created {}: {}",
                r.revision,
                r.created_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                r.change.join("; ")
            ),
            Some(r) => format!(
                "revision {} (current), {} revisions kept",
                r.revision,
                revs.len()
            ),
            None => String::new(),
        };
        b.push(
            1,
            EvidenceKind::RolloutHistory,
            resource.clone(),
            summary,
            EvidenceData::RolloutHistory {
                revisions: list,
                current,
            },
        );
    }
}

/// The action that made a revision: the key the agent stamps in the pod template it changes,
/// which the ReplicaSet or ControllerRevision copies.
fn made_by(template: Option<&PodTemplateSpec>) -> Option<String> {
    template?
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(ACTION_ID_ANNOTATION)
        .cloned()
}
