//! Decide: the policy that stands between a plan and the cluster.
//!
//! A [`Policy`] is read from a YAML file ([`Policy::load`], [`Policy::parse`]; the format is
//! documented in `docs/policy.md`) or taken as the safe [`Policy::default`] (observe only).
//! [`Policy::decide`] judges one [`Plan`](crate::Plan) against plain facts gathered by the
//! caller ([`DecisionContext`]) and returns a [`Decision`](crate::Decision) that names the rule
//! that made it and lists every factor it weighed. Nothing a model writes reaches this module
//! except the typed action and its confidence, so no rationale can argue a rule away.

mod approvers;
mod context;
mod decide;
mod error;
mod freeze;
mod operation;
pub(crate) mod read;
mod report;
pub(crate) mod tree;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub use approvers::{ANY_NAMESPACE, ApprovalRules, ApproverRule, Approvers};
pub use context::{DecisionContext, History, Outcome, PastAction, TargetFacts};
pub use error::PolicyError;
pub use freeze::{FreezeSchedule, FreezeWindow, TimeOfDay, UtcOffset};
pub use operation::{Operation, classify, operations};

use crate::ActionName;
use crate::decision::Risk;

/// Default minimum confidence: below it a plan becomes an escalation.
pub const DEFAULT_MIN_CONFIDENCE: f64 = 0.7;
/// Default time a plan waits for approval before it is escalated (15 minutes).
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Default label that keeps a resource out of reach when set to `true`.
pub const DEFAULT_EXCLUDE_LABEL: &str = "nightshift.io/exclude";
/// Default number of actions on one target in one hour.
pub const DEFAULT_ACTIONS_PER_TARGET_PER_HOUR: u32 = 3;
/// Default number of actions in flight at once.
pub const DEFAULT_CONCURRENT_ACTIONS: u32 = 2;
/// Default pause after a failed action on a target (10 minutes).
pub const DEFAULT_COOLDOWN_AFTER_FAILURE: Duration = Duration::from_secs(10 * 60);
/// Default share of a workload's replicas one action may disrupt at once before its risk
/// becomes high.
pub const DEFAULT_MAX_REPLICA_SHARE: f64 = 0.5;
/// Default ceiling for `scale`.
pub const DEFAULT_MAX_REPLICAS: i32 = 20;
/// Default largest factor by which one `scale` may change the replica count.
pub const DEFAULT_MAX_STEP_FACTOR: f64 = 2.0;
/// Default largest factor by which one `set-resources` may raise a memory limit before its
/// risk becomes high.
pub const DEFAULT_MAX_MEMORY_FACTOR: f64 = 2.0;

/// How much the policy lets the agent do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Record what would be done; change nothing. The default, as the safe first phase.
    Observe,
    /// Run only server-side dry runs of the plans and record their answers.
    DryRun,
    /// Every infra-changing plan waits for a human.
    Approve,
    /// Low-risk plans run unattended; medium and high risk wait for a human.
    Auto,
}

impl Mode {
    /// Every mode, most cautious first.
    pub const ALL: &'static [Mode] = &[Mode::Observe, Mode::DryRun, Mode::Approve, Mode::Auto];

    /// The name as written in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Observe => "observe",
            Mode::DryRun => "dry-run",
            Mode::Approve => "approve",
            Mode::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .iter()
            .copied()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("unknown mode {s:?}; expected observe, dry-run, approve or auto")
            })
    }
}

/// How critical a namespace or a labelled resource is. Each step above `low` raises the risk
/// of an action on it by one level, up to high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Criticality {
    /// Raises nothing.
    Low,
    /// Raises risk by one level.
    Medium,
    /// Raises risk by two levels.
    High,
}

impl Criticality {
    /// How many levels it raises risk by.
    pub fn steps(self) -> u8 {
        match self {
            Criticality::Low => 0,
            Criticality::Medium => 1,
            Criticality::High => 2,
        }
    }

