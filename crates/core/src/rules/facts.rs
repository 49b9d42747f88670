//! A digest of the evidence bundle: each item read once into a typed view, pods tied to
//! their workloads, and the questions every rule family asks (which revision is newest,
//! when did the trouble start, what does the workload look like).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::evidence::{
    ConditionSummary, ContainerSpecSummary, Evidence, EvidenceData, EvidenceId, RevisionSummary,
};
use crate::incident::Incident;
use crate::resource::ResourceRef;

/// How long before the first failure a rollout still counts as its likely cause.
pub(crate) const ROLLOUT_WINDOW_MINUTES: i64 = 30;
/// A restart older than this is history, not a symptom.
const RECENT_RESTART_MINUTES: i64 = 30;

const WORKLOAD_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];

/// Container waiting reasons that mean the container cannot run.
const BAD_WAITING: &[&str] = &[
    "CrashLoopBackOff",
    "Error",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// One container status.
#[derive(Debug)]
pub(crate) struct ContainerFact<'a> {
    pub id: &'a EvidenceId,
    pub namespace: String,
    pub pod: &'a str,
    pub node: Option<&'a str>,
    pub phase: &'a str,
    pub container: &'a str,
    pub image: &'a str,
    pub ready: bool,
    pub restarts: i32,
    pub state: &'a str,
    pub reason: Option<&'a str>,
    pub message: Option<&'a str>,
    pub exit_code: Option<i32>,
    pub last_reason: Option<&'a str>,
    pub last_exit_code: Option<i32>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub pod_reason: Option<&'a str>,
    pub owner: Option<ResourceRef>,
}

impl ContainerFact<'_> {
    /// The waiting reason, if the container waits.
    pub fn waiting_reason(&self) -> Option<&str> {
        self.state
            .eq_ignore_ascii_case("waiting")
            .then_some(self.reason)
            .flatten()
    }

    /// Whether it is running now.
    pub fn running(&self) -> bool {
        self.state.eq_ignore_ascii_case("running")
    }

    /// Its pod is on a lost node (phase Unknown, NodeLost) and tells nothing about the app.
    pub fn node_lost(&self) -> bool {
        self.phase.eq_ignore_ascii_case("unknown")
            || self.pod_reason.is_some_and(|r| r.contains("NodeLost"))
            || self.reason.is_some_and(|r| r.contains("NodeLost"))
    }

    /// Its pod was evicted by the kubelet.
    pub fn evicted(&self) -> bool {
        self.pod_reason.is_some_and(|r| r.contains("Evicted"))
            || self.reason.is_some_and(|r| r == "Evicted")
    }

    /// Pending (not scheduled or not started).
    pub fn pending(&self) -> bool {
        self.phase.eq_ignore_ascii_case("pending")
    }

    /// Whether this status tells something about the application (not a lost or evicted pod).
    pub fn speaks_for_app(&self) -> bool {
        !self.node_lost() && !self.evicted()
    }

    /// Killed for exceeding its memory limit (now or last time).
    pub fn oom_killed(&self) -> bool {
        self.last_reason == Some("OOMKilled") || self.reason == Some("OOMKilled")
    }

    /// The exit code of the latest termination (current if terminated, else last).
    pub fn exit(&self) -> Option<i32> {
        if self.state.eq_ignore_ascii_case("terminated") {
            self.exit_code.or(self.last_exit_code)
        } else {
            self.last_exit_code
        }
    }

    /// Restarted within the recent past (or restarted with no time to tell).
    pub fn recently_restarted(&self, now: DateTime<Utc>) -> bool {
        self.restarts > 0
            && self
                .last_finished_at
                .is_none_or(|t| now - t <= Duration::minutes(RECENT_RESTART_MINUTES))
    }

    /// Crash looping: back-off, or repeated recent non-zero exits.
    pub fn crash_looping(&self, now: DateTime<Utc>) -> bool {
        self.waiting_reason() == Some("CrashLoopBackOff")
            || (self.state.eq_ignore_ascii_case("terminated") && self.exit_code.unwrap_or(0) != 0)
            || (self.restarts >= 2
                && self.recently_restarted(now)
                && self.last_exit_code.is_some_and(|c| c != 0))
    }

    /// Waiting on an image pull error.
    pub fn pull_failing(&self) -> bool {
        matches!(
            self.waiting_reason(),
            Some("ErrImagePull" | "ImagePullBackOff" | "InvalidImageName")
        )
    }

    /// Waiting because its configuration cannot be assembled.
    pub fn config_error(&self) -> bool {
        matches!(
            self.waiting_reason(),
            Some("CreateContainerConfigError" | "CreateContainerError")
        )
    }

    /// Running but not ready.
    pub fn running_not_ready(&self) -> bool {
        self.running() && !self.ready
    }

    /// Ready, running, and not restarting.
    pub fn healthy(&self, now: DateTime<Utc>) -> bool {
        self.ready && self.running() && !self.recently_restarted(now)
    }

    /// Anything wrong with it.
    pub fn failing(&self, now: DateTime<Utc>) -> bool {
        self.speaks_for_app()
            && (self.waiting_reason().is_some_and(|r| BAD_WAITING.contains(&r))
                || self.crash_looping(now)
                || (self.oom_killed() && self.recently_restarted(now))
                || self.running_not_ready()
                || self.pending())
    }

    /// How long the current instance has run.
    pub fn uptime(&self, now: DateTime<Utc>) -> Option<Duration> {
        if self.running() {
            self.started_at.map(|s| now - s)
        } else {
            None
        }
    }
}

