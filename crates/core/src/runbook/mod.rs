//! Runbooks: named procedures an operator registers in the agent's configuration, which
//! `run-runbook` plans may name. Plain values here (what a runbook matches, where it may run,
//! its risk class, what it does); the agent carries them out and the policy holds every
//! `run-runbook` plan against the runbook it names.
//!
//! A runbook is one of two kinds:
//!
//! - [`RunbookKind::Actions`]: a sequence of catalogue actions with parameters, each aimed at
//!   the runbook's target and carried out by the same actuator as any action (dry run first,
//!   then the change);
//! - [`RunbookKind::Job`]: a Kubernetes Job built from a [`JobTemplate`], run once with its
//!   dry-run arguments (a real Job in check mode) and once with its real arguments.
//!
//! Nothing in a runbook comes from a model: image, command and arguments are the
//! configuration's, and a plan only names a runbook and a target.
//!
//! [`read`] turns the configuration file's `runbooks:` section into a [`RunbookRegistry`],
//! naming the key of every mistake; [`propose`] adds the plans of registered runbooks that
//! fit a diagnosis to an analysis.

mod propose;
pub mod read;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::action::{Action, ResourceChange};
use crate::catalogue::{ActionName, Category};
use crate::decision::Risk;
use crate::resource::ResourceRef;

pub use propose::propose;
pub use read::{RunbookConfigError, RunbookSettings};

/// One registered runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookSpec {
    /// The name plans use (`run-runbook` with `runbook: NAME`).
    pub name: String,
    /// What it does, for people and for the plan's rationale.
    pub description: String,
    /// The diagnoses it is written for.
    #[serde(rename = "match")]
    pub matches: RunbookMatch,
    /// Its risk class: the base risk of a plan that runs it.
    pub risk: Risk,
    /// Where it may run.
    pub targets: AllowedTargets,
    /// How long a run may take (each phase of a Job, the whole sequence of actions).
    pub timeout: Duration,
    /// What it does.
    pub kind: RunbookKind,
}

/// The diagnoses a runbook is written for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunbookMatch {
    /// Diagnosis categories (at least one).
    pub categories: Vec<Category>,
    /// Labels the target must carry (every one, with its value); empty: any target.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl RunbookMatch {
    /// Whether a diagnosis of `category` on a target labelled `labels` fits.
    pub fn fits(&self, category: Category, labels: &BTreeMap<String, String>) -> bool {
        self.categories.contains(&category) && labels_match(&self.labels, labels)
    }

    /// Whether it names labels: a runbook for one workload rather than for a category.
    pub fn is_specific(&self) -> bool {
        !self.labels.is_empty()
    }
}

/// Where a runbook may run: both parts must allow the target when both are given.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AllowedTargets {
    /// Namespaces of the target; empty: not limited by namespace. A node has no namespace, so
    /// a runbook limited to namespaces never runs on a node.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Labels the target must carry (a `matchLabels` selector); empty: not limited by labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl AllowedTargets {
    /// Why `target` (carrying `labels`) is not allowed; `None` when it is.
    pub fn refuses(
        &self,
        target: &ResourceRef,
        labels: &BTreeMap<String, String>,
    ) -> Option<String> {
        if !self.namespaces.is_empty() {
            match target.namespace() {
                Some(ns) if self.namespaces.iter().any(|n| n == ns) => {}
                Some(ns) => {
                    return Some(format!(
                        "namespace {ns} is not among its targets ({})",
                        self.namespaces.join(", ")
                    ));
                }
                None => {
                    return Some(format!(
                        "{} has no namespace and its targets are namespaces ({})",
                        target.locate_key(),
                        self.namespaces.join(", ")
                    ));
                }
            }
        }
        if !labels_match(&self.labels, labels) {
            return Some(format!(
                "{} does not carry the labels of its targets ({})",
                target.locate_key(),
                selector_text(&self.labels)
            ));
        }
        None
    }
}

/// `app=checkout,tier=web`.
pub fn selector_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `have` carries every label of `want` with its value.
fn labels_match(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// What a runbook does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunbookKind {
    /// Catalogue actions, in order, on the runbook's target.
    Actions(Vec<RunbookStep>),
    /// A Kubernetes Job.
    Job(JobTemplate),
}

/// One catalogue action of an `actions` runbook, aimed at the runbook's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookStep {
    /// The action (a workload action, or a node action for a runbook run on nodes).
    pub action: ActionName,
    /// `scale`: the replica count.
    #[serde(default)]
    pub replicas: Option<i32>,
    /// `rollback`: the revision (the previous one when absent).
    #[serde(default)]
    pub revision: Option<i64>,
    /// `set-resources`: the container.
    #[serde(default)]
    pub container: Option<String>,
    /// `set-resources`: what to set.
    #[serde(default)]
    pub resources: ResourceChange,
}

