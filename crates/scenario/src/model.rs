//! The validated, typed form of a scenario file. Everything here has its defaults applied;
//! the raw YAML shape lives in the loader.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::catalogue::{ActionMatcher, Category};
use crate::template::LogTemplate;

/// One scenario: a small cluster, the faults injected into it and what a good engineer concludes.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Unique kebab-case name.
    pub name: String,
    /// One-line description.
    pub summary: String,
    /// Seed of every pseudo-random choice; same seed, same run.
    pub seed: u64,
    /// Simulated time the scenario runs.
    pub horizon: Duration,
    /// The cluster at time zero.
    pub cluster: Cluster,
    /// Faults in the order they were written (not necessarily sorted by time).
    pub faults: Vec<Fault>,
    /// Changes people make on the cluster during the run (`humans:`), through its API like
    /// any client, attributed to their field manager: what lets the evaluation see whether
    /// the agent notices a person doing what it proposed.
    pub humans: Vec<Human>,
    /// What a careful engineer would conclude and do.
    pub expect: Expect,
}

/// Nodes, configuration objects and workloads that exist at time zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Nodes; never empty (the default is one node `node-1`, 8 cpu, 32Gi).
    pub nodes: Vec<NodeSpec>,
    /// ConfigMaps and Secrets that exist.
    pub configs: Vec<ConfigRef>,
    /// Workloads.
    pub workloads: Vec<Workload>,
}

/// A node and its allocatable capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Allocatable CPU in millicores.
    pub cpu_millis: u64,
    /// Allocatable memory in bytes.
    pub memory_bytes: u64,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
}

/// ConfigMap or Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigKind {
    /// `configmap/...`
    ConfigMap,
    /// `secret/...`
    Secret,
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigKind::ConfigMap => "configmap",
            ConfigKind::Secret => "secret",
        })
    }
}

/// A ConfigMap or Secret that exists: `kind/namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigRef {
    /// ConfigMap or Secret.
    pub kind: ConfigKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// A same-namespace reference from a workload: `kind/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalConfigRef {
    /// ConfigMap or Secret.
    pub kind: ConfigKind,
    /// Name in the workload's namespace.
    pub name: String,
}

/// Kind of workload controller: the domain's own.
pub use nightshift_core::WorkloadKind;

/// Requests or limits of a container. `None` means not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceList {
    /// CPU in millicores.
    pub cpu_millis: Option<u64>,
    /// Memory in bytes.
    pub memory_bytes: Option<u64>,
}

/// Container resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// Requests (scheduling).
    pub requests: ResourceList,
    /// Limits (OOM kill and CPU throttling).
    pub limits: ResourceList,
}

/// Which probes the container has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probes {
    /// Readiness probe configured (default true).
    pub readiness: bool,
    /// Liveness probe configured (default false).
    pub liveness: bool,
}

/// Something a workload calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    /// Another workload in the cluster, reached through its Service.
    InCluster {
        /// Namespace.
        namespace: String,
        /// Workload (and Service) name.
        name: String,
    },
    /// A host outside the cluster.
    External {
        /// Host name.
        host: String,
        /// Port.
        port: u16,
    },
}

impl Dependency {
    /// The `host:port` a caller dials, as it appears in `{dep}` and connection errors.
    pub fn host_port(&self) -> String {
        match self {
            Dependency::InCluster { namespace, name } => {
                format!("{name}.{namespace}.svc.cluster.local:80")
            }
            Dependency::External { host, port } => format!("{host}:{port}"),
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dependency::InCluster { namespace, name } => write!(f, "{namespace}/{name}"),
            Dependency::External { host, port } => write!(f, "external/{host}:{port}"),
        }
    }
}

/// Steady-state behaviour of each replica.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    /// Working set in bytes (default 64Mi).
    pub memory_bytes: u64,
    /// CPU in millicores at the `rps` below (default 50m); grows linearly with rps.
    pub cpu_millis: u64,
    /// Requests per second over the whole workload (default 10).
    pub rps: f64,
    /// Share of requests that fail (default 0.001).
    pub error_ratio: f64,
    /// Mean latency in milliseconds (default 20).
    pub latency_ms: f64,
    /// Time from container start to Ready (default 3s).
    pub startup: Duration,
}

/// Log output of each replica.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSpec {
    /// One line per replica per tick of this length (default 5s).
    pub every: Duration,
    /// Lines to pick from; empty means a generic access log line.
    pub lines: Vec<LogTemplate>,
}