/// One event.
#[derive(Debug)]
pub(crate) struct EventFact<'a> {
    pub id: &'a EvidenceId,
    pub namespace: Option<String>,
    pub event_type: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    pub count: i32,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub observed_at: DateTime<Utc>,
    pub object_kind: &'a str,
    pub object_name: &'a str,
    /// The workload its object belongs to (the pod's owner, or the workload itself).
    pub owner: Option<ResourceRef>,
}

impl EventFact<'_> {
    /// When it began.
    pub fn when(&self) -> DateTime<Utc> {
        self.first_seen.or(self.last_seen).unwrap_or(self.observed_at)
    }

    /// How often it happened (at least once).
    pub fn times(&self) -> i32 {
        self.count.max(1)
    }

    /// About a pod.
    pub fn about_pod(&self) -> bool {
        self.object_kind.eq_ignore_ascii_case("pod")
    }
}

/// A container's log tail.
#[derive(Debug)]
pub(crate) struct LogFact<'a> {
    pub id: &'a EvidenceId,
    pub pod: &'a str,
    pub previous: bool,
    pub lines: &'a [String],
    pub owner: Option<ResourceRef>,
}

/// A workload's rollout history.
#[derive(Debug)]
pub(crate) struct Rollout<'a> {
    pub id: &'a EvidenceId,
    pub workload: ResourceRef,
    /// Newest first.
    pub revisions: Vec<&'a RevisionSummary>,
}

impl<'a> Rollout<'a> {
    /// The newest revision.
    pub fn newest(&self) -> Option<&'a RevisionSummary> {
        self.revisions.first().copied()
    }

    /// The revision before the newest.
    pub fn previous(&self) -> Option<&'a RevisionSummary> {
        self.revisions.get(1).copied()
    }
}

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

/// What a metric measures, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Memory,
    Cpu,
    Throttling,
    ErrorRatio,
    Latency,
    RequestRate,
    Replicas,
    Other,
}

impl MetricKind {
    fn of(name: &str) -> MetricKind {
        let n = name.to_ascii_lowercase();
        let has = |s: &str| n.contains(s);
        if has("throttl") {
            MetricKind::Throttling
        } else if has("replicas") {
            MetricKind::Replicas
        } else if (has("error") || has("5xx")) && !has("duration") {
            MetricKind::ErrorRatio
        } else if has("latency") || has("duration") || has("response_time") {
            MetricKind::Latency
        } else if has("memory") && !has("limit") && !has("request") {
            MetricKind::Memory
        } else if has("cpu") && !has("limit") && !has("quota") && !has("period") {
            MetricKind::Cpu
        } else if has("rps") || (has("request") && !has("limit")) {
            MetricKind::RequestRate
        } else {
            MetricKind::Other
        }
    }
}

/// One metric.
#[derive(Debug)]
pub(crate) struct MetricFact<'a> {
    pub id: &'a EvidenceId,
    pub name: &'a str,
    pub kind: MetricKind,
    pub current: f64,
    pub min: f64,
    pub max: f64,
    pub trend_per_minute: f64,
    pub limit: Option<f64>,
    pub window_seconds: u64,
    /// The pod it is about, when it is about a pod.
    pub pod: Option<String>,
    pub owner: Option<ResourceRef>,
}

