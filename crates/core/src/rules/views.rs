//! Typed views of evidence items: one struct per kind, read once from the bundle, with the
//! questions the rules ask of a single item (is this container crash looping, what does this
//! metric measure).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::evidence::{
    ConditionSummary, ContainerSpecSummary, EvidenceData, EvidenceId, EvidenceItem, RevisionSummary,
};
use crate::resource::{ResourceRef, WorkloadKind};

/// How long before the first failure a rollout still counts as its likely cause.
pub(crate) const ROLLOUT_WINDOW_MINUTES: i64 = 30;
/// A restart older than this is history, not a symptom.
const RECENT_RESTART_MINUTES: i64 = 30;

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
    pub last_started_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub pod_reason: Option<&'a str>,
    /// The pod's workload: as the evidence states it, else as `Facts::gather` resolves it.
    pub owner: Option<ResourceRef>,
    /// The pod's template revision (`pod-template-hash`), when the evidence states it.
    pub template: Option<&'a str>,
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
            && (self
                .waiting_reason()
                .is_some_and(|r| BAD_WAITING.contains(&r))
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
        self.first_seen
            .or(self.last_seen)
            .unwrap_or(self.observed_at)
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
///
/// Rules judge releases, not the agent's own remedies. A revision Nightshift made (`made_by`)
/// with the images of the revision before it and nothing changed but resources (its
/// set-resources, its rollout-restart) keeps the release before it in place:
/// [`Rollout::newest`] skips such revisions and names the newest release still in place, so a
/// bad release followed by the agent's remedy is still judged, and its rollback target,
/// [`Rollout::previous`], predates the release. A revision Nightshift made that does not keep
/// the release in place (a rollback) ends the search: what came before it no longer runs, and
/// the agent's own revision is never a suspect.
#[derive(Debug)]
pub(crate) struct Rollout<'a> {
    pub id: &'a EvidenceId,
    pub workload: ResourceRef,
    /// Newest first, the agent's remedies included.
    pub revisions: Vec<&'a RevisionSummary>,
}

impl<'a> Rollout<'a> {
    /// Where the newest release still in place sits in `revisions`, after the agent's remedies
    /// made since; `None` when the agent's own change (a rollback) replaced what ran before.
    fn release_index(&self) -> Option<usize> {
        let mut i = 0;
        while let Some(r) = self.revisions.get(i) {
            if r.made_by.is_none() {
                return Some(i);
            }
            if !keeps_the_release(r, self.revisions.get(i + 1).copied()) {
                return None;
            }
            i += 1;
        }
        None
    }

    /// The newest release still in place: the newest revision that is not the agent's own
    /// remedy (see the type's documentation). The one to judge as a suspect.
    pub fn newest(&self) -> Option<&'a RevisionSummary> {
        self.revisions.get(self.release_index()?).copied()
    }

    /// The revision before [`Rollout::newest`]: the rollback target, older than the release.
    pub fn previous(&self) -> Option<&'a RevisionSummary> {
        self.revisions.get(self.release_index()? + 1).copied()
    }

    /// Whether the newest release is itself a remedy on the record, made by a person: the
    /// same images with nothing changed but the template's metadata (a `rollout restart`), or
    /// with nothing changed but limits raised (more room, as a raised memory limit gives).
    /// Neither can bring a failure, so neither is a suspect to roll back. The collector's
    /// change list names container and pod-level changes (node selector, tolerations,
    /// volumes...), so an empty list means the template's spec did not change at all.
    pub fn newest_is_remedy(&self) -> bool {
        let (Some(newest), Some(previous)) = (self.newest(), self.previous()) else {
            return false;
        };
        newest.images == previous.images && newest.change.iter().all(|c| raises_a_limit(c))
    }
}

/// Whether the agent's revision `r` keeps `before` in place: the same images, nothing changed
/// but requests and limits (its set-resources may lower one; its restart changes nothing).
fn keeps_the_release(r: &RevisionSummary, before: Option<&RevisionSummary>) -> bool {
    before.is_some_and(|before| {
        r.images == before.images && r.change.iter().all(|c| changes_a_resource(c))
    })
}

