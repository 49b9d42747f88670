//! The typed action catalogue. The only things the agent can do to a cluster; a model's text
//! never becomes one of these except by being parsed into a variant and passing the policy.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ActionName;
use crate::resource::ResourceRef;

/// Container resources to set: quantities in Kubernetes notation per resource name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResourceChange {
    /// Requests (`cpu`, `memory`) to set; absent keys stay as they are.
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    /// Limits to set; absent keys stay as they are.
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
}

/// One action with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Delete one controller-owned pod so its controller replaces it. Never a bare pod.
    RestartPod {
        /// The pod.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// Restart every pod of a workload (template annotation, as `kubectl rollout restart`).
    RolloutRestart {
        /// The workload.
        target: ResourceRef,
    },
    /// Set the replica count.
    Scale {
        /// The workload.
        target: ResourceRef,
        /// Desired replicas.
        replicas: i32,
    },
    /// Roll back to a revision (the previous one when `None`), as `kubectl rollout undo`.
    Rollback {
        /// The workload.
        target: ResourceRef,
        /// Revision to return to.
        revision: Option<i64>,
    },
    /// Set requests/limits of one container.
    SetResources {
        /// The workload.
        target: ResourceRef,
        /// Container name.
        container: String,
        /// What to set.
        change: ResourceChange,
    },
    /// Mark a node unschedulable.
    CordonNode {
        /// Node name.
        node: String,
    },
    /// Mark a node schedulable again.
    UncordonNode {
        /// Node name.
        node: String,
    },
    /// Cordon and evict every evictable pod, respecting PodDisruptionBudgets.
    DrainNode {
        /// Node name.
        node: String,
    },
    /// Run a named, pre-registered runbook.
    RunRunbook {
        /// Runbook name.
        name: String,
        /// What it is run against.
        target: ResourceRef,
    },
    /// Hand the incident to humans; no change to the cluster.
    Escalate {
        /// Why.
        reason: String,
    },
    /// Deliberately do nothing.
    None {
        /// Why.
        reason: String,
    },
}

impl Action {
    /// Its catalogue name.
    pub fn name(&self) -> ActionName {
        match self {
            Action::RestartPod { .. } => ActionName::RestartPod,
            Action::RolloutRestart { .. } => ActionName::RolloutRestart,
            Action::Scale { .. } => ActionName::Scale,
            Action::Rollback { .. } => ActionName::Rollback,
            Action::SetResources { .. } => ActionName::SetResources,
            Action::CordonNode { .. } => ActionName::CordonNode,
            Action::UncordonNode { .. } => ActionName::UncordonNode,
            Action::DrainNode { .. } => ActionName::DrainNode,
            Action::RunRunbook { .. } => ActionName::RunRunbook,
            Action::Escalate { .. } => ActionName::Escalate,
            Action::None { .. } => ActionName::None,
        }
    }

    /// What the action changes, as the scenario contract writes targets: `namespace/name` or
    /// `node/<name>`. `None` for escalate and none.
    pub fn target(&self) -> Option<ResourceRef> {
        match self {
            Action::RestartPod { namespace, pod } => Some(ResourceRef::Pod {
                namespace: namespace.clone(),
                name: pod.clone(),
            }),
            Action::RolloutRestart { target }
            | Action::Scale { target, .. }
            | Action::Rollback { target, .. }
            | Action::SetResources { target, .. }
            | Action::RunRunbook { target, .. } => Some(target.clone()),
            Action::CordonNode { node }
            | Action::UncordonNode { node }
            | Action::DrainNode { node } => Some(ResourceRef::node(node)),
            Action::Escalate { .. } | Action::None { .. } => None,
        }
    }

    /// Whether it changes the cluster.
    pub fn changes_infra(&self) -> bool {
        self.name().changes_infra()
    }
}

/// One line for an action and its parameters, as the timeline and notifications print it:
/// `scale deployment/shop/web to 3`, `restart-pod shop/web-1`, `drain-node node/n1`.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Scale { target, replicas } => write!(f, "scale {target} to {replicas}"),
            Action::Rollback { target, revision } => {
                write!(f, "rollback {target}")?;
                if let Some(r) = revision {
                    write!(f, " to revision {r}")?;
                }
                Ok(())
            }
            Action::SetResources {
                target,
                container,
                change,
            } => write!(
                f,
                "set-resources {target} container {container} requests {:?} limits {:?}",
                change.requests, change.limits
            ),
            Action::RestartPod { namespace, pod } => write!(f, "restart-pod {namespace}/{pod}"),
            Action::RunRunbook { name, target } => write!(f, "run-runbook {name} on {target}"),
            Action::Escalate { reason } => write!(f, "escalate: {reason}"),
            Action::None { reason } => write!(f, "none: {reason}"),
            other => match other.target() {
                Some(t) => write!(f, "{} {t}", other.name()),
                None => write!(f, "{}", other.name()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_displays_as_one_line_with_its_parameters() {
        let web = ResourceRef::deployment("shop", "web");
        let cases = [
            (
                Action::Scale {
                    target: web.clone(),
                    replicas: 3,
                },
                "scale deployment/shop/web to 3",
            ),
            (
                Action::Rollback {
                    target: web.clone(),
                    revision: None,
                },
                "rollback deployment/shop/web",
            ),
            (
                Action::Rollback {
                    target: web.clone(),
                    revision: Some(4),
                },
                "rollback deployment/shop/web to revision 4",
            ),
            (
                Action::RestartPod {
                    namespace: "shop".into(),
                    pod: "web-1".into(),
                },
                "restart-pod shop/web-1",
            ),
            (
                Action::RolloutRestart { target: web },
                "rollout-restart deployment/shop/web",
            ),
            (
                Action::DrainNode { node: "n1".into() },
                "drain-node node/n1",
            ),
            (
                Action::None {
                    reason: "transient".into(),
                },
                "none: transient",
            ),
        ];
        for (action, line) in cases {
            assert_eq!(action.to_string(), line);
        }
    }
}
