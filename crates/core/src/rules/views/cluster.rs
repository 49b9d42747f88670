//! Views of the cluster around a workload: nodes, dependencies, signals, objects and past
//! incidents.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::evidence::{
    ConditionSummary, ContainerSpecSummary, EvidenceData, EvidenceId, EvidenceItem,
};
use crate::resource::{ResourceRef, WorkloadKind};

/// A node's conditions.
#[derive(Debug)]
pub(crate) struct NodeFact<'a> {
    pub id: &'a EvidenceId,
    pub node: &'a str,
    pub conditions: &'a [ConditionSummary],
    pub taints: &'a [String],
    pub unschedulable: bool,
    pub pods: &'a [String],
    pub workloads: &'a [String],
}

impl NodeFact<'_> {
    /// A condition by kind.
    pub fn condition(&self, kind: &str) -> Option<&ConditionSummary> {
        self.conditions
            .iter()
            .find(|c| c.kind.eq_ignore_ascii_case(kind))
    }

    /// Ready is `True`.
    pub fn ready(&self) -> bool {
        self.condition("Ready")
            .is_some_and(|c| c.status.eq_ignore_ascii_case("true"))
    }

    /// Ready is `False` or `Unknown`.
    pub fn not_ready(&self) -> bool {
        self.condition("Ready")
            .is_some_and(|c| !c.status.eq_ignore_ascii_case("true"))
    }
}

/// A dependency seen by the collector.
#[derive(Debug)]
pub(crate) struct DependencyFact<'a> {
    pub id: &'a EvidenceId,
    pub host_port: String,
    pub in_cluster: Option<&'a ResourceRef>,
    pub ready_endpoints: Option<u32>,
    pub failing_callers: &'a [String],
    pub error_lines: usize,
}

/// An alert or detection.
#[derive(Debug)]
pub(crate) struct SignalFact<'a> {
    pub id: &'a EvidenceId,
    pub name: &'a str,
    pub firing: bool,
    pub labels: &'a BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
}

impl SignalFact<'_> {
    /// A label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The workload a `deployment`, `statefulset` or `daemonset` label names.
    pub fn workload_label(&self) -> Option<(WorkloadKind, &str)> {
        WorkloadKind::ALL.into_iter().find_map(|kind| {
            self.label(&kind.as_str().to_ascii_lowercase())
                .map(|name| (kind, name))
        })
    }
}

/// An object's spec and status.
#[derive(Debug)]
pub(crate) struct ObjectFact<'a> {
    pub id: &'a EvidenceId,
    pub resource: &'a ResourceRef,
    pub kind: &'a str,
    pub replicas: Option<i32>,
    pub ready: Option<i32>,
    pub available: Option<i32>,
    pub conditions: &'a [ConditionSummary],
    pub containers: &'a [ContainerSpecSummary],
}

impl ObjectFact<'_> {
    /// Is it a Deployment, StatefulSet or DaemonSet.
    pub fn is_workload(&self) -> bool {
        self.kind.parse::<WorkloadKind>().is_ok()
            || matches!(self.resource, ResourceRef::Workload { .. })
    }
}

/// A similar incident from the past.
#[derive(Debug)]
pub(crate) struct PastFact<'a> {
    pub id: &'a EvidenceId,
    pub incident: &'a str,
    pub category: &'a str,
    pub action: Option<&'a str>,
    pub outcome: &'a str,
    pub similarity: f64,
}

impl<'a> NodeFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem) -> Option<Self> {
        let EvidenceData::NodeCondition {
            node,
            conditions,
            taints,
            unschedulable,
            pods,
            workloads,
        } = &item.data
        else {
            return None;
        };
        Some(NodeFact {
            id: &item.id,
            node,
            conditions,
            taints,
            unschedulable: *unschedulable,
            pods,
            workloads,
        })
    }
}

impl<'a> DependencyFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem) -> Option<Self> {
        let EvidenceData::Dependency {
            host_port,
            in_cluster,
            ready_endpoints,
            failing_callers,
            error_lines,
        } = &item.data
        else {
            return None;
        };
        Some(DependencyFact {
            id: &item.id,
            host_port: host_port.to_ascii_lowercase(),
            in_cluster: in_cluster.as_ref(),
            ready_endpoints: *ready_endpoints,
            failing_callers,
            error_lines: *error_lines,
        })
    }
}

impl<'a> SignalFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem) -> Option<Self> {
        let EvidenceData::Signal {
            name,
            status,
            labels,
            starts_at,
        } = &item.data
        else {
            return None;
        };
        Some(SignalFact {
            id: &item.id,
            name,
            firing: !status.eq_ignore_ascii_case("resolved"),
            labels,
            starts_at: *starts_at,
        })
    }
}

impl<'a> ObjectFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem) -> Option<Self> {
        let EvidenceData::Object {
            kind,
            replicas,
            ready,
            available,
            conditions,
            containers,
            ..
        } = &item.data
        else {
            return None;
        };
        Some(ObjectFact {
            id: &item.id,
            resource: &item.resource,
            kind,
            replicas: *replicas,
            ready: *ready,
            available: *available,
            conditions,
            containers,
        })
    }
}

impl<'a> PastFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem) -> Option<Self> {
        let EvidenceData::PastIncident {
            incident,
            category,
            action,
            outcome,
            similarity,
        } = &item.data
        else {
            return None;
        };
        Some(PastFact {
            id: &item.id,
            incident,
            category,
            action: action.as_deref(),
            outcome,
            similarity: if similarity.is_finite() {
                similarity.clamp(0.0, 1.0)
            } else {
                0.0
            },
        })
    }
}
