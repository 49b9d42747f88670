//! What the policy decided about a plan, and why.

use serde::{Deserialize, Serialize};

/// Risk of running a plan here and now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Runs unattended in `auto`.
    Low,
    /// Needs approval.
    Medium,
    /// Needs approval.
    High,
}

/// The outcome of the policy for one plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Run it now.
    Execute,
    /// Run only the server-side dry run and record what would happen.
    DryRun,
    /// Wait for a human.
    NeedsApproval,
    /// Do not run; hand to humans.
    Escalate,
    /// Observe mode: record only.
    Observe,
    /// Forbidden by policy; never runs.
    Forbidden,
}

/// A decision with the rule that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Verdict.
    pub verdict: Verdict,
    /// Assessed risk.
    pub risk: Risk,
    /// The rule that decided, e.g. `mode: observe (namespace shop)` or
    /// `forbidden: scale-to-zero`.
    pub rule: String,
    /// Factors that went into the risk, for the timeline.
    pub factors: Vec<String>,
}
