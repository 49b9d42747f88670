//! What can go wrong while carrying out an action. Variants are named after what failed and
//! keep their source; messages read like a log line.

use nightshift_core::ActionName;

/// Why an action could not be dry-run, executed or checked for a previous application.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// The server-side dry run inside `execute` failed, so nothing was changed.
    #[error("the dry run of {action} failed; nothing was changed")]
    DryRun {
        /// The action.
        action: ActionName,
        /// What failed in the dry run.
        #[source]
        source: Box<ActError>,
    },
    /// The action names a target of the wrong sort.
    #[error("{action} needs {expected} as its target, not {target}")]
    WrongTarget {
        /// The action.
        action: ActionName,
        /// What it needs, e.g. "a workload".
        expected: &'static str,
        /// What it got.
        target: String,
    },
    /// A workload kind the actuator does not handle.
    #[error("unsupported workload kind {kind:?}: expected Deployment, StatefulSet or DaemonSet")]
    UnsupportedKind {
        /// The kind given.
        kind: String,
    },
    /// The workload does not exist.
    #[error("{workload} not found")]
    WorkloadNotFound {
        /// e.g. "deployment shop/checkout".
        workload: String,
    },
    /// Reading a workload failed.
    #[error("unable to get {workload}")]
    GetWorkload {
        /// e.g. "deployment shop/checkout".
        workload: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Patching a workload failed.
    #[error("unable to patch {workload}")]
    PatchWorkload {
        /// e.g. "deployment shop/checkout".
        workload: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Patching a workload's `/scale` subresource failed.
    #[error("unable to scale {workload}")]
    ScaleWorkload {
        /// e.g. "deployment shop/checkout".
        workload: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Listing objects failed.
    #[error("unable to list {what}")]
    List {
        /// e.g. "replica sets of deployment shop/checkout".
        what: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// An object the server returned could not be read as the expected type.
    #[error("unable to read {what} as returned by the API server")]
    Decode {
        /// What was being read.
        what: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A paused Deployment cannot be restarted or rolled back (kubectl refuses too).
    #[error("{workload} is paused; resume it (kubectl rollout resume) before a {action}")]
    Paused {
        /// e.g. "deployment shop/checkout".
        workload: String,
        /// The action refused.
        action: ActionName,
    },
    /// There is no revision other than the current one.
    #[error("no previous revision of {workload} to roll back to")]
    NoPreviousRevision {
        /// e.g. "deployment shop/checkout".
        workload: String,
    },
    /// The requested revision is not in the history.
    #[error("revision {revision} of {workload} not found; revisions in its history: {available}")]
    RevisionNotFound {
        /// e.g. "deployment shop/checkout".
        workload: String,
        /// The revision asked for.
        revision: i64,
        /// The revisions there are, comma separated.
        available: String,
    },
    /// Scaling needs a replica count, which DaemonSets do not have.
    #[error("{workload} has no replica count to scale")]
    NotScalable {
        /// e.g. "daemonset kube-system/log-agent".
        workload: String,
    },
    /// A negative replica count.
    #[error("cannot scale {workload} to {replicas} replicas: the count must be zero or more")]
    InvalidReplicas {
        /// e.g. "deployment shop/checkout".
        workload: String,
        /// The count given.
        replicas: i32,
    },
    /// The named container is not in the workload's pod template.
    #[error("container {container:?} not found in {workload}; its containers are: {available}")]
    ContainerNotFound {
        /// e.g. "deployment shop/checkout".
        workload: String,
        /// The container asked for.
        container: String,
        /// The containers there are, comma separated.
        available: String,
    },
    /// A set-resources change that sets nothing.
    #[error("set-resources for {workload} names no request or limit to set")]
    EmptyResourceChange {
        /// e.g. "deployment shop/checkout".
        workload: String,
    },
    /// A quantity not in Kubernetes notation.
    #[error(
        "invalid quantity {value:?} for {field}: expected Kubernetes notation such as 500m, 1.5, 256Mi or 1Gi"
    )]
    InvalidQuantity {
        /// e.g. "limits.memory".
        field: String,
        /// The value given.
        value: String,
    },
    /// The pod does not exist.
    #[error("pod {namespace}/{pod} not found")]
    PodNotFound {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// Reading a pod failed.
    #[error("unable to get pod {namespace}/{pod}")]
    GetPod {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// restart-pod on a pod that no controller would replace.
    #[error("pod {namespace}/{pod} has no controller; refusing to delete a bare pod")]
    BarePod {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// The eviction request failed.
    #[error("unable to evict pod {namespace}/{pod}")]
    EvictPod {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// A PodDisruptionBudget refuses the eviction now (HTTP 429); it may be allowed later.
    #[error("eviction of pod {namespace}/{pod} refused by its disruption budget: {message}")]
    EvictionRefused {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The server's explanation.
        message: String,
    },
    /// The node does not exist.
    #[error("node {node} not found")]
    NodeNotFound {
        /// Node name.
        node: String,
    },
    /// Reading a node failed.
    #[error("unable to get node {node}")]
    GetNode {
        /// Node name.
        node: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Patching a node failed.
    #[error("unable to patch node {node}")]
    PatchNode {
        /// Node name.
        node: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// run-runbook names a runbook nobody registered.
    #[error("no runbook registered named {name:?}")]
    NoRunbook {
        /// The runbook asked for.
        name: String,
    },
    /// A registered runbook failed (with the failed Job's status and log, for a Job).
    #[error("runbook {name:?} failed: {source}")]
    Runbook {
        /// The runbook.
        name: String,
        /// Cause.
        #[source]
        source: super::runbook::RunbookError,
    },
}

/// The HTTP status of an API error, if the server answered with one.
pub(crate) fn api_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The server's message of an API error, or the error itself.
pub(crate) fn api_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(s) => {
            let causes: Vec<String> = s
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .filter(|c| !c.message.is_empty())
                .map(|c| c.message.clone())
                .collect();
            if causes.is_empty() {
                s.message.clone()
            } else {
                format!("{} ({})", s.message, causes.join("; "))
            }
        }
        other => other.to_string(),
    }
}