impl MetricFact<'_> {
    /// `current / limit`, when both are usable.
    pub fn current_ratio(&self) -> Option<f64> {
        ratio(self.current, self.limit?)
    }

    /// `max / limit`, when both are usable.
    pub fn max_ratio(&self) -> Option<f64> {
        ratio(self.max, self.limit?)
    }

    /// A ratio metric as a fraction (percentages brought down to 0..=1).
    pub fn as_fraction(value: f64) -> f64 {
        if value > 1.0 { value / 100.0 } else { value }
    }

    /// A latency value in milliseconds, from the unit in the name or the magnitude.
    pub fn as_millis(&self, value: f64) -> f64 {
        let n = self.name.to_ascii_lowercase();
        if n.contains("_ms") || n.contains("millis") {
            value
        } else if n.contains("second") || n.ends_with("_s") || value < 30.0 {
            value * 1000.0
        } else {
            value
        }
    }
}

fn ratio(value: f64, limit: f64) -> Option<f64> {
    (limit.is_finite() && value.is_finite() && limit > 0.0).then(|| value / limit)
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
    pub updated: Option<i32>,
    pub conditions: &'a [ConditionSummary],
    pub containers: &'a [ContainerSpecSummary],
}

impl ObjectFact<'_> {
    /// Is it a Deployment, StatefulSet or DaemonSet.
    pub fn is_workload(&self) -> bool {
        WORKLOAD_KINDS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(self.kind))
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

/// Where a container sits relative to the newest rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevisionOf {
    Newest,
    Previous,
    Unknown,
}

/// A newest revision that plausibly caused the failures.
#[derive(Debug)]
pub(crate) struct RolloutTie<'a> {
    pub rollout: &'a Rollout<'a>,
    pub newest: &'a RevisionSummary,
    pub previous: &'a RevisionSummary,
    /// Minutes from the rollout to the first failure, when both are known.
    pub minutes_before_onset: Option<i64>,
    /// Failures are shown to be confined to the newest revision.
    pub only_newest_failing: bool,
    /// The previous revision ran (or runs) fine.
    pub previous_healthy: bool,
}

impl RolloutTie<'_> {
    /// A phrase for summaries: `revision 4 (image x:1.2), rolled out 3m before`.
    pub fn describe(&self) -> String {
        let image = self
            .newest
            .images
            .first()
            .map(|i| format!(" ({})", short_image(i)))
            .unwrap_or_default();
        match self.minutes_before_onset {
            Some(m) => format!(
                "revision {}{image}, rolled out {m}m before the failures",
                self.newest.revision
            ),
            None => format!("revision {}{image}", self.newest.revision),
        }
    }
}

/// The image without its registry path: `checkout:2.3.1`.
pub(crate) fn short_image(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

fn normalize_image(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let image = image.strip_prefix("docker.io/").unwrap_or(image);
    image.strip_prefix("library/").unwrap_or(image)
}

/// Two image references name the same image.
pub(crate) fn same_image(a: &str, b: &str) -> bool {
    normalize_image(a) == normalize_image(b)
}

/// Everything the rules read, digested once per analysis.
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    pub incident: &'a Incident,
    pub evidence: &'a Evidence,
    pub now: DateTime<Utc>,
    pub containers: Vec<ContainerFact<'a>>,
    pub events: Vec<EventFact<'a>>,
    pub logs: Vec<LogFact<'a>>,
    pub rollouts: Vec<Rollout<'a>>,
    pub nodes: Vec<NodeFact<'a>>,
    pub metrics: Vec<MetricFact<'a>>,
    pub dependencies: Vec<DependencyFact<'a>>,
    pub signals: Vec<SignalFact<'a>>,
    pub objects: Vec<ObjectFact<'a>>,
    pub past: Vec<PastFact<'a>>,
    /// Workloads the evidence names.
    pub workloads: Vec<ResourceRef>,
    /// The workload the incident is about, when it is about one.
    pub primary: Option<ResourceRef>,
}

