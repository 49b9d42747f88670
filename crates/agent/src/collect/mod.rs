//! Collect: the bounded evidence bundle an SRE would look at for an incident's resource:
//! objects, container states, events (deduplicated, newest first), log tails of current and
//! previous containers, rollout history with what changed, node conditions, current usage,
//! the dependencies the logs name, and (with a Prometheus configured) the workload's PromQL
//! ranges of the last half hour (`crate::prometheus`). Every text is redacted; the bundle has
//! a byte budget.
//!
//! One module per reader: the workload and the Service in front of it (`workload`), rollout
//! history (`rollout`), pods with their containers, logs and usage (`pods`), the
//! metrics.k8s.io client (`usage`), events (`events`), nodes (`node`), the dependencies named
//! in logs (`dependencies`), the summaries of Kubernetes objects the evidence contract
//! carries (`summary`), and the bundle with its priorities and byte budget (`bundle`).

mod bundle;
mod dependencies;
mod events;
mod node;
mod pods;
mod rollout;
mod summary;
mod usage;
mod workload;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use nightshift_core::{Evidence, EvidenceData, EvidenceKind, ResourceRef, Signal};

use crate::prometheus::Prometheus;
use bundle::Bundle;
pub use dependencies::{blamed_hosts, service_of_host};
pub use summary::{container_summary, parse_cpu, parse_memory, pod_ready, template_change};

/// Limits of one bundle.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Total serialized bytes.
    pub bytes: usize,
    /// Pods whose containers are described.
    pub pods: usize,
    /// Pods whose logs are read.
    pub log_pods: usize,
    /// Lines kept per log.
    pub log_lines: i64,
    /// Events kept.
    pub events: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            bytes: 48 * 1024,
            pods: 8,
            log_pods: 3,
            log_lines: 40,
            events: 25,
        }
    }
}

/// Why collection failed (partial failures only drop the item concerned).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The incident's resource could not be read at all.
    #[error("unable to read {resource}")]
    Read {
        /// The resource.
        resource: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

/// Collects evidence through the Kubernetes API (and a Prometheus, when there is one).
#[derive(Clone)]
pub struct Collector {
    client: Client,
    budget: Budget,
    prometheus: Option<Prometheus>,
}

impl Collector {
    /// A collector with a budget.
    pub fn new(client: Client, budget: Budget) -> Self {
        Collector {
            client,
            budget,
            prometheus: None,
        }
    }

    /// Adds PromQL ranges of the incident's workload to every bundle.
    pub fn with_prometheus(mut self, prometheus: Option<Prometheus>) -> Self {
        self.prometheus = prometheus;
        self
    }

    /// The evidence bundle for `resource`, with the signals that point at it.
    pub async fn collect(
        &self,
        resource: &ResourceRef,
        signals: &[Signal],
        now: DateTime<Utc>,
    ) -> Result<Evidence, CollectError> {
        let mut b = Bundle {
            items: Vec::new(),
            next: 0,
            now,
        };
        for s in signals.iter().take(10) {
            b.push(
                3,
                EvidenceKind::Signal,
                s.resource.clone().unwrap_or_else(|| resource.clone()),
                format!(
                    "{} {:?}: {}",
                    s.name,
                    s.status,
                    s.annotations.get("summary").cloned().unwrap_or_default()
                ),
                EvidenceData::Signal {
                    name: s.name.clone(),
                    status: format!("{:?}", s.status).to_lowercase(),
                    labels: s.labels.clone(),
                    starts_at: s.starts_at,
                },
            );
        }
        match resource {
            ResourceRef::Workload {
                kind,
                namespace,
                name,
            } => self.workload(&mut b, *kind, namespace, name).await?,
            ResourceRef::Pod { namespace, name } => {
                let pod = Api::<Pod>::namespaced(self.client.clone(), namespace)
                    .get(name)
                    .await
                    .map_err(|source| CollectError::Read {
                        resource: resource.to_string(),
                        source,
                    })?;
                self.pods(&mut b, namespace, &[pod]).await;
            }
            ResourceRef::Node { name } => self.node(&mut b, name, true).await?,
            ResourceRef::Service { namespace, name } => {
                if let Some((kind, wname)) = self.workload_of_service(namespace, name).await {
                    self.workload(&mut b, kind, namespace, &wname).await?;
                }
            }
            ResourceRef::External { host_port } => {
                self.callers(&mut b, resource, signals).await;
                b.push(
                    1,
                    EvidenceKind::Dependency,
                    resource.clone(),
                    format!("external dependency {host_port}"),
                    EvidenceData::Dependency {
                        host_port: host_port.clone(),
                        in_cluster: None,
                        ready_endpoints: None,
                        failing_callers: Vec::new(),
                        error_lines: 0,
                    },
                );
            }
            // A storm's evidence is its signals; an object outside the catalogue's kinds has
            // only its events.
            ResourceRef::Storm { .. } => {}
            ResourceRef::Object {
                namespace, name, ..
            } => {
                self.events(&mut b, namespace, Some(name), 1).await;
            }
        }
        if !matches!(
            resource,
            ResourceRef::External { .. } | ResourceRef::Node { .. } | ResourceRef::Storm { .. }
        ) {
            self.callers(&mut b, resource, signals).await;
        }
        Ok(self.finish(b))
    }

    /// Pods that signalled into this incident from other workloads (callers of a failing
    /// dependency): their state and log tails show who misses the root resource.
    async fn callers(&self, b: &mut Bundle, resource: &ResourceRef, signals: &[Signal]) {
        // Pods already described (the root's own) need no second look, nor an API call.
        let described: BTreeSet<ResourceRef> = b
            .items
            .iter()
            .filter(|(_, i)| matches!(i.resource, ResourceRef::Pod { .. }))
            .map(|(_, i)| i.resource.clone())
            .collect();
        let mut seen = BTreeSet::new();
        for s in signals {
            let Some(pod_ref @ ResourceRef::Pod { namespace, name }) = &s.resource else {
                continue;
            };
            if pod_ref == resource || described.contains(pod_ref) {
                continue;
            }
            let Ok(Some(pod)) = Api::<Pod>::namespaced(self.client.clone(), namespace)
                .get_opt(name)
                .await
            else {
                continue;
            };
            // One pod per calling workload; pods of the root itself are already described.
            let owner = crate::topology::pod_owner(&self.client, &pod)
                .await
                .unwrap_or_else(|| pod_ref.clone());
            if &owner == resource || seen.len() >= 3 || !seen.insert(owner) {
                continue;
            }
            {
                self.pods(b, namespace, &[pod]).await;
            }
        }
    }
}
