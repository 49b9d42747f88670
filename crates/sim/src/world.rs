//! Runtime state of the simulation that is not an API object: what each container is doing,
//! which nodes are alive, which faults hold.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use nightshift_scenario::{Behavior, Dependency, LogTemplate, RolloutEffect, Scenario};

use crate::events::Recorder;
use crate::logs::LogTimeline;

/// How a container image behaves, beyond the workload's steady state.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageProfile {
    /// Behaves as the workload's `behavior` says.
    Healthy,
    /// A bad release.
    Bad {
        /// Its symptom.
        effect: RolloutEffect,
        /// Error ratio for `errors`.
        error_ratio: f64,
    },
    /// Leaks memory at this many bytes per minute.
    Leak(u64),
}

/// What the scenario says about a workload, resolved once.
#[derive(Debug, Clone)]
pub struct WorkloadModel {
    /// Steady behaviour.
    pub behavior: Behavior,
    /// Replicas at time zero (the load is spread over this many at steady state).
    pub base_replicas: u32,
    /// Dependencies.
    pub depends_on: Vec<Dependency>,
    /// Normal log lines.
    pub lines: Arc<Vec<LogTemplate>>,
    /// `host:port` of the dependencies.
    pub deps: Arc<Vec<String>>,
    /// Print interval in ms.
    pub every_ms: i64,
}

/// Why a container is waiting.
#[derive(Debug, Clone, PartialEq)]
pub enum Waiting {
    /// Not started yet.
    Creating,
    /// A ConfigMap/Secret reference is missing.
    ConfigError(String),
    /// Pulling (done at the given time).
    Pulling(i64),
    /// Pull failed; retry at the given time.
    PullBackOff {
        /// First failure shows `ErrImagePull`, later ones `ImagePullBackOff`.
        first: bool,
        /// Retry time.
        retry_ms: i64,
        /// Message.
        message: String,
    },
    /// Crash loop back-off until the given time.
    CrashBackOff(i64),
}

/// One finished container instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    /// Exit code.
    pub exit_code: i32,
    /// `Error`, `OOMKilled`, `Completed`.
    pub reason: String,
    /// Start of the instance.
    pub started_ms: i64,
    /// End of the instance.
    pub finished_ms: i64,
    /// Container ID of the instance.
    pub container_id: String,
}

/// A running container instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Start time.
    pub started_ms: i64,
    /// Container ID.
    pub container_id: String,
    /// Stopped serving (hang fault or dependency-down of this workload).
    pub hung: bool,
    /// Stopped answering as a dependency (process alive).
    pub unresponsive: bool,
    /// Working set now.
    pub memory_bytes: u64,
    /// CPU used now, millicores.
    pub cpu_millis: f64,
    /// Requests per second it serves now.
    pub rps: f64,
    /// Error ratio now.
    pub error_ratio: f64,
    /// Latency now, ms.
    pub latency_ms: f64,
    /// Consecutive failed readiness probes.
    pub readiness_failures: u32,
    /// Consecutive failed liveness probes.
    pub liveness_failures: u32,
    /// Next probe time.
    pub next_probe_ms: i64,
    /// Passed the readiness probe.
    pub ready: bool,
}

/// State of a container.
#[derive(Debug, Clone)]
pub enum CState {
    /// Waiting.
    Waiting(Waiting),
    /// Running.
    Running(Box<Instance>),
    /// Terminated and not going to restart (pod evicted or deleted).
    Terminated(Terminated),
}

