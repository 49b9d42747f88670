//! What recovery looks like for each action: plain values, computed without I/O, so they can
//! be stored with the action's intent and checked again after a restart.

use std::time::Duration;

use nightshift_core::{Action, ActionName, ResourceRef};
use serde::{Deserialize, Serialize};

use crate::act::ActionOutcome;

/// Default time the state must hold before it counts as recovered.
pub const DEFAULT_STABILIZATION: Duration = Duration::from_secs(120);
/// Default time after the action by which it must have recovered.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

/// One thing that must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "expect", rename_all = "kebab-case")]
pub enum Expectation {
    /// The workload's rollout is complete (observed generation current, updated == desired ==
    /// available, no progress deadline exceeded after the action), every pod is Ready, no
    /// container waits in a back-off, and no container restarted or pod lost readiness within
    /// the stabilization window.
    WorkloadHealthy {
        /// The workload.
        workload: ResourceRef,
        /// The replica count the action set, if it set one.
        replicas: Option<i32>,
    },
    /// No container `container` of the workload running the new resources was OOMKilled after
    /// the action; one that was means the change did not help, and verification fails at once.
    NoOomKillAfterChange {
        /// The workload.
        workload: ResourceRef,
        /// The container whose resources changed.
        container: String,
        /// The new memory limit; without it, pods created after the action count as new.
        memory_limit: Option<String>,
    },
    /// The restarted pod is gone (or, for a StatefulSet, back with a new uid and Ready).
    PodReplaced {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Uid of the pod that was restarted; without it, a pod of that name created after
        /// the action counts as the replacement.
        uid: Option<String>,
    },
    /// The node's schedulability is as intended (and, to be schedulable, it is Ready).
    NodeSchedulable {
        /// Node name.
        node: String,
        /// Whether it should accept new pods.
        schedulable: bool,
    },
    /// No evictable pod is left on the node (DaemonSet, mirror and bare pods do not count;
    /// terminating pods have left).
    NodeDrained {
        /// Node name.
        node: String,
    },
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::WorkloadHealthy { workload, replicas } => {
                write!(f, "{workload} rolled out with every pod Ready")?;
                match replicas {
                    Some(n) => write!(f, " at {n} replicas"),
                    None => Ok(()),
                }
            }
            Expectation::NoOomKillAfterChange {
                workload,
                container,
                memory_limit,
            } => {
                write!(f, "no OOM kill of container {container} of {workload}")?;
                match memory_limit {
                    Some(l) => write!(f, " at its new limit {l}"),
                    None => write!(f, " after the change"),
                }
            }
            Expectation::PodReplaced { namespace, pod, .. } => {
                write!(f, "pod {namespace}/{pod} replaced")
            }
            Expectation::NodeSchedulable { node, schedulable } => write!(
                f,
                "node {node} {}",
                if *schedulable {
                    "schedulable and Ready"
                } else {
                    "cordoned"
                }
            ),
            Expectation::NodeDrained { node } => {
                write!(f, "no evictable pod left on node {node}")
            }
        }
    }
}

/// What must hold, how long it must hold, and by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCriteria {
    /// The action verified.
    pub action: ActionName,
    /// Everything that must hold. Empty for escalate and none, which change nothing: there is
    /// nothing of theirs to verify, and [`crate::verify::Verifier::check`] reports them
    /// recovered at once.
    pub expectations: Vec<Expectation>,
    /// How long workload health must hold, in the cluster's time.
    pub stabilization: Duration,
    /// How long after the action a state that is not healthy turns into a failure.
    pub deadline: Duration,
}

/// What `criteria` needs besides the action: the windows, and what the action touched (from
/// its [`ActionOutcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriteriaContext {
    /// The stabilization window (default 120s).
    pub stabilization: Duration,
    /// The deadline (default 10m).
    pub deadline: Duration,
    /// Workloads whose pods the action replaced: restart-pod's owner, a drain's evicted pods'
    /// owners.
    pub affected_workloads: Vec<ResourceRef>,
    /// restart-pod: the uid of the evicted pod.
    pub replaced_pod_uid: Option<String>,
    /// run-runbook of an `actions` runbook: its catalogue actions on its target.
    pub runbook_steps: Vec<Action>,
}

impl Default for CriteriaContext {
    fn default() -> Self {
        CriteriaContext {
            stabilization: DEFAULT_STABILIZATION,
            deadline: DEFAULT_DEADLINE,
            affected_workloads: Vec::new(),
            replaced_pod_uid: None,
            runbook_steps: Vec::new(),
        }
    }
}

impl CriteriaContext {
    /// The default windows and what `outcome` says the action touched.
    pub fn from_outcome(outcome: &ActionOutcome) -> Self {
        CriteriaContext {
            affected_workloads: outcome.affected_workloads.clone(),
            replaced_pod_uid: outcome.replaced_pod_uid.clone(),
            ..CriteriaContext::default()
        }
    }

    /// With another stabilization window.
    pub fn with_stabilization(mut self, window: Duration) -> Self {
        self.stabilization = window;
        self
    }

    /// With another deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
}

