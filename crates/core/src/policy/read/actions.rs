//! What: the base risk and limits of each catalogue action, and the operations that never
//! run.

use super::{Reader, Result, one_of};
use crate::ActionName;
use crate::decision::Risk;
use crate::policy::operation::Operation;
use crate::policy::tree::{Key, KeyPath, Node, Value};
use crate::policy::{ActionRule, ForbiddenRule, Policy, default_actions};

impl Reader<'_> {
    pub(super) fn actions(&self, node: &Node, path: &KeyPath, policy: &mut Policy) -> Result<()> {
        let defaults = default_actions();
        for (name, value, action_path) in self.free_entries(node, path)? {
            let action = self.action_name(name, &action_path)?;
            let keys: &[&str] = match action {
                ActionName::Scale => &["risk", "max_replicas", "max_step_factor"],
                ActionName::SetResources => &["risk", "max_memory_factor"],
                _ => &["risk"],
            };
            let mut rule = defaults
                .get(&action)
                .cloned()
                .unwrap_or_else(|| ActionRule::with_risk(Risk::High));
            for (key, node, path) in self.entries(value, &action_path, keys)? {
                match key {
                    "risk" => rule.risk = self.risk(node, &path)?,
                    "max_replicas" => {
                        let max = self.count(node, &path)?;
                        if max == 0 {
                            return Err(self.invalid(
                                &path,
                                node.at,
                                "max_replicas must be 1 or more (scaling to zero is never allowed)",
                            ));
                        }
                        rule.max_replicas = Some(i32::try_from(max).unwrap_or(i32::MAX));
                    }
                    "max_step_factor" => rule.max_step_factor = Some(self.factor(node, &path)?),
                    _ => rule.max_memory_factor = Some(self.factor(node, &path)?),
                }
            }
            policy.actions.insert(action, rule);
        }
        Ok(())
    }

    fn action_name(&self, key: &Key, path: &KeyPath) -> Result<ActionName> {
        let infra = ActionName::ALL.iter().filter(|a| a.changes_infra());
        match key.text.parse::<ActionName>() {
            Ok(name) if name.changes_infra() => Ok(name),
            Ok(name) => Err(self.invalid(
                path,
                key.at,
                format!("{name} changes nothing in the cluster and has no risk to set"),
            )),
            Err(_) => Err(self.invalid(
                path,
                key.at,
                format!(
                    "unknown action {:?}; expected {}",
                    key.text,
                    one_of(infra.map(|a| a.as_str()))
                ),
            )),
        }
    }

    fn risk(&self, node: &Node, path: &KeyPath) -> Result<Risk> {
        match self.string(node, path, "a risk (low, medium or high)")? {
            "low" => Ok(Risk::Low),
            "medium" => Ok(Risk::Medium),
            "high" => Ok(Risk::High),
            other => Err(self.invalid(
                path,
                node.at,
                format!("unknown risk {other:?}; expected low, medium or high"),
            )),
        }
    }

    pub(super) fn forbidden(&self, node: &Node, path: &KeyPath) -> Result<Vec<ForbiddenRule>> {
        let mut rules = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            let rule = match &item.value {
                Value::Map(_) => {
                    let mut operation = None;
                    let mut namespaces = Vec::new();
                    for (key, node, path) in
                        self.entries(item, &item_path, &["action", "namespaces"])?
                    {
                        if key == "action" {
                            operation = Some(self.operation(node, &path)?);
                        } else {
                            namespaces = self.namespace_list(node, &path)?;
                        }
                    }
                    let operation = operation.ok_or_else(|| {
                        self.invalid(
                            &item_path,
                            item.at,
                            "missing key \"action\"; write e.g. {action: drain-node, namespaces: [kube-system]}",
                        )
                    })?;
                    ForbiddenRule {
                        operation,
                        namespaces,
                    }
                }
                _ => ForbiddenRule {
                    operation: self.operation(item, &item_path)?,
                    namespaces: Vec::new(),
                },
            };
            rules.push(rule);
        }
        Ok(rules)
    }

    /// An infra-changing operation name.
    pub(super) fn operation(&self, node: &Node, path: &KeyPath) -> Result<Operation> {
        let text = self.string(node, path, "an action name such as restart-pod")?;
        let op: Operation = text
            .parse()
            .map_err(|e: String| self.invalid(path, node.at, e))?;
        if !op.changes_infra() {
            return Err(self.invalid(
                path,
                node.at,
                format!(
                    "{op} changes nothing in the cluster, so it cannot be forbidden or allowed"
                ),
            ));
        }
        Ok(op)
    }
}