/// Runtime of one container.
#[derive(Debug, Clone)]
pub struct ContainerRuntime {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Current state.
    pub state: CState,
    /// Restarts so far.
    pub restart_count: u32,
    /// The previous instance.
    pub last: Option<Terminated>,
    /// Current back-off in ms (0: next restart is immediate).
    pub backoff_ms: i64,
    /// Image pull back-off in ms.
    pub pull_backoff_ms: i64,
    /// Log of the current (or last) instance.
    pub log: Option<LogTimeline>,
    /// Log of the previous instance.
    pub previous_log: Option<LogTimeline>,
    /// Cumulative CPU seconds (cAdvisor counter).
    pub cpu_seconds: f64,
    /// Cumulative requests by status code.
    pub requests: BTreeMap<u16, f64>,
    /// Cumulative latency histogram counts, per bucket of [`LATENCY_BUCKETS`].
    pub latency_buckets: Vec<f64>,
    /// Sum of latencies in seconds.
    pub latency_sum: f64,
    /// Cumulative throttled and total CFS periods.
    pub cfs: (f64, f64),
    /// Next time a config error is retried.
    pub retry_ms: i64,
    /// What the container runs to its end, when its command is one the sim reads (or it
    /// belongs to a Job); `None` for a long-running application.
    pub script: Option<Arc<crate::kubelet::script::Script>>,
}

/// Latency histogram bucket bounds in seconds, as client libraries default to.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl ContainerRuntime {
    /// A container that has not started.
    pub fn new(name: &str, image: &str) -> Self {
        ContainerRuntime {
            name: name.to_string(),
            image: image.to_string(),
            state: CState::Waiting(Waiting::Creating),
            restart_count: 0,
            last: None,
            backoff_ms: 0,
            pull_backoff_ms: 0,
            log: None,
            previous_log: None,
            cpu_seconds: 0.0,
            requests: BTreeMap::new(),
            latency_buckets: vec![0.0; LATENCY_BUCKETS.len()],
            latency_sum: 0.0,
            cfs: (0.0, 0.0),
            retry_ms: 0,
            script: None,
        }
    }

    /// The running instance, if any.
    pub fn running(&self) -> Option<&Instance> {
        match &self.state {
            CState::Running(i) => Some(i),
            _ => None,
        }
    }

    /// Ready: running and passing readiness.
    pub fn ready(&self) -> bool {
        self.running().is_some_and(|i| i.ready)
    }
}

/// Runtime of one pod on its node.
#[derive(Debug, Clone)]
pub struct PodRuntime {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// Node.
    pub node: String,
    /// `namespace/name` of the owning workload, if it is one of the scenario's.
    pub workload: Option<String>,
    /// Pod IP.
    pub ip: String,
    /// Containers.
    pub containers: Vec<ContainerRuntime>,
    /// `spec.restartPolicy`: `Always`, `OnFailure` or `Never`.
    pub restart_policy: String,
    /// When the kubelet started working on it.
    pub started_ms: i64,
    /// Evicted by the kubelet (phase Failed).
    pub evicted: Option<String>,
    /// The kubelet killed the containers for deletion at this time.
    pub stopping_since: Option<i64>,
    /// The status needs writing.
    pub dirty: bool,
    /// Ready condition transition time.
    pub ready_since_ms: i64,
    /// Last written readiness.
    pub last_ready: bool,
    /// When the kubelet last synced the pod.
    pub last_sync_ms: i64,
    /// When it next needs a sync: every second while anything changes, every few seconds in
    /// steady state (counters integrate over the gap).
    pub next_sync_ms: i64,
}

impl World {
    /// Whether a controller named `name` must run given the versions of what it reads: when
    /// they changed, or every `period_ms` regardless (for time-based conditions).
    pub fn must_run(
        &mut self,
        name: &'static str,
        versions: Vec<u64>,
        now: i64,
        period_ms: i64,
    ) -> bool {
        match self.seen_versions.get(name) {
            Some((v, at)) if *v == versions && now - at < period_ms => false,
            _ => {
                self.seen_versions.insert(name, (versions, now));
                true
            }
        }
    }
}

impl PodRuntime {
    /// Every container ended and none will restart: the pod's phase is final.
    pub fn finished(&self) -> bool {
        !self.containers.is_empty()
            && self
                .containers
                .iter()
                .all(|c| matches!(c.state, CState::Terminated(_)))
    }

    /// All containers ready.
    pub fn ready(&self) -> bool {
        self.evicted.is_none()
            && self.stopping_since.is_none()
            && self.containers.iter().all(ContainerRuntime::ready)
    }
}