/// A Deployment, StatefulSet or DaemonSet.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Controller kind.
    pub kind: WorkloadKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Desired replicas (default 1; ignored for DaemonSet).
    pub replicas: u32,
    /// Container image.
    pub image: String,
    /// Pod labels (default `{app: <name>}`).
    pub labels: BTreeMap<String, String>,
    /// Whether a Service `<name>.<namespace>.svc` port 80 exists (default true).
    pub service: bool,
    /// Container resources.
    pub resources: Resources,
    /// Probes.
    pub probes: Probes,
    /// ConfigMaps and Secrets the container takes its environment from.
    pub env_from: Vec<LocalConfigRef>,
    /// What it calls.
    pub depends_on: Vec<Dependency>,
    /// Steady-state behaviour.
    pub behavior: Behavior,
    /// Log output.
    pub logs: LogSpec,
}

impl Workload {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Where a fault strikes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// `namespace/workload`.
    Workload {
        /// Namespace.
        namespace: String,
        /// Workload name.
        name: String,
    },
    /// `node/<name>`.
    Node(String),
    /// `external/<host:port>`.
    External {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Workload { namespace, name } => write!(f, "{namespace}/{name}"),
            Target::Node(name) => write!(f, "node/{name}"),
            Target::External { host, port } => write!(f, "external/{host}:{port}"),
        }
    }
}

/// How a bad rollout shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutEffect {
    /// New pods crash.
    Crash,
    /// New pods serve errors at `error_ratio`.
    Errors,
    /// New pods are OOMKilled.
    Oom,
    /// New pods hang (stop serving, do not exit).
    Hang,
}

/// How a missing-config fault arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingVia {
    /// A rollout adds a reference to an object that does not exist.
    Rollout,
    /// The object is deleted and every pod restarts.
    Restart,
}

/// What gets pinned in an `unschedulable` rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnschedulableParams {
    /// CPU request in millicores, if set.
    pub cpu_millis: Option<u64>,
    /// Memory request in bytes, if set.
    pub memory_bytes: Option<u64>,
    /// Node selector, if set.
    pub node_selector: BTreeMap<String, String>,
}

/// Which replicas a fault affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaCount {
    /// Every replica.
    All,
    /// The first N replicas (by ordinal of creation).
    Count(u32),
}

/// A fault type with its parameters, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Containers exit soon after start.
    Crash {
        /// Exit code (default 1).
        exit_code: i32,
        /// Time after start (default 2s).
        after: Duration,
        /// Replicas affected (default all).
        replicas: ReplicaCount,
    },
    /// A new, bad revision is rolled out.
    BadRollout {
        /// New image.
        image: String,
        /// Its symptom (default crash).
        effect: RolloutEffect,
        /// Error ratio for `effect: errors` (default 0.5).
        error_ratio: f64,
    },
    /// A rollout to an image the registry does not have.
    ImagePull {
        /// The missing image.
        image: String,
    },
    /// A reference to a ConfigMap/Secret that does not exist.
    MissingConfig {
        /// The missing object (same namespace as the target).
        reference: LocalConfigRef,
        /// How it arrives (default rollout).
        via: MissingVia,
    },
    /// The working set needs more than the limit.
    MemoryLimit {
        /// Working set needed, in bytes.
        memory_bytes: u64,
    },
    /// The working set grows from each start.
    MemoryLeak {
        /// Growth in bytes per minute (default 20Mi/min).
        bytes_per_minute: u64,
        /// The image whose rollout brings the leak, if any.
        since_rollout: Option<String>,
    },
    /// The process stops serving but does not exit.
    Hang {
        /// Replicas affected (default 1).
        replicas: ReplicaCount,
    },
    /// Request rate multiplied.
    TrafficSurge {
        /// Multiplier.
        factor: f64,
        /// How long (default until the horizon).
        duration: Option<Duration>,
    },
    /// The target dependency stops answering.
    DependencyDown {
        /// How long (default until the horizon).
        duration: Option<Duration>,
    },
    /// The node's kubelet stops reporting.
    NodeFailure {
        /// How long (default until the horizon).
        duration: Option<Duration>,
    },
    /// Node condition DiskPressure.
    DiskPressure {
        /// How long (default until the horizon).
        duration: Option<Duration>,
    },
    /// A rollout whose pods fit on no node.
    Unschedulable(UnschedulableParams),
    /// Liveness timeout below the latency under load.
    ProbeMisconfig {
        /// Liveness timeout (default 1s).
        timeout: Duration,
    },
    /// Someone scales the workload to zero.
    ScaleToZero,
    /// An error burst that ends by itself.
    Transient {
        /// How long (default 45s).
        duration: Duration,
        /// Error ratio during the burst (default 0.3).
        error_ratio: f64,
    },
    /// Nothing happens.
    Noop,
}