impl<'a> Facts<'a> {
    /// Digests a bundle.
    pub fn gather(incident: &'a Incident, evidence: &'a Evidence) -> Facts<'a> {
        let now = evidence
            .items
            .iter()
            .map(|i| i.observed_at)
            .max()
            .unwrap_or(incident.updated_at);
        let mut facts = Facts {
            incident,
            evidence,
            now,
            containers: Vec::new(),
            events: Vec::new(),
            logs: Vec::new(),
            rollouts: Vec::new(),
            nodes: Vec::new(),
            metrics: Vec::new(),
            dependencies: Vec::new(),
            signals: Vec::new(),
            objects: Vec::new(),
            past: Vec::new(),
            workloads: Vec::new(),
            primary: None,
        };
        facts.collect_workloads();
        let default_ns = incident.resource.namespace().map(str::to_string);
        for item in &evidence.items {
            let ns = item
                .resource
                .namespace()
                .map(str::to_string)
                .or_else(|| default_ns.clone());
            match &item.data {
                EvidenceData::ContainerStatus {
                    pod,
                    node,
                    phase,
                    container,
                    image,
                    ready,
                    restart_count,
                    state,
                    reason,
                    message,
                    exit_code,
                    last_reason,
                    last_exit_code,
                    last_finished_at,
                    started_at,
                    pod_reason,
                } => {
                    let namespace = ns.unwrap_or_default();
                    let owner = match &item.resource {
                        ResourceRef::Workload { .. } => Some(item.resource.clone()),
                        _ => facts.owner_of(&namespace, pod),
                    };
                    facts.containers.push(ContainerFact {
                        id: &item.id,
                        namespace,
                        pod,
                        node: node.as_deref(),
                        phase,
                        container,
                        image,
                        ready: *ready,
                        restarts: *restart_count,
                        state,
                        reason: reason.as_deref(),
                        message: message.as_deref(),
                        exit_code: *exit_code,
                        last_reason: last_reason.as_deref(),
                        last_exit_code: *last_exit_code,
                        last_finished_at: *last_finished_at,
                        started_at: *started_at,
                        pod_reason: pod_reason.as_deref(),
                        owner,
                    });
                }
                EvidenceData::Event {
                    event_type,
                    reason,
                    message,
                    count,
                    first_seen,
                    last_seen,
                    object_kind,
                    object_name,
                } => {
                    let owner = if object_kind.eq_ignore_ascii_case("pod") {
                        ns.as_deref().and_then(|ns| facts.owner_of(ns, object_name))
                    } else if WORKLOAD_KINDS
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(object_kind))
                    {
                        ns.as_deref()
                            .map(|ns| facts.resolve_workload(ns, object_name, Some(object_kind)))
                    } else if object_kind.eq_ignore_ascii_case("replicaset") {
                        ns.as_deref().and_then(|ns| facts.owner_of_replica_set(ns, object_name))
                    } else {
                        None
                    };
                    facts.events.push(EventFact {
                        id: &item.id,
                        namespace: ns,
                        event_type,
                        reason,
                        message,
                        count: *count,
                        first_seen: *first_seen,
                        last_seen: *last_seen,
                        observed_at: item.observed_at,
                        object_kind,
                        object_name,
                        owner,
                    });
                }
                EvidenceData::Logs {
                    pod,
                    previous,
                    lines,
                    ..
                } => {
                    let owner = match &item.resource {
                        ResourceRef::Workload { .. } => Some(item.resource.clone()),
                        _ => ns.as_deref().and_then(|ns| facts.owner_of(ns, pod)),
                    };
                    facts.logs.push(LogFact {
                        id: &item.id,
                        pod,
                        previous: *previous,
                        lines,
                        owner,
                    });
                }
                EvidenceData::RolloutHistory { revisions, .. } => {
                    if let Some(workload) = facts.workload_of_ref(&item.resource) {
                        let mut revisions: Vec<&RevisionSummary> = revisions.iter().collect();
                        revisions.sort_by(|a, b| b.revision.cmp(&a.revision));
                        facts.rollouts.push(Rollout {
                            id: &item.id,
                            workload,
                            revisions,
                        });
                    }
                }
                EvidenceData::NodeCondition {
                    node,
                    conditions,
                    taints,
                    unschedulable,
                    pods,
                    workloads,
                } => facts.nodes.push(NodeFact {
                    id: &item.id,
                    node,
                    conditions,
                    taints,
                    unschedulable: *unschedulable,
                    pods,
                    workloads,
                }),
                EvidenceData::Metric {
                    name,
                    subject,
                    current,
                    min,
                    max,
                    trend_per_minute,
                    limit,
                    window_seconds,
                } => {
                    let pod = match &item.resource {
                        ResourceRef::Pod { name, .. } => Some(name.clone()),
                        _ => None,
                    };
                    let owner = facts.workload_of_ref(&item.resource).or_else(|| {
                        // `namespace/pod[/container]` subjects.
                        let mut parts = subject.split('/');
                        let ns = parts.next()?;
                        let pod = parts.next()?;
                        facts.owner_of(ns, pod)
                    });
                    facts.metrics.push(MetricFact {
                        id: &item.id,
                        name,
                        kind: MetricKind::of(name),
                        current: *current,
                        min: *min,
                        max: *max,
                        trend_per_minute: *trend_per_minute,
                        limit: *limit,
                        window_seconds: *window_seconds,
                        pod,
                        owner,
                    });
                }
                EvidenceData::Dependency {
                    host_port,
                    in_cluster,
                    ready_endpoints,
                    failing_callers,
                    error_lines,
                } => facts.dependencies.push(DependencyFact {
                    id: &item.id,
                    host_port: host_port.to_ascii_lowercase(),
                    in_cluster: in_cluster.as_ref(),
                    ready_endpoints: *ready_endpoints,
                    failing_callers,
                    error_lines: *error_lines,
                }),
                EvidenceData::Signal {
                    name,
                    status,
                    labels,
                    starts_at,
                } => facts.signals.push(SignalFact {
                    id: &item.id,
                    name,
                    firing: !status.eq_ignore_ascii_case("resolved"),
                    labels,
                    starts_at: *starts_at,
                }),
                EvidenceData::Object {
                    kind,
                    replicas,
                    ready,
                    available,
                    updated,
                    conditions,
                    containers,
                    ..
                } => facts.objects.push(ObjectFact {
                    id: &item.id,
                    resource: &item.resource,
                    kind,
                    replicas: *replicas,
                    ready: *ready,
                    available: *available,
                    updated: *updated,
                    conditions,
                    containers,
                }),
                EvidenceData::PastIncident {
                    incident,
                    category,
                    action,
                    outcome,
                    similarity,
                } => facts.past.push(PastFact {
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
                }),
            }
        }
        facts.primary = facts.primary_workload();
        facts
    }

    /// Workloads named anywhere: the incident, objects, histories, dependencies, signals.
    fn collect_workloads(&mut self) {
        let mut found: Vec<ResourceRef> = Vec::new();
        let mut add = |r: ResourceRef| {
            if matches!(r, ResourceRef::Workload { .. }) && !found.contains(&r) {
                found.push(r);
            }
        };
        add(self.incident.resource.clone());
        for item in &self.evidence.items {
            add(item.resource.clone());
            match &item.data {
                EvidenceData::Object { kind, .. }
                    if WORKLOAD_KINDS.iter().any(|k| k.eq_ignore_ascii_case(kind)) =>
                {
                    if let (Some(ns), Some(name)) = (item.resource.namespace(), name_of(&item.resource))
                    {
                        add(ResourceRef::Workload {
                            kind: canonical_kind(kind).to_string(),
                            namespace: ns.to_string(),
                            name: name.to_string(),
                        });
                    }
                }
                EvidenceData::Dependency {
                    in_cluster: Some(r),
                    ..
                } => add(r.clone()),
                EvidenceData::Signal { labels, .. } => {
                    if let Some(ns) = labels.get("namespace") {
                        for (label, kind) in [
                            ("deployment", "Deployment"),
                            ("statefulset", "StatefulSet"),
                            ("daemonset", "DaemonSet"),
                        ] {
                            if let Some(name) = labels.get(label).filter(|n| !n.is_empty()) {
                                add(ResourceRef::Workload {
                                    kind: kind.into(),
                                    namespace: ns.clone(),
                                    name: name.clone(),
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.workloads = found;
    }

    /// The workload a pod belongs to: the known workload whose name prefixes it, else a guess
    /// from the pod name's shape (`name-<hash>-<id>` Deployment, `name-<n>` StatefulSet).
    pub fn owner_of(&self, namespace: &str, pod: &str) -> Option<ResourceRef> {
        let known = self
            .workloads
            .iter()
            .filter_map(|w| match w {
                ResourceRef::Workload {
                    namespace: ns,
                    name,
                    ..
                } if ns == namespace => pod
                    .strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .filter(|rest| pod_suffix_fits(rest))
                    .map(|_| (name.len(), w)),
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, w)| w.clone());
        known.or_else(|| guess_owner(namespace, pod))
    }

    /// The workload a ReplicaSet (`name-<hash>`) belongs to.
    fn owner_of_replica_set(&self, namespace: &str, rs: &str) -> Option<ResourceRef> {
        let (name, _) = rs.rsplit_once('-')?;
        Some(self.resolve_workload(namespace, name, Some("Deployment")))
    }

    /// A known workload with this namespace and name, else one built from the kind given
    /// (a Deployment when unknown).
    pub fn resolve_workload(&self, namespace: &str, name: &str, kind: Option<&str>) -> ResourceRef {
        self.known_workload(namespace, name)
            .cloned()
            .unwrap_or_else(|| ResourceRef::Workload {
                kind: canonical_kind(kind.unwrap_or("Deployment")).to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            })
    }

    /// A known workload with this namespace and name.
    pub fn known_workload(&self, namespace: &str, name: &str) -> Option<&ResourceRef> {
        self.workloads.iter().find(|w| {
            matches!(w, ResourceRef::Workload { namespace: ns, name: n, .. } if ns == namespace && n == name)
        })
    }

    /// The workload a resource reference stands for: itself, a pod's owner, a Service's
    /// same-named workload.
    pub fn workload_of_ref(&self, r: &ResourceRef) -> Option<ResourceRef> {
        match r {
            ResourceRef::Workload { .. } => Some(r.clone()),
            ResourceRef::Pod { namespace, name } => self.owner_of(namespace, name),
            ResourceRef::Service { namespace, name } => {
                self.known_workload(namespace, name).cloned()
            }
            ResourceRef::Node { .. } | ResourceRef::External { .. } => None,
        }
    }

    fn primary_workload(&self) -> Option<ResourceRef> {
        self.workload_of_ref(&self.incident.resource)
    }

    /// The workloads the workload-level rules examine: the incident's, or when it is not
    /// about a workload, every workload with container evidence.
    pub fn subjects(&self) -> Vec<ResourceRef> {
        if let Some(p) = &self.primary {
            return vec![p.clone()];
        }
        let mut out: Vec<ResourceRef> = Vec::new();
        for c in &self.containers {
            if let Some(o) = &c.owner
                && !out.contains(o)
            {
                out.push(o.clone());
            }
        }
        for m in &self.metrics {
            if let Some(o) = &m.owner
                && !out.contains(o)
            {
                out.push(o.clone());
            }
        }
        out
    }

    /// Container statuses of a workload that say something about the app.
    pub fn containers_of(&self, w: &ResourceRef) -> Vec<&ContainerFact<'a>> {
        self.containers
            .iter()
            .filter(|c| c.owner.as_ref() == Some(w) && c.speaks_for_app())
            .collect()
    }

    /// Events about a workload or its pods.
    pub fn events_of(&self, w: &ResourceRef) -> Vec<&EventFact<'a>> {
        self.events
            .iter()
            .filter(|e| e.owner.as_ref() == Some(w))
            .collect()
    }

    /// Events about one pod.
    pub fn events_of_pod(&self, pod: &str) -> impl Iterator<Item = &EventFact<'a>> {
        self.events
            .iter()
            .filter(move |e| e.about_pod() && e.object_name == pod)
    }

    /// Log tails of a workload's containers.
    pub fn logs_of(&self, w: &ResourceRef) -> Vec<&LogFact<'a>> {
        self.logs
            .iter()
            .filter(|l| l.owner.as_ref() == Some(w))
            .collect()
    }

    /// The workload's rollout history.
    pub fn rollout_of(&self, w: &ResourceRef) -> Option<&Rollout<'a>> {
        self.rollouts.iter().find(|r| &r.workload == w)
    }

    /// The workload's object.
    pub fn object_of(&self, w: &ResourceRef) -> Option<&ObjectFact<'a>> {
        let (ns, name) = (w.namespace()?, name_of(w)?);
        self.objects.iter().find(|o| {
            o.is_workload() && o.resource.namespace() == Some(ns) && name_of(o.resource) == Some(name)
        })
    }

    /// The workload's metrics of a kind.
    pub fn metrics_of(&self, w: &ResourceRef, kind: MetricKind) -> Vec<&MetricFact<'a>> {
        self.metrics
            .iter()
            .filter(|m| m.kind == kind && m.owner.as_ref() == Some(w))
            .collect()
    }

    /// Signals (firing or not) that are about a workload.
    pub fn signals_of(&self, w: &ResourceRef) -> Vec<&SignalFact<'a>> {
        let (Some(ns), Some(name)) = (w.namespace(), name_of(w)) else {
            return Vec::new();
        };
        self.signals
            .iter()
            .filter(|s| {
                s.label("namespace").is_none_or(|n| n == ns)
                    && (["deployment", "statefulset", "daemonset", "service", "workload"]
                        .iter()
                        .any(|l| s.label(l) == Some(name))
                        || s.label("pod")
                            .and_then(|p| self.owner_of(ns, p))
                            .is_some_and(|o| &o == w))
            })
            .collect()
    }

    /// Desired replicas: from the object, else the pods seen.
    pub fn replicas_of(&self, w: &ResourceRef) -> Option<i32> {
        if let Some(r) = self.object_of(w).and_then(|o| o.replicas) {
            return Some(r);
        }
        let mut pods: Vec<&str> = self.containers_of(w).iter().map(|c| c.pod).collect();
        pods.sort_unstable();
        pods.dedup();
        (!pods.is_empty()).then_some(pods.len() as i32)
    }

    /// The node fact for a node.
    pub fn node(&self, name: &str) -> Option<&NodeFact<'a>> {
        self.nodes.iter().find(|n| n.node == name)
    }

    /// Whether a pod's node is known to be not ready.
    pub fn on_lost_node(&self, c: &ContainerFact<'_>) -> bool {
        c.node
            .and_then(|n| self.node(n))
            .is_some_and(NodeFact::not_ready)
    }

    /// When the trouble with these pods started: their earliest warning event or last
    /// termination; else the earliest firing signal about the workload.
    pub fn onset(&self, w: &ResourceRef, pods: &[&str]) -> Option<DateTime<Utc>> {
        let from_pods = self
            .events
            .iter()
            .filter(|e| {
                e.event_type.eq_ignore_ascii_case("warning")
                    && e.about_pod()
                    && pods.contains(&e.object_name)
            })
            .map(EventFact::when)
            .chain(
                self.containers
                    .iter()
                    .filter(|c| pods.contains(&c.pod))
                    .filter_map(|c| c.last_finished_at),
            )
            .min();
        from_pods.or_else(|| {
            self.signals_of(w)
                .iter()
                .filter(|s| s.firing)
                .map(|s| s.starts_at)
                .min()
        })
    }

    /// Which revision a container runs, by its image (when the two newest revisions differ
    /// in image).
    pub fn revision_of(&self, rollout: &Rollout<'_>, c: &ContainerFact<'_>) -> RevisionOf {
        let (Some(newest), Some(previous)) = (rollout.newest(), rollout.previous()) else {
            return RevisionOf::Unknown;
        };
        let in_new = newest.images.iter().any(|i| same_image(i, c.image));
        let in_old = previous.images.iter().any(|i| same_image(i, c.image));
        match (in_new, in_old) {
            (true, false) => RevisionOf::Newest,
            (false, true) => RevisionOf::Previous,
            _ => RevisionOf::Unknown,
        }
    }

    /// Whether the newest rollout of `w` plausibly caused the failures of `failing` pods: it
    /// came shortly before they started (within `window`), there is a previous revision to
    /// return to, and no pod of the previous revision fails.
    pub fn rollout_tie(
        &self,
        w: &ResourceRef,
        failing: &[&ContainerFact<'_>],
        window: Duration,
    ) -> Option<RolloutTie<'_>> {
        let rollout = self.rollout_of(w)?;
        let newest = rollout.newest()?;
        let previous = rollout.previous()?;
        let pods: Vec<&str> = failing.iter().map(|c| c.pod).collect();
        let onset = self.onset(w, &pods);
        let mut minutes_before_onset = None;
        if let Some(created) = newest.created_at {
            let onset = onset.unwrap_or(self.now);
            let lead = onset - created;
            if lead < -Duration::minutes(2) || lead > window {
                return None;
            }
            minutes_before_onset = Some(lead.num_minutes().max(0));
        }
        let all = self.containers_of(w);
        let mut on_newest = 0;
        let mut on_previous = 0;
        for c in failing {
            match self.revision_of(rollout, c) {
                RevisionOf::Newest => on_newest += 1,
                RevisionOf::Previous => on_previous += 1,
                RevisionOf::Unknown => {}
            }
        }
        if on_previous > 0 {
            return None;
        }
        let healthy: Vec<&&ContainerFact<'_>> =
            all.iter().filter(|c| c.healthy(self.now)).collect();
        let failing_hashes: Vec<Option<&str>> =
            failing.iter().map(|c| template_hash(w, c.pod)).collect();
        let hashes_disjoint = !healthy.is_empty()
            && !failing.is_empty()
            && failing_hashes.iter().all(Option::is_some)
            && healthy
                .iter()
                .all(|h| !failing_hashes.contains(&template_hash(w, h.pod)));
        let only_newest_failing =
            !failing.is_empty() && (on_newest == failing.len() || hashes_disjoint);
        if newest.created_at.is_none() && !only_newest_failing {
            // Neither timing nor images tie the failures to the rollout.
            return None;
        }
        let healthy_on_previous = healthy
            .iter()
            .any(|h| self.revision_of(rollout, h) == RevisionOf::Previous)
            || (hashes_disjoint && !healthy.is_empty());
        let ran_a_while = match (previous.created_at, newest.created_at) {
            (Some(p), Some(n)) => n - p >= Duration::minutes(10),
            _ => false,
        };
        Some(RolloutTie {
            rollout,
            newest,
            previous,
            minutes_before_onset,
            only_newest_failing,
            previous_healthy: previous.ready > 0 || healthy_on_previous || ran_a_while,
        })
    }

    /// Whether the bundle holds anything beyond the alert itself.
    pub fn has_direct_evidence(&self) -> bool {
        !(self.containers.is_empty()
            && self.events.is_empty()
            && self.logs.is_empty()
            && self.metrics.is_empty()
            && self.nodes.is_empty()
            && self.dependencies.is_empty()
            && self.objects.is_empty())
    }
}

