//! Views of pods: container states, events, log tails.

use chrono::{DateTime, Duration, Utc};

use crate::evidence::{EvidenceData, EvidenceId, EvidenceItem};
use crate::resource::ResourceRef;

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
