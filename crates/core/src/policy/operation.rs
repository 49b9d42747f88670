//! Operations: catalogue actions and the derived names the policy and the evaluation match
//! on (`scale-up`, `scale-down`, `scale-to-zero`, `raise-memory-limit`, `lower-memory-limit`).

use std::fmt;
use std::str::FromStr;

use crate::ActionName;
use crate::units::parse_memory;

use super::context::TargetFacts;
use crate::action::Action;

/// A catalogue action or a derived operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// A catalogue action, whatever its parameters.
    Action(ActionName),
    /// `scale` to more replicas than now.
    ScaleUp,
    /// `scale` to fewer replicas than now.
    ScaleDown,
    /// `scale` to zero replicas.
    ScaleToZero,
    /// `set-resources` that raises a memory limit.
    RaiseMemoryLimit,
    /// `set-resources` that lowers a memory limit.
    LowerMemoryLimit,
}

impl Operation {
    /// The derived operations, as written in files.
    pub const DERIVED: &'static [Operation] = &[
        Operation::ScaleUp,
        Operation::ScaleDown,
        Operation::ScaleToZero,
        Operation::RaiseMemoryLimit,
        Operation::LowerMemoryLimit,
    ];

    /// The name as written in policy files, plans and reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operation::Action(name) => name.as_str(),
            Operation::ScaleUp => "scale-up",
            Operation::ScaleDown => "scale-down",
            Operation::ScaleToZero => "scale-to-zero",
            Operation::RaiseMemoryLimit => "raise-memory-limit",
            Operation::LowerMemoryLimit => "lower-memory-limit",
        }
    }

    /// Whether running it changes the cluster (everything but `escalate` and `none`).
    pub fn changes_infra(&self) -> bool {
        match self {
            Operation::Action(name) => name.changes_infra(),
            _ => true,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(op) = Operation::DERIVED.iter().find(|op| op.as_str() == s) {
            return Ok(*op);
        }
        s.parse::<ActionName>().map(Operation::Action).map_err(|_| {
            let actions: Vec<&str> = ActionName::ALL
                .iter()
                .filter(|a| a.changes_infra())
                .map(|a| a.as_str())
                .collect();
            let derived: Vec<&str> = Operation::DERIVED.iter().map(|op| op.as_str()).collect();
            format!(
                "unknown action {s:?}; expected a catalogue action ({}) or a derived one ({})",
                actions.join(", "),
                derived.join(", ")
            )
        })
    }
}

/// The derived operations an action amounts to, given what is known about its target:
/// `scale-to-zero` (and `scale-down`) for a scale to 0, `scale-up`/`scale-down` against the
/// current replicas, `raise-memory-limit`/`lower-memory-limit` against the current limit of
/// the container. Nothing is derived from facts that are not known, except `scale-to-zero`,
/// which needs none.
pub fn classify(action: &Action, facts: &TargetFacts) -> Vec<Operation> {
    let mut derived = Vec::new();
    match action {
        Action::Scale { replicas, .. } => {
            if *replicas <= 0 {
                derived.push(Operation::ScaleToZero);
            }
            match facts.replicas {
                Some(current) if *replicas > current => derived.push(Operation::ScaleUp),
                Some(current) if *replicas < current => derived.push(Operation::ScaleDown),
                None if *replicas <= 0 => derived.push(Operation::ScaleDown),
                _ => {}
            }
        }
        Action::SetResources {
            container, change, ..
        } => {
            let new = change
                .limits
                .get("memory")
                .and_then(|q| parse_memory(q).ok());
            let current = facts
                .memory_limits
                .get(container)
                .and_then(|q| parse_memory(q).ok());
            match (new, current) {
                (Some(new), Some(current)) if new > current => {
                    derived.push(Operation::RaiseMemoryLimit)
                }
                (Some(new), Some(current)) if new < current => {
                    derived.push(Operation::LowerMemoryLimit)
                }
                _ => {}
            }
        }
        _ => {}
    }
    derived
}

/// The catalogue action itself followed by its derived operations: everything a forbidden
/// rule or a freeze allowance is matched against.
pub fn operations(action: &Action, facts: &TargetFacts) -> Vec<Operation> {
    let mut all = vec![Operation::Action(action.name())];
    all.extend(classify(action, facts));
    all
}