/// The name of a namespaced resource or node.
pub(crate) fn name_of(r: &ResourceRef) -> Option<&str> {
    match r {
        ResourceRef::Workload { name, .. }
        | ResourceRef::Pod { name, .. }
        | ResourceRef::Service { name, .. }
        | ResourceRef::Node { name } => Some(name),
        ResourceRef::External { .. } => None,
    }
}

fn canonical_kind(kind: &str) -> &'static str {
    match kind.to_ascii_lowercase().as_str() {
        "statefulset" => "StatefulSet",
        "daemonset" => "DaemonSet",
        _ => "Deployment",
    }
}

/// The part of a pod name after its workload's name fits a controller's naming.
fn pod_suffix_fits(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('-').collect();
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    match parts.as_slice() {
        [hash, id] => alnum(hash) && alnum(id),
        [one] => alnum(one),
        _ => false,
    }
}

/// The pod-template-hash part of a Deployment pod's name (`checkout-5d8f7c9b6-x2x7q`).
pub(crate) fn template_hash<'p>(w: &ResourceRef, pod: &'p str) -> Option<&'p str> {
    let name = name_of(w)?;
    let rest = pod.strip_prefix(name)?.strip_prefix('-')?;
    let (hash, _) = rest.split_once('-')?;
    Some(hash)
}

