//! The evidence bundle: what the collector saw, each item with a stable id the diagnosis
//! cites, under a byte budget.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::resource::ResourceRef;

/// Id of an evidence item within its incident (`E1`, `E2`, ...). Assigned by the collector,
/// never taken from text the evidence contains.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EvidenceId(pub String);

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// The object's spec and status (summarised).
    Object,
    /// A container's state, last state, restarts, exit code.
    ContainerStatus,
    /// A Kubernetes event (deduplicated, with count).
    Event,
    /// Log lines of a container (current or previous), tail only.
    Logs,
    /// Revisions of a workload: revision, image, when.
    RolloutHistory,
    /// A node's conditions and taints.
    NodeCondition,
    /// A metric now or over a range, summarised.
    Metric,
    /// A dependency seen in logs or Services, and its health.
    Dependency,
    /// The alert or detection that opened or joined the incident.
    Signal,
    /// A similar past incident.
    PastIncident,
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// Stable id within the incident.
    pub id: EvidenceId,
    /// Kind.
    pub kind: EvidenceKind,
    /// What it is about.
    pub resource: ResourceRef,
    /// One-line summary (`container checkout: CrashLoopBackOff, 5 restarts, last exit 2`).
    pub summary: String,
    /// Structured details, already redacted.
    pub data: EvidenceData,
    /// When it was observed.
    pub observed_at: DateTime<Utc>,
}

/// The bounded bundle the analyzers read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// Items, most relevant first.
    pub items: Vec<EvidenceItem>,
    /// Bytes the items take serialized.
    pub bytes: usize,
    /// Items dropped because the budget ran out.
    pub truncated: usize,
}

impl Evidence {
    /// Items of one kind.
    pub fn of_kind(&self, kind: EvidenceKind) -> impl Iterator<Item = &EvidenceItem> {
        self.items.iter().filter(move |i| i.kind == kind)
    }

    /// The item with this id.
    pub fn get(&self, id: &EvidenceId) -> Option<&EvidenceItem> {
        self.items.iter().find(|i| &i.id == id)
    }
}

/// A condition as Kubernetes reports them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConditionSummary {
    /// `Ready`, `Available`, `Progressing`, `DiskPressure`, ...
    pub kind: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Reason, if any.
    pub reason: Option<String>,
    /// Message, if any.
    pub message: Option<String>,
    /// Last transition.
    pub since: Option<DateTime<Utc>>,
}

/// A probe's settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProbeSummary {
    /// Timeout in seconds.
    pub timeout_seconds: i32,
    /// Period in seconds.
    pub period_seconds: i32,
    /// Failures before acting.
    pub failure_threshold: i32,
    /// Initial delay in seconds.
    pub initial_delay_seconds: i32,
}

/// A container of a pod template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContainerSpecSummary {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Requests in Kubernetes notation (`cpu`, `memory`).
    pub requests: std::collections::BTreeMap<String, String>,
    /// Limits in Kubernetes notation.
    pub limits: std::collections::BTreeMap<String, String>,
    /// Readiness probe.
    pub readiness: Option<ProbeSummary>,
    /// Liveness probe.
    pub liveness: Option<ProbeSummary>,
    /// ConfigMaps and Secrets referenced (`configmap/name`, `secret/name`).
    pub config_refs: Vec<String>,
}

/// One revision of a workload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RevisionSummary {
    /// Revision number.
    pub revision: i64,
    /// Images of its containers.
    pub images: Vec<String>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// Replicas it runs now.
    pub replicas: i32,
    /// Of which ready.
    pub ready: i32,
    /// What differs from the revision before (`image a -> b`, `+envFrom secret/x`,
    /// `memory limit 256Mi -> 128Mi`), computed by the collector.
    pub change: Vec<String>,
    /// The idempotency key of the Nightshift action whose change created this revision
    /// (`nightshift.io/action-id` in its pod template): a remedy on the record, not a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_by: Option<String>,
}

