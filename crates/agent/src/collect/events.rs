//! Events about an object or a namespace, deduplicated, newest first.

use std::collections::BTreeSet;

use chrono::DateTime;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use nightshift_core::{EvidenceData, EvidenceKind, ResourceRef, WorkloadKind};

use super::summary::{generalize, t};
use crate::redact::redact;

use super::{Bundle, Collector};

impl Collector {
    pub(super) async fn events(
        &self,
        b: &mut Bundle,
        ns: &str,
        object: Option<&str>,
        priority: u8,
    ) -> usize {
        let api = Api::<Event>::namespaced(self.client.clone(), ns);
        let lp = match object {
            Some(name) => ListParams::default().fields(&format!("involvedObject.name={name}")),
            None => ListParams::default(),
        };
        let Ok(list) = api.list(&lp).await else {
            return 0;
        };
        let mut events = list.items;
        events.sort_by_key(|e| {
            std::cmp::Reverse(
                e.last_timestamp
                    .as_ref()
                    .map(t)
                    .or(e.event_time.as_ref().map(|m| {
                        DateTime::from_timestamp_millis(m.0.as_millisecond()).unwrap_or_default()
                    })),
            )
        });
        let mut seen = BTreeSet::new();
        let mut n = 0;
        for e in events {
            let reason = e.reason.clone().unwrap_or_default();
            let message = redact(&e.message.clone().unwrap_or_default());
            let kind = e.involved_object.kind.clone().unwrap_or_default();
            let oname = e.involved_object.name.clone().unwrap_or_default();
            // Dedup identical reason+message across replicas; the count says how often.
            let key = (reason.clone(), generalize(&message));
            if !seen.insert(key) || n >= self.budget.events {
                continue;
            }
            n += 1;
            let etype = e.type_.clone().unwrap_or_else(|| "Normal".into());
            let pri = if etype == "Warning" {
                priority
            } else {
                priority + 2
            };
            let resource = self.event_object(ns, &kind, &oname).await;
            b.push(
                pri,
                EvidenceKind::Event,
                resource,
                format!(
                    "{etype} {reason} on {kind} {oname} (x{}): {message}",
                    e.count.unwrap_or(1)
                ),
                EvidenceData::Event {
                    event_type: etype,
                    reason,
                    message,
                    count: e.count.unwrap_or(1),
                    first_seen: e.first_timestamp.as_ref().map(t),
                    last_seen: e.last_timestamp.as_ref().map(t),
                    object_kind: kind,
                    object_name: oname,
                },
            );
        }
        n
    }

    /// What an event is about, as a resource: the pod, node, Service or workload it names; a
    /// ReplicaSet's Deployment (through its owner references); any other kind (a Job, a
    /// claim) as an object of that kind.
    async fn event_object(&self, ns: &str, kind: &str, name: &str) -> ResourceRef {
        let namespaced = || (ns.to_string(), name.to_string());
        match kind {
            "Pod" => {
                let (namespace, name) = namespaced();
                ResourceRef::Pod { namespace, name }
            }
            "Service" => {
                let (namespace, name) = namespaced();
                ResourceRef::Service { namespace, name }
            }
            "Node" => ResourceRef::node(name),
            "ReplicaSet" => crate::topology::replica_set_owner_named(&self.client, ns, name)
                .await
                .unwrap_or_else(|| object(kind, ns, name)),
            k => match k.parse::<WorkloadKind>() {
                Ok(kind) => ResourceRef::workload(kind, ns, name),
                Err(_) => object(k, ns, name),
            },
        }
    }
}

/// A namespaced object outside the catalogue's kinds.
fn object(kind: &str, namespace: &str, name: &str) -> ResourceRef {
    ResourceRef::Object {
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}