impl FaultKind {
    /// Every fault type's name as written in scenario files, in the order of the contract.
    pub const TYPE_NAMES: &'static [&'static str] = &[
        "crash",
        "bad-rollout",
        "image-pull",
        "missing-config",
        "memory-limit",
        "memory-leak",
        "hang",
        "traffic-surge",
        "dependency-down",
        "node-failure",
        "disk-pressure",
        "unschedulable",
        "probe-misconfig",
        "scale-to-zero",
        "transient",
        "noop",
    ];

    /// The fault type's name as written in scenario files.
    pub fn type_name(&self) -> &'static str {
        match self {
            FaultKind::Crash { .. } => "crash",
            FaultKind::BadRollout { .. } => "bad-rollout",
            FaultKind::ImagePull { .. } => "image-pull",
            FaultKind::MissingConfig { .. } => "missing-config",
            FaultKind::MemoryLimit { .. } => "memory-limit",
            FaultKind::MemoryLeak { .. } => "memory-leak",
            FaultKind::Hang { .. } => "hang",
            FaultKind::TrafficSurge { .. } => "traffic-surge",
            FaultKind::DependencyDown { .. } => "dependency-down",
            FaultKind::NodeFailure { .. } => "node-failure",
            FaultKind::DiskPressure { .. } => "disk-pressure",
            FaultKind::Unschedulable(_) => "unschedulable",
            FaultKind::ProbeMisconfig { .. } => "probe-misconfig",
            FaultKind::ScaleToZero => "scale-to-zero",
            FaultKind::Transient { .. } => "transient",
            FaultKind::Noop => "noop",
        }
    }
}

/// A fault injected at a point in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Simulated time after start.
    pub at: Duration,
    /// Type and parameters.
    pub kind: FaultKind,
    /// Where it strikes.
    pub target: Target,
    /// Lines the affected containers print while the fault holds, replacing the type's defaults.
    pub logs: Option<Vec<LogTemplate>>,
}

/// A change a person makes at a given time (`humans[i]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Human {
    /// Simulated time after start.
    pub at: Duration,
    /// Who, for reports (`alice`).
    pub who: String,
    /// What they do.
    pub action: HumanAction,
    /// A workload `<namespace>/<name>`, or `node/<name>` for cordoning.
    pub target: Target,
    /// The field manager the change is recorded under (kubectl's for the command by default:
    /// `kubectl-rollout`, `kubectl-scale`, `kubectl-cordon`).
    pub field_manager: String,
}

/// What a scripted person does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HumanAction {
    /// `kubectl rollout restart`.
    RolloutRestart,
    /// `kubectl rollout undo` (to the previous revision).
    Rollback,
    /// `kubectl scale --replicas N`.
    Scale {
        /// The new count.
        replicas: i32,
    },
    /// `kubectl cordon`.
    CordonNode,
    /// `kubectl uncordon`.
    UncordonNode,
}

impl HumanAction {
    /// The names `humans[i].action` takes: the catalogue's for the same change.
    pub const NAMES: &'static [&'static str] = &[
        "rollout-restart",
        "rollback",
        "scale",
        "cordon-node",
        "uncordon-node",
    ];

    /// The catalogue name.
    pub fn name(&self) -> &'static str {
        match self {
            HumanAction::RolloutRestart => "rollout-restart",
            HumanAction::Rollback => "rollback",
            HumanAction::Scale { .. } => "scale",
            HumanAction::CordonNode => "cordon-node",
            HumanAction::UncordonNode => "uncordon-node",
        }
    }

    /// kubectl's field manager for the command.
    pub fn kubectl_manager(&self) -> &'static str {
        match self {
            HumanAction::RolloutRestart | HumanAction::Rollback => "kubectl-rollout",
            HumanAction::Scale { .. } => "kubectl-scale",
            HumanAction::CordonNode | HumanAction::UncordonNode => "kubectl-cordon",
        }
    }
}

/// Where the root cause lives: `namespace/name`, `node/<name>` or `external/<host:port>`.
pub type Locate = Target;

/// The `expect.actions` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExpectedActions {
    /// The first infra-changing action must be one of these.
    pub acceptable: Vec<ActionMatcher>,
    /// Executing any of these is a harmful action.
    pub harmful: Vec<ActionMatcher>,
}

/// What a good on-call engineer would conclude and do.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// Whether an incident should be opened at all.
    pub detect: bool,
    /// Any of these categories counts as correct.
    pub diagnosis: Vec<Category>,
    /// Where the root cause lives, if anywhere.
    pub locate: Option<Locate>,
    /// Acceptable and harmful actions.
    pub actions: ExpectedActions,
    /// Whether the target should end healthy.
    pub resolved: bool,
    /// The fault comes back after each remedy (`expect.recurrence`): every incident after the
    /// first on `locate` must cite an earlier one, none may take longer to mitigate than the
    /// first, and the agent must escalate naming the recurrence once its policy's limit is
    /// reached.
    pub recurrence: bool,
}