/// The actions a step may name: workload actions and node actions, nothing that needs a pod
/// name or hands over to a person.
pub const STEP_ACTIONS: &[ActionName] = &[
    ActionName::RolloutRestart,
    ActionName::Scale,
    ActionName::Rollback,
    ActionName::SetResources,
    ActionName::CordonNode,
    ActionName::UncordonNode,
    ActionName::DrainNode,
];

impl RunbookStep {
    /// Whether the step acts on a node (otherwise on a workload).
    pub fn on_node(&self) -> bool {
        matches!(
            self.action,
            ActionName::CordonNode | ActionName::UncordonNode | ActionName::DrainNode
        )
    }

    /// The catalogue action this step is on `target`; an error when the target is of the
    /// wrong kind (a workload step on a node, a node step on a workload).
    pub fn action_for(&self, target: &ResourceRef) -> Result<Action, String> {
        let wrong = || format!("{} cannot be aimed at {}", self.action, target.locate_key());
        let node = match target {
            ResourceRef::Node { name } => Some(name.clone()),
            _ => None,
        };
        let workload = matches!(target, ResourceRef::Workload { .. });
        let t = target.clone();
        Ok(match self.action {
            ActionName::RolloutRestart if workload => Action::RolloutRestart { target: t },
            ActionName::Scale if workload => Action::Scale {
                target: t,
                replicas: self.replicas.ok_or_else(wrong)?,
            },
            ActionName::Rollback if workload => Action::Rollback {
                target: t,
                revision: self.revision,
            },
            ActionName::SetResources if workload => Action::SetResources {
                target: t,
                container: self.container.clone().ok_or_else(wrong)?,
                change: self.resources.clone(),
            },
            ActionName::CordonNode => Action::CordonNode {
                node: node.ok_or_else(wrong)?,
            },
            ActionName::UncordonNode => Action::UncordonNode {
                node: node.ok_or_else(wrong)?,
            },
            ActionName::DrainNode => Action::DrainNode {
                node: node.ok_or_else(wrong)?,
            },
            _ => return Err(wrong()),
        })
    }
}

/// The Job a `job` runbook runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTemplate {
    /// Container image.
    pub image: String,
    /// Entrypoint; empty: the image's.
    #[serde(default)]
    pub command: Vec<String>,
    /// Arguments of the real run.
    #[serde(default)]
    pub args: Vec<String>,
    /// Arguments of the dry run (check mode, e.g. `ansible-playbook --check`).
    #[serde(default)]
    pub dry_run_args: Vec<String>,
    /// Environment of the container.
    #[serde(default)]
    pub env: Vec<JobEnv>,
    /// Service account the pod runs as; absent: the namespace's default.
    #[serde(default)]
    pub service_account: Option<String>,
    /// How long a finished Job stays before the cluster deletes it.
    pub ttl: Duration,
    /// Namespace the Job runs in; absent: the target's (for a node: `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Pods that may fail before the Job does (`backoffLimit`).
    pub backoff_limit: i32,
    /// The user id the container runs as; `None`: the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    /// Whether the container may run as root; otherwise the pod runs with `runAsNonRoot`.
    #[serde(default)]
    pub run_as_root: bool,
}

/// One environment variable of a runbook's Job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnv {
    /// Variable name.
    pub name: String,
    /// Where its value comes from.
    pub source: EnvSource,
}

/// Where a Job's environment variable gets its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvSource {
    /// A literal value from the configuration.
    Value(String),
    /// A key of a Secret in the Job's namespace (`secretKeyRef`): the agent never reads it.
    Secret {
        /// Secret name.
        name: String,
        /// Key in it.
        key: String,
    },
    /// A variable of the agent's own environment, read at start (an unset one stops the
    /// start); its value is masked in the Job's logs.
    FromEnv {
        /// The agent's variable.
        var: String,
        /// Its value, once read; never serialized or printed.
        #[serde(skip)]
        value: Hidden,
    },
}

/// A value that is neither printed nor serialized.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Hidden(pub Option<String>);

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "<set>" } else { "<unset>" })
    }
}

impl JobTemplate {
    /// The values read from the agent's environment, which the Job's logs must not show.
    pub fn hidden_values(&self) -> Vec<&str> {
        self.env
            .iter()
            .filter_map(|e| match &e.source {
                EnvSource::FromEnv { value, .. } => value.0.as_deref(),
                _ => None,
            })
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// The registered runbooks, by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunbookRegistry {
    by_name: BTreeMap<String, RunbookSpec>,
}

impl RunbookRegistry {
    /// A registry of `specs` (a later one replaces an earlier of the same name).
    pub fn new(specs: impl IntoIterator<Item = RunbookSpec>) -> Self {
        RunbookRegistry {
            by_name: specs.into_iter().map(|s| (s.name.clone(), s)).collect(),
        }
    }

    /// The runbook of a name.
    pub fn get(&self, name: &str) -> Option<&RunbookSpec> {
        self.by_name.get(name)
    }

    /// Every runbook, by name.
    pub fn iter(&self) -> impl Iterator<Item = &RunbookSpec> {
        self.by_name.values()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// How many are registered.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Their names.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
