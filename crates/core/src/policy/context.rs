//! The facts a decision rests on, gathered by the caller from the cluster and the incident
//! store as plain values. None of them come from a model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ActionName;
use crate::catalogue::Category;
use crate::resource::ResourceRef;
use crate::runbook::RunbookSpec;

/// Everything [`Policy::decide`](super::Policy::decide) needs besides the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionContext {
    /// The time of the decision; freezes, budgets and cooldowns are measured from it.
    pub now: DateTime<Utc>,
    /// The resource the incident is about (its correlated root). An action on something in
    /// another namespace (or another node) needs approval at least.
    pub incident_target: ResourceRef,
    /// Confidence of the diagnosis, 0..=1. The lower of it and the plan's confidence is
    /// compared with `min_confidence`.
    pub diagnosis_confidence: f64,
    /// Facts about the resource the plan's action changes.
    pub target: TargetFacts,
    /// What was already done to that resource.
    pub history: History,
    /// Actions being carried out right now, across the cluster.
    pub in_flight: u32,
    /// The mode the trust ladder puts this plan's row in (a pinned row, or a row the agent
    /// moved under `promotion.apply: auto`), with where it comes from; `None`: the policy's
    /// mode decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<(super::Mode, String)>,
    /// The diagnosis category the plan answers; a `run-runbook` plan must fit it.
    #[serde(default)]
    pub category: Option<Category>,
    /// For a `run-runbook` plan: the registered runbook it names, as the agent's
    /// configuration has it; `None` when no runbook of that name is registered.
    #[serde(default)]
    pub runbook: Option<RunbookSpec>,
}

impl DecisionContext {
    /// A context with no facts about the target and no history. Missing facts count against
    /// a plan: a restart of a pod whose owner is not known is refused, and blast radius that
    /// cannot be measured raises risk.
    pub fn new(
        now: DateTime<Utc>,
        incident_target: ResourceRef,
        diagnosis_confidence: f64,
    ) -> Self {
        DecisionContext {
            now,
            incident_target,
            diagnosis_confidence,
            target: TargetFacts::default(),
            history: History::default(),
            in_flight: 0,
            ladder: None,
            category: None,
            runbook: None,
        }
    }
}

/// What is known about the resource an action changes. Unknown facts stay `None` (or empty).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TargetFacts {
    /// Labels of the target (of the workload for workload and pod actions, of the node for
    /// node actions).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The target, its owner or its namespace carries the exclude label set to `true`, as
    /// the caller found it (the policy also checks [`TargetFacts::labels`] itself).
    #[serde(default)]
    pub excluded: bool,
    /// The workload that owns the target pod (for `restart-pod`; a pod with no owner is a
    /// bare pod and is never restarted). Budgets and history are per owner.
    #[serde(default)]
    pub owner: Option<ResourceRef>,
    /// Desired replicas of the workload now.
    #[serde(default)]
    pub replicas: Option<i32>,
    /// Ready replicas of the workload now.
    #[serde(default)]
    pub ready_replicas: Option<i32>,
    /// Pods the action takes down at once: 1 for `restart-pod`, the rolling update's
    /// unavailability for `rollout-restart`, the evicted pods of the workload for
    /// `drain-node`.
    #[serde(default)]
    pub pods_touched: Option<i32>,
    /// `status.disruptionsAllowed` of the PodDisruptionBudget covering the pods; `None` when
    /// no budget covers them.
    #[serde(default)]
    pub pdb_disruptions_allowed: Option<i32>,
    /// Current memory limit per container, in Kubernetes notation (`256Mi`); a container
    /// with no entry has an unknown limit.
    #[serde(default)]
    pub memory_limits: BTreeMap<String, String>,
    /// For node actions: the namespaces of the pods running on the node.
    #[serde(default)]
    pub node_namespaces: Vec<String>,
}

/// What happened to an action that was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It ran and the target recovered.
    Succeeded,
    /// It failed, or the target did not recover.
    Failed,
    /// Still running or being verified.
    Pending,
}

/// One action already carried out on the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastAction {
    /// Which action.
    pub action: ActionName,
    /// When it was carried out.
    pub at: DateTime<Utc>,
    /// How it went.
    pub outcome: Outcome,
}

/// What was already done to the target (its owning workload, for pods).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct History {
    /// Actions carried out on the target recently (at least the last hour); entries older
    /// than an hour are ignored by the budget.
    #[serde(default)]
    pub recent: Vec<PastAction>,
    /// The same action as the plan's already failed on this target (at any time).
    #[serde(default)]
    pub same_action_failed: bool,
    /// When an action on this target last failed.
    #[serde(default)]
    pub last_failure: Option<DateTime<Utc>>,
}

impl History {
    /// Whether `action` failed here, by the flag or by the recent entries.
    pub fn failed_before(&self, action: ActionName) -> bool {
        self.same_action_failed
            || self
                .recent
                .iter()
                .any(|p| p.action == action && p.outcome == Outcome::Failed)
    }

    /// The latest failure on record, by the field or by the recent entries.
    pub fn latest_failure(&self) -> Option<DateTime<Utc>> {
        self.recent
            .iter()
            .filter(|p| p.outcome == Outcome::Failed)
            .map(|p| p.at)
            .chain(self.last_failure)
            .max()
    }
}