/// `memory request 256Mi -> 512Mi`, `cpu limit none -> 1`: a resource of a container changed,
/// as the collector words it.
fn changes_a_resource(change: &str) -> bool {
    let words: Vec<&str> = change.split_whitespace().collect();
    matches!(words.as_slice(), [_, "request" | "limit", _, "->", _])
}

/// `memory limit 512Mi -> 1Gi` or `cpu limit 500m -> 1`, as the collector words a template
/// change: a limit raised. A limit set where there was none is not: it can be too low.
fn raises_a_limit(change: &str) -> bool {
    let mut words = change.split_whitespace();
    let (Some(resource), Some("limit"), Some(from), Some("->"), Some(to), None) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return false;
    };
    let parse = |q: &str| match resource {
        "memory" => crate::units::parse_memory(q).ok(),
        "cpu" => crate::units::parse_cpu(q).ok(),
        _ => None,
    };
    match (from, parse(to)) {
        ("none", _) => false,
        (_, None) => false,
        (from, Some(to)) => parse(from).is_some_and(|from| to >= from),
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
        let v = if value > 1.0 { value / 100.0 } else { value };
        if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            0.0
        }
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

// Reading views from items. Each returns `None` for an item of another kind; owners the
// evidence does not state are filled in by `Facts::gather`, which knows the workloads.
impl<'a> ContainerFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem, namespace: String) -> Option<Self> {
        let EvidenceData::ContainerStatus {
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
            last_started_at,
            started_at,
            pod_reason,
            owner,
            template,
        } = &item.data
        else {
            return None;
        };
        Some(ContainerFact {
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
            last_started_at: *last_started_at,
            started_at: *started_at,
            pod_reason: pod_reason.as_deref(),
            owner: owner.clone(),
            template: template.as_deref(),
        })
    }
}

impl<'a> EventFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem, namespace: Option<String>) -> Option<Self> {
        let EvidenceData::Event {
            event_type,
            reason,
            message,
            count,
            first_seen,
            last_seen,
            object_kind,
            object_name,
        } = &item.data
        else {
            return None;
        };
        Some(EventFact {
            id: &item.id,
            namespace,
            event_type,
            reason,
            message,
            count: *count,
            first_seen: *first_seen,
            last_seen: *last_seen,
            observed_at: item.observed_at,
            object_kind,
            object_name,
            owner: None,
        })
    }
}

impl<'a> LogFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem) -> Option<Self> {
        let EvidenceData::Logs {
            pod,
            previous,
            lines,
            owner,
            ..
        } = &item.data
        else {
            return None;
        };
        Some(LogFact {
            id: &item.id,
            pod,
            previous: *previous,
            lines,
            owner: owner.clone(),
        })
    }
}

impl<'a> Rollout<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem, workload: ResourceRef) -> Option<Self> {
        let EvidenceData::RolloutHistory { revisions, .. } = &item.data else {
            return None;
        };
        let mut revisions: Vec<&RevisionSummary> = revisions.iter().collect();
        revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
        Some(Rollout {
            id: &item.id,
            workload,
            revisions,
        })
    }
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

impl<'a> MetricFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem) -> Option<Self> {
        let EvidenceData::Metric {
            name,
            current,
            min,
            max,
            trend_per_minute,
            limit,
            window_seconds,
            ..
        } = &item.data
        else {
            return None;
        };
        let pod = match &item.resource {
            ResourceRef::Pod { name, .. } => Some(name.clone()),
            _ => None,
        };
        Some(MetricFact {
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
            owner: None,
        })
    }

    /// The metric's `subject` (`namespace/pod[/container]` by convention).
    pub fn subject(item: &EvidenceItem) -> Option<&str> {
        match &item.data {
            EvidenceData::Metric { subject, .. } => Some(subject),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            MetricKind::of("container_cpu_usage_seconds_total"),
            MetricKind::Cpu
        );
        assert_eq!(
            MetricKind::of("cpu_throttling_ratio"),
            MetricKind::Throttling
        );
        assert_eq!(MetricKind::of("error_ratio"), MetricKind::ErrorRatio);
        assert_eq!(
            MetricKind::of("http_request_duration_p99"),
            MetricKind::Latency
        );
        assert_eq!(
            MetricKind::of("http_requests_per_second"),
            MetricKind::RequestRate
        );
        assert_eq!(
            MetricKind::of("kube_deployment_spec_replicas"),
            MetricKind::Replicas
        );
    }
}