/// A pod's workload from the shape of its name alone.
fn guess_owner(namespace: &str, pod: &str) -> Option<ResourceRef> {
    let (head, last) = pod.rsplit_once('-')?;
    if !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()) {
        return Some(ResourceRef::Workload {
            kind: "StatefulSet".into(),
            namespace: namespace.into(),
            name: head.into(),
        });
    }
    let (name, hash) = head.rsplit_once('-')?;
    let plausible_hash = (6..=10).contains(&hash.len())
        && hash.chars().all(|c| c.is_ascii_alphanumeric())
        && last.len() == 5;
    plausible_hash.then(|| ResourceRef::Workload {
        kind: "Deployment".into(),
        namespace: namespace.into(),
        name: name.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_owners_from_names() {
        assert_eq!(
            guess_owner("shop", "checkout-5d8f7c9b6-x2x7q"),
            Some(ResourceRef::deployment("shop", "checkout"))
        );
        assert_eq!(
            guess_owner("shop", "postgres-0"),
            Some(ResourceRef::Workload {
                kind: "StatefulSet".into(),
                namespace: "shop".into(),
                name: "postgres".into()
            })
        );
        assert_eq!(guess_owner("shop", "bare"), None);
        assert_eq!(
            template_hash(
                &ResourceRef::deployment("shop", "checkout"),
                "checkout-5d8f7c9b6-x2x7q"
            ),
            Some("5d8f7c9b6")
        );
    }

    #[test]
    fn metric_kinds_from_names() {
        assert_eq!(
            MetricKind::of("container_memory_working_set_bytes"),
            MetricKind::Memory
        );
        assert_eq!(
            MetricKind::of("container_spec_memory_limit_bytes"),
            MetricKind::Other
        );
        assert_eq!(MetricKind::of("container_cpu_usage_seconds_total"), MetricKind::Cpu);
        assert_eq!(MetricKind::of("cpu_throttling_ratio"), MetricKind::Throttling);
        assert_eq!(MetricKind::of("error_ratio"), MetricKind::ErrorRatio);
        assert_eq!(MetricKind::of("http_request_duration_p99"), MetricKind::Latency);
        assert_eq!(MetricKind::of("http_requests_per_second"), MetricKind::RequestRate);
        assert_eq!(MetricKind::of("kube_deployment_spec_replicas"), MetricKind::Replicas);
    }
}
