//! What a scenario may expect of the agent: the derived action names of `expect.actions`
//! and their targets. Categories and catalogue action names belong to the domain
//! (`nightshift_core`) and are re-exported here.

use std::fmt;
use std::str::FromStr;

pub use nightshift_core::{ActionName, Category};

use crate::model::Target;

/// An action name as it may appear in `expect.actions`: a catalogue name or a derived one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionPattern {
    /// A catalogue action.
    Action(ActionName),
    /// `scale` to more replicas than before.
    ScaleUp,
    /// `scale` to fewer replicas than before.
    ScaleDown,
    /// `scale` to zero replicas.
    ScaleToZero,
    /// `set-resources` that raises a memory limit.
    RaiseMemoryLimit,
}

impl fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionPattern::Action(a) => a.fmt(f),
            ActionPattern::ScaleUp => f.write_str("scale-up"),
            ActionPattern::ScaleDown => f.write_str("scale-down"),
            ActionPattern::ScaleToZero => f.write_str("scale-to-zero"),
            ActionPattern::RaiseMemoryLimit => f.write_str("raise-memory-limit"),
        }
    }
}

impl FromStr for ActionPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "scale-up" => Ok(ActionPattern::ScaleUp),
            "scale-down" => Ok(ActionPattern::ScaleDown),
            "scale-to-zero" => Ok(ActionPattern::ScaleToZero),
            "raise-memory-limit" => Ok(ActionPattern::RaiseMemoryLimit),
            other => other
                .parse::<ActionName>()
                .map(ActionPattern::Action)
                .map_err(|_| {
                    format!(
                        "unknown action `{other}`; expected a catalogue action ({}) or one of \
                     scale-up, scale-down, scale-to-zero, raise-memory-limit",
                        ActionName::ALL
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
        }
    }
}

/// An entry of `expect.actions`: `<action>[@<namespace>/<name> | @node/<name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionMatcher {
    /// The action or derived name.
    pub pattern: ActionPattern,
    /// The target; `None` means the scenario's `locate` resource.
    pub target: Option<Target>,
}

impl fmt::Display for ActionMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            None => self.pattern.fmt(f),
            Some(t) => write!(f, "{}@{}", self.pattern, t),
        }
    }
}