/// Structured details of an evidence item, by kind. This is the contract between the
/// collector and every analyzer.
// A bundle holds a few dozen items under a byte budget: the size of the largest variant costs
// nothing that matters, and boxing would only add allocations and noise to every reader.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EvidenceData {
    /// A workload, pod, node or service object.
    Object {
        /// Kind.
        kind: String,
        /// Desired replicas (workloads).
        replicas: Option<i32>,
        /// Ready replicas.
        ready: Option<i32>,
        /// Available replicas.
        available: Option<i32>,
        /// Updated replicas.
        updated: Option<i32>,
        /// Labels.
        labels: std::collections::BTreeMap<String, String>,
        /// Conditions.
        conditions: Vec<ConditionSummary>,
        /// Containers of the template (or pod).
        containers: Vec<ContainerSpecSummary>,
        /// Node selector.
        node_selector: std::collections::BTreeMap<String, String>,
    },
    /// A container's status in one pod.
    ContainerStatus {
        /// Pod.
        pod: String,
        /// Node it runs on.
        node: Option<String>,
        /// Pod phase.
        phase: String,
        /// Container.
        container: String,
        /// Image it runs.
        image: String,
        /// Ready.
        ready: bool,
        /// Restarts.
        restart_count: i32,
        /// `running`, `waiting` or `terminated`.
        state: String,
        /// Waiting/terminated reason.
        reason: Option<String>,
        /// Waiting/terminated message.
        message: Option<String>,
        /// Exit code of the current state (terminated).
        exit_code: Option<i32>,
        /// Reason of the last termination.
        last_reason: Option<String>,
        /// Exit code of the last termination.
        last_exit_code: Option<i32>,
        /// When the last termination happened.
        last_finished_at: Option<DateTime<Utc>>,
        /// When the last terminated instance had started (its uptime tells an undersized
        /// limit, killed right after start, from a slow leak).
        #[serde(default)]
        last_started_at: Option<DateTime<Utc>>,
        /// When the current instance started.
        started_at: Option<DateTime<Utc>>,
        /// Pod's Ready condition reason/message when not ready, or pod status reason (Evicted).
        pod_reason: Option<String>,
        /// The workload that owns the pod, read from its owner references (pod → ReplicaSet →
        /// Deployment, pod → StatefulSet or DaemonSet). Absent for a bare pod, or in records
        /// made before it was stated.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<ResourceRef>,
        /// The pod's template revision, from its `pod-template-hash` (Deployment) or
        /// `controller-revision-hash` (StatefulSet, DaemonSet) label.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
    },
    /// A deduplicated event.
    Event {
        /// `Normal` or `Warning`.
        event_type: String,
        /// Reason.
        reason: String,
        /// Message.
        message: String,
        /// Occurrences.
        count: i32,
        /// First seen.
        first_seen: Option<DateTime<Utc>>,
        /// Last seen.
        last_seen: Option<DateTime<Utc>>,
        /// Kind of the object it is about.
        object_kind: String,
        /// Name of the object it is about.
        object_name: String,
    },
    /// The tail of a container's log.
    Logs {
        /// Pod.
        pod: String,
        /// Container.
        container: String,
        /// The workload that owns the pod, as for container statuses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<ResourceRef>,
        /// Previous instance.
        previous: bool,
        /// The lines kept (tail), oldest first.
        lines: Vec<String>,
        /// Lines seen before truncation.
        total_lines: usize,
    },
    /// Revisions of a workload, newest first.
    RolloutHistory {
        /// Revisions.
        revisions: Vec<RevisionSummary>,
        /// The revision the workload runs now.
        current: i64,
    },
    /// A node's condition.
    NodeCondition {
        /// Node.
        node: String,
        /// Conditions.
        conditions: Vec<ConditionSummary>,
        /// Taints (`key:effect`).
        taints: Vec<String>,
        /// Cordoned.
        unschedulable: bool,
        /// Pods on the node (namespace/name).
        pods: Vec<String>,
        /// Workloads with pods on the node (`namespace/name`).
        workloads: Vec<String>,
    },
    /// A metric, now or summarised over a range.
    Metric {
        /// Metric or query name (`container_memory_working_set_bytes`, `error_ratio`, ...).
        name: String,
        /// Container, pod or service it is about.
        subject: String,
        /// Latest value.
        current: f64,
        /// Minimum over the window.
        min: f64,
        /// Maximum over the window.
        max: f64,
        /// Change per minute over the window.
        trend_per_minute: f64,
        /// The matching limit, if any (memory or cpu limit).
        limit: Option<f64>,
        /// Window in seconds (0 for an instant value).
        window_seconds: u64,
    },
    /// A dependency of the incident's resource.
    Dependency {
        /// `host:port` as callers name it.
        host_port: String,
        /// The in-cluster Service/workload it resolves to, if any.
        in_cluster: Option<ResourceRef>,
        /// Ready endpoints of that Service (None for external).
        ready_endpoints: Option<u32>,
        /// Callers whose logs show failures reaching it (`namespace/name`).
        failing_callers: Vec<String>,
        /// Log lines naming it with an error.
        error_lines: usize,
    },
    /// The signal that opened or joined the incident.
    Signal {
        /// Alert name or detection reason.
        name: String,
        /// `firing` or `resolved`.
        status: String,
        /// Labels.
        labels: std::collections::BTreeMap<String, String>,
        /// Since when.
        starts_at: DateTime<Utc>,
    },
    /// A similar past incident.
    PastIncident {
        /// Its id.
        incident: String,
        /// Its category.
        category: String,
        /// The action that ran.
        action: Option<String>,
        /// `resolved`, `unresolved`, `escalated`.
        outcome: String,
        /// 0..=1.
        similarity: f64,
    },
}