    /// The name as written in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
        }
    }
}

/// A label selector of the criticality table: `key=value`, or `key` alone for any value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    /// Label key.
    pub key: String,
    /// Required value; `None` matches any value.
    pub value: Option<String>,
}

impl LabelSelector {
    /// Whether `labels` carry this label.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match (labels.get(&self.key), &self.value) {
            (Some(found), Some(wanted)) => found == wanted,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={value}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// What makes a target critical.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CriticalityRules {
    /// Criticality per namespace.
    pub namespaces: BTreeMap<String, Criticality>,
    /// Criticality per label, in file order.
    pub labels: Vec<(LabelSelector, Criticality)>,
}

/// Base risk and limits of one catalogue action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRule {
    /// Risk before criticality, blast radius and history are weighed.
    pub risk: Risk,
    /// `scale` only: the most replicas a plan may ask for.
    pub max_replicas: Option<i32>,
    /// `scale` only: the largest factor by which one step may change the replica count.
    pub max_step_factor: Option<f64>,
    /// `set-resources` only: the largest factor by which one step may raise a memory limit
    /// before the risk becomes high.
    pub max_memory_factor: Option<f64>,
}

impl ActionRule {
    /// A rule with only a base risk.
    pub fn with_risk(risk: Risk) -> Self {
        ActionRule {
            risk,
            max_replicas: None,
            max_step_factor: None,
            max_memory_factor: None,
        }
    }
}

/// An operation that never runs, in any mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForbiddenRule {
    /// The catalogue action or derived operation.
    pub operation: Operation,
    /// Only in these namespaces; empty means everywhere. For node actions, a namespace counts
    /// when pods of it run on the node.
    pub namespaces: Vec<String>,
}

/// Limits on how much the agent does, over time and at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Budgets {
    /// Actions executed on one target (a workload, or a node) within the last hour; the next
    /// one is escalated.
    pub actions_per_target_per_hour: u32,
    /// Actions in flight at once across the cluster.
    pub concurrent_actions: u32,
    /// After a failed action on a target, nothing more runs on it for this long.
    pub cooldown_after_failure: Duration,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            actions_per_target_per_hour: DEFAULT_ACTIONS_PER_TARGET_PER_HOUR,
            concurrent_actions: DEFAULT_CONCURRENT_ACTIONS,
            cooldown_after_failure: DEFAULT_COOLDOWN_AFTER_FAILURE,
        }
    }
}

/// How much of a workload one action may disrupt before its risk becomes high.
#[derive(Debug, Clone, PartialEq)]
pub struct BlastRadius {
    /// Share of replicas (0..=1) a restart or drain may take down at once.
    pub max_replica_share: f64,
}

impl Default for BlastRadius {
    fn default() -> Self {
        BlastRadius {
            max_replica_share: DEFAULT_MAX_REPLICA_SHARE,
        }
    }
}

/// The policy: what may run, where, when and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Where it was read from (a file name), or `built-in defaults`.
    pub origin: String,
    /// Mode everywhere no namespace override applies.
    pub mode: Mode,
    /// Mode per namespace, overriding [`Policy::mode`].
    pub namespace_modes: BTreeMap<String, Mode>,
    /// Plans (and diagnoses) less sure than this become escalations.
    pub min_confidence: f64,
    /// How long a plan waits for approval before it is escalated.
    pub approval_timeout: Duration,
    /// What raises risk because the target matters.
    pub criticality: CriticalityRules,
    /// Base risk and limits per catalogue action; every infra-changing action has an entry.
    pub actions: BTreeMap<ActionName, ActionRule>,
    /// Operations that never run.
    pub forbidden: Vec<ForbiddenRule>,
    /// Resources carrying this label with the value `true` are never touched.
    pub exclude_label: String,
    /// Rate, concurrency and cooldown limits.
    pub budgets: Budgets,
    /// Disruption limits.
    pub blast_radius: BlastRadius,
    /// Change freezes: no infra-changing action while one is active.
    pub freeze: Vec<FreezeWindow>,
    /// Who may answer approvals where, and how many distinct approvals each risk class needs.
    pub approvals: ApprovalRules,
    /// What the knowledge base may decide.
    pub learning: Learning,
    /// What earns each row of the trust ladder its mode, and whether rows move themselves.
    pub promotion: crate::trust::Promotion,
}