/// Runtime of a node.
#[derive(Debug, Clone)]
pub struct NodeRuntime {
    /// The kubelet is posting status.
    pub alive: bool,
    /// When the kubelet stopped posting.
    pub dead_since: Option<i64>,
    /// The node controller marked it NotReady (conditions Unknown) at this time.
    pub not_ready_since: Option<i64>,
    /// Disk pressure holds.
    pub disk_pressure: bool,
    /// Last kubelet eviction.
    pub last_eviction_ms: i64,
    /// Images present.
    pub images: HashSet<String>,
    /// Index, for IP ranges.
    pub index: usize,
    /// Next pod IP host part.
    pub next_ip: u32,
}

/// Active faults as state the model reads.
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    /// Workloads whose working set needs this many bytes.
    pub memory_need: HashMap<String, u64>,
    /// Workloads leaking (bytes/minute, since when) regardless of image.
    pub leak: HashMap<String, (u64, i64)>,
    /// Crashing (workload → (image, exit code, after ms, replica count or None for all)).
    pub crash: HashMap<String, (String, i32, i64, Option<u32>)>,
    /// Traffic multiplier and end time.
    pub surge: HashMap<String, (f64, Option<i64>)>,
    /// Error burst: ratio and end.
    pub transient: HashMap<String, (f64, i64)>,
    /// External hosts down, with end time.
    pub external_down: HashMap<String, Option<i64>>,
    /// In-cluster dependency-down end times (workload → end).
    pub dependency_down: HashMap<String, Option<i64>>,
    /// Node failure / disk pressure end times.
    pub node_failure: HashMap<String, Option<i64>>,
    /// Disk pressure end times.
    pub disk_pressure: HashMap<String, Option<i64>>,
    /// Fault log lines overriding the defaults, per (workload, fault type).
    pub logs: HashMap<(String, &'static str), Arc<Vec<LogTemplate>>>,
    /// Faults already injected (index into the scenario's list).
    pub injected: HashSet<usize>,
}

/// Everything the simulation knows besides the stored objects.
pub struct World {
    /// The scenario.
    pub scenario: Scenario,
    /// Images whose behaviour the scenario gives (by a fault), with their profile; every
    /// other image behaves as its workload's `behavior`.
    pub registry: HashMap<String, ImageProfile>,
    /// Images the registry does not have: pulling them fails.
    pub missing_images: HashSet<String>,
    /// Workload models by `namespace/name`.
    pub workloads: HashMap<String, Arc<WorkloadModel>>,
    /// The model of pods that belong to no scenario workload.
    pub default_model: Arc<WorkloadModel>,
    /// Versions of the inputs each controller saw on its last full pass, to skip passes in
    /// which nothing it reads changed.
    pub seen_versions: HashMap<&'static str, (Vec<u64>, i64)>,
    /// Fingerprints of the last Endpoints written, per `namespace/name`.
    pub endpoints_seen: HashMap<String, u64>,
    /// Nodes.
    pub nodes: BTreeMap<String, NodeRuntime>,
    /// Pods by UID.
    pub pods: HashMap<String, PodRuntime>,
    /// Faults.
    pub faults: FaultState,
    /// Event recorder.
    pub recorder: Recorder,
    /// Scheduler: next attempt per pod UID.
    pub schedule_retry: HashMap<String, i64>,
    /// Deployment progress: last time progress was seen, per `namespace/name`, with a
    /// fingerprint of the state then.
    pub progress: HashMap<String, (i64, String)>,
    /// Counter for container IDs.
    pub container_counter: u64,
    /// Client-side request counters: (namespace, service, caller namespace, caller, outcome).
    pub client_requests: BTreeMap<(String, String, String, String, &'static str), f64>,
    /// Workloads that have had all their replicas ready once since the cluster started. Until
    /// then their clients are still being pointed at them and they are offered only the share
    /// of their traffic their ready replicas stand for; from then on the whole of it, so the
    /// load of a replica that drops out falls on the others. Set once, never cleared.
    pub fully_served: HashSet<String>,
}
