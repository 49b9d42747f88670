//! The namespaces an action reaches, which scoped rules (forbidden operations, freezes,
//! criticality, namespace modes) are held against.

use crate::action::Action;
use crate::policy::context::TargetFacts;
use crate::resource::ResourceRef;

/// The namespaces an action reaches.
pub(super) struct Scope {
    pub(super) namespaces: Vec<String>,
    /// A node action: the namespaces are those of the pods on the node.
    pub(super) cluster_scoped: bool,
}

impl Scope {
    pub(super) fn of(action: &Action, facts: &TargetFacts) -> Scope {
        match action.target() {
            Some(ResourceRef::Node { .. }) => Scope {
                namespaces: facts.node_namespaces.clone(),
                cluster_scoped: true,
            },
            Some(target) => Scope {
                namespaces: target.namespace().map(str::to_string).into_iter().collect(),
                cluster_scoped: false,
            },
            None => Scope {
                namespaces: Vec::new(),
                cluster_scoped: false,
            },
        }
    }

    /// Whether a rule limited to `only` (empty: everywhere) reaches this action, and through
    /// which namespace. A node action whose namespaces the caller did not list is reached by
    /// every scoped rule: not knowing what runs on a node is no reason to be bolder.
    pub(super) fn reached_by(&self, only: &[String]) -> Option<Option<String>> {
        if only.is_empty() {
            return Some(None);
        }
        if self.cluster_scoped && self.namespaces.is_empty() {
            return Some(Some(format!(
                "{} (pods on the node not known)",
                only.join(", ")
            )));
        }
        self.namespaces
            .iter()
            .find(|ns| only.contains(ns))
            .map(|ns| Some(ns.clone()))
    }
}
