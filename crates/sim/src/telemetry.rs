//! What the API server needs from the running simulation beyond stored objects: container logs,
//! resource usage for metrics.k8s.io, and the Prometheus exposition.

/// One log line of a container, with its simulated timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// The line, without a trailing newline.
    pub text: String,
}

/// Why logs cannot be served; mirrors the kubelet's answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogError {
    /// The pod does not exist.
    #[error("pods \"{0}\" not found")]
    PodNotFound(String),
    /// A container name is required for multi-container pods, or the named one does not exist.
    #[error("{0}")]
    BadContainer(String),
    /// The container has not started (waiting), as the kubelet answers.
    #[error("container \"{container}\" in pod \"{pod}\" is waiting to start: {reason}")]
    Waiting {
        /// Container.
        container: String,
        /// Pod.
        pod: String,
        /// Waiting reason (ContainerCreating, ImagePullBackOff, ...).
        reason: String,
    },
    /// `previous=true` but the container never terminated.
    #[error("previous terminated container \"{container}\" in pod \"{pod}\" not found")]
    NoPrevious {
        /// Container.
        container: String,
        /// Pod.
        pod: String,
    },
}

/// Container resource usage, as metrics-server reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerUsage {
    /// Container name.
    pub name: String,
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Working set in bytes.
    pub memory_bytes: u64,
}

/// Read access to the running simulation.
pub trait Telemetry: Send + Sync {
    /// Log lines of a container: the current instance, or with `previous` the one before.
    /// `container` may be omitted for single-container pods.
    fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<Vec<LogLine>, LogError>;

    /// Usage of every running container of a pod; `None` if the pod has no running containers.
    fn pod_usage(&self, namespace: &str, pod: &str) -> Option<Vec<ContainerUsage>>;

    /// Usage of a node (cpu millicores, memory bytes); `None` for unknown or unreachable nodes.
    fn node_usage(&self, node: &str) -> Option<(u64, u64)>;

    /// The Prometheus text exposition of every metric the cluster exports.
    fn prometheus_text(&self) -> String;
}