impl Default for Policy {
    /// Observe mode with the documented defaults: nothing in the cluster changes.
    fn default() -> Self {
        Policy {
            origin: "built-in defaults".to_string(),
            mode: Mode::Observe,
            namespace_modes: BTreeMap::new(),
            min_confidence: DEFAULT_MIN_CONFIDENCE,
            approval_timeout: DEFAULT_APPROVAL_TIMEOUT,
            criticality: CriticalityRules::default(),
            actions: default_actions(),
            forbidden: vec![ForbiddenRule {
                operation: Operation::ScaleToZero,
                namespaces: Vec::new(),
            }],
            exclude_label: DEFAULT_EXCLUDE_LABEL.to_string(),
            budgets: Budgets::default(),
            blast_radius: BlastRadius::default(),
            freeze: Vec::new(),
            approvals: ApprovalRules::default(),
            learning: Learning::default(),
            promotion: crate::trust::Promotion::default(),
        }
    }
}

/// `learning`: what the knowledge base may decide.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Learning {
    /// When a fault that keeps coming back after its remedy goes to a person (3 in 24h by
    /// default).
    pub recurrence: crate::knowledge::RecurrenceLimit,
}

/// The base risk and limits of every infra-changing action when the file says nothing.
pub fn default_actions() -> BTreeMap<ActionName, ActionRule> {
    let mut actions = BTreeMap::new();
    for name in ActionName::ALL
        .iter()
        .copied()
        .filter(|a| a.changes_infra())
    {
        let rule = match name {
            ActionName::RestartPod | ActionName::RolloutRestart => ActionRule::with_risk(Risk::Low),
            ActionName::Scale => ActionRule {
                max_replicas: Some(DEFAULT_MAX_REPLICAS),
                max_step_factor: Some(DEFAULT_MAX_STEP_FACTOR),
                ..ActionRule::with_risk(Risk::Low)
            },
            ActionName::SetResources => ActionRule {
                max_memory_factor: Some(DEFAULT_MAX_MEMORY_FACTOR),
                ..ActionRule::with_risk(Risk::Medium)
            },
            ActionName::Rollback | ActionName::CordonNode | ActionName::UncordonNode => {
                ActionRule::with_risk(Risk::Medium)
            }
            _ => ActionRule::with_risk(Risk::High),
        };
        actions.insert(name, rule);
    }
    actions
}

impl Policy {
    /// Reads a policy from YAML text; `origin` names it in errors (usually the file name).
    ///
    /// Unknown keys, values of the wrong type, bad durations, unknown modes and unknown
    /// action names are errors naming the origin, the key path and the line. An empty
    /// document is the default policy.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        read::parse(text, origin)
    }

    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// The mode in force for `namespace` (its override, else the global mode), and where it
    /// comes from (`namespace shop` or `global`).
    pub fn mode_for(&self, namespace: Option<&str>) -> (Mode, String) {
        match namespace.and_then(|ns| self.namespace_modes.get(ns).map(|m| (ns, *m))) {
            Some((ns, mode)) => (mode, format!("namespace {ns}")),
            None => (self.mode, "global".to_string()),
        }
    }

    /// The rule for a catalogue action; `None` for `escalate` and `none`.
    pub fn action_rule(&self, name: ActionName) -> Option<&ActionRule> {
        self.actions.get(&name)
    }

    /// A human summary of the policy and anything in it that looks like a mistake, for
    /// `nightshift policy check FILE`.
    pub fn check_report(&self) -> String {
        report::render(self)
    }
}