/// What recovery after `action` looks like:
///
/// - rollout-restart, rollback: the workload healthy;
/// - scale: the workload healthy at the replica count set;
/// - set-resources: the workload healthy and no OOMKill of the changed container after it;
/// - restart-pod: the pod replaced and its owner healthy;
/// - cordon-node / uncordon-node: the node unschedulable / schedulable (and Ready);
/// - drain-node: the node unschedulable, no evictable pod left on it, and every workload it
///   evicted from healthy (its replicas available elsewhere);
/// - run-runbook: the criteria of each catalogue action of an `actions` runbook, and what
///   the diagnosis implies for its target: a workload healthy, a node schedulable and Ready
///   (for a Job runbook; an `actions` runbook on a node is held to its actions' criteria);
/// - escalate, none: nothing.
pub fn criteria(action: &Action, ctx: &CriteriaContext) -> RecoveryCriteria {
    let healthy = |w: &ResourceRef| Expectation::WorkloadHealthy {
        workload: w.clone(),
        replicas: None,
    };
    let affected = || ctx.affected_workloads.iter().map(healthy);
    let expectations = match action {
        Action::RestartPod { namespace, pod } => {
            let mut e = vec![Expectation::PodReplaced {
                namespace: namespace.clone(),
                pod: pod.clone(),
                uid: ctx.replaced_pod_uid.clone(),
            }];
            e.extend(affected());
            e
        }
        Action::RolloutRestart { target } | Action::Rollback { target, .. } => {
            vec![healthy(target)]
        }
        Action::Scale { target, replicas } => vec![Expectation::WorkloadHealthy {
            workload: target.clone(),
            replicas: Some(*replicas),
        }],
        Action::SetResources {
            target,
            container,
            change,
        } => vec![
            healthy(target),
            Expectation::NoOomKillAfterChange {
                workload: target.clone(),
                container: container.clone(),
                memory_limit: change.limits.get("memory").cloned(),
            },
        ],
        Action::CordonNode { node } => vec![Expectation::NodeSchedulable {
            node: node.clone(),
            schedulable: false,
        }],
        Action::UncordonNode { node } => vec![Expectation::NodeSchedulable {
            node: node.clone(),
            schedulable: true,
        }],
        Action::DrainNode { node } => {
            let mut e = vec![
                Expectation::NodeSchedulable {
                    node: node.clone(),
                    schedulable: false,
                },
                Expectation::NodeDrained { node: node.clone() },
            ];
            e.extend(affected());
            e
        }
        Action::RunRunbook { target, .. } => {
            // Each catalogue action's own criteria; then what the diagnosis implies for the
            // target whatever the runbook did: a workload healthy, a node back in service.
            let mut e: Vec<Expectation> = Vec::new();
            for step in &ctx.runbook_steps {
                e.extend(criteria(step, ctx).expectations);
            }
            let implied = match target {
                ResourceRef::Workload { .. } => Some(healthy(target)),
                ResourceRef::Node { name } if ctx.runbook_steps.is_empty() => {
                    Some(Expectation::NodeSchedulable {
                        node: name.clone(),
                        schedulable: true,
                    })
                }
                _ => None,
            };
            e.extend(implied);
            e.extend(affected());
            let mut unique: Vec<Expectation> = Vec::new();
            for x in e {
                let covered = unique.iter().any(|u| {
                    u == &x
                        || matches!((u, &x), (
                            Expectation::WorkloadHealthy { workload: a, replicas: Some(_) },
                            Expectation::WorkloadHealthy { workload: b, replicas: None },
                        ) if a == b)
                });
                if !covered {
                    unique.push(x);
                }
            }
            unique
        }
        Action::Escalate { .. } | Action::None { .. } => Vec::new(),
    };
    RecoveryCriteria {
        action: action.name(),
        expectations,
        stabilization: ctx.stabilization,
        deadline: ctx.deadline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightshift_core::action::ResourceChange;

    #[test]
    fn drain_watches_the_node_and_the_workloads_it_evicted_from() {
        let ctx = CriteriaContext {
            affected_workloads: vec![ResourceRef::deployment("shop", "checkout")],
            ..CriteriaContext::default()
        }
        .with_deadline(Duration::from_secs(60));
        let c = criteria(
            &Action::DrainNode {
                node: "node-a".into(),
            },
            &ctx,
        );
        assert_eq!(c.deadline, Duration::from_secs(60));
        assert_eq!(c.stabilization, DEFAULT_STABILIZATION);
        assert_eq!(c.expectations.len(), 3);
        assert!(matches!(
            &c.expectations[2],
            Expectation::WorkloadHealthy { workload, replicas: None } if workload.locate_key() == "shop/checkout"
        ));
    }

    #[test]
    fn set_resources_watches_for_oom_kills_at_the_new_limit() {
        let mut change = ResourceChange::default();
        change.limits.insert("memory".into(), "512Mi".into());
        let c = criteria(
            &Action::SetResources {
                target: ResourceRef::deployment("shop", "checkout"),
                container: "checkout".into(),
                change,
            },
            &CriteriaContext::default(),
        );
        assert_eq!(
            c.expectations[1],
            Expectation::NoOomKillAfterChange {
                workload: ResourceRef::deployment("shop", "checkout"),
                container: "checkout".into(),
                memory_limit: Some("512Mi".into()),
            }
        );
        let none = criteria(
            &Action::Escalate { reason: "x".into() },
            &CriteriaContext::default(),
        );
        assert!(none.expectations.is_empty());
    }
}
