//! Who: approver groups, the rules naming who may answer approvals where, and how many
//! distinct approvals each risk class needs.

use std::collections::{BTreeMap, BTreeSet};

use super::{Reader, Result};
use crate::decision::Risk;
use crate::policy::approvers::{ANY_NAMESPACE, ApproverRule};
use crate::policy::tree::{KeyPath, Node, Position, Value};

/// The longest identity or group name accepted, in characters.
const MAX_NAME_CHARS: usize = 200;

impl Reader<'_> {
    /// `approver_groups`: group name → list of identities.
    pub(super) fn approver_groups(
        &self,
        node: &Node,
        path: &KeyPath,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let mut groups = BTreeMap::new();
        for (name, value, group_path) in self.free_entries(node, path)? {
            self.group_name(&name.text, &group_path, name.at)?;
            let members = self.identities(value, &group_path)?;
            if members.is_empty() {
                return Err(self.invalid(
                    &group_path,
                    value.at.or(name.at),
                    "the group has no members; list identities such as [alice, \"slack:U024BE7LH\"]",
                ));
            }
            groups.insert(name.text.clone(), members);
        }
        Ok(groups)
    }

    /// `approvers`: a list of `{namespaces, cluster, users, groups}` rules.
    pub(super) fn approver_rules(
        &self,
        node: &Node,
        path: &KeyPath,
        groups: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<ApproverRule>> {
        const KEYS: &[&str] = &["namespaces", "cluster", "users", "groups"];
        let mut rules = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            if !matches!(item.value, Value::Map(_)) {
                return Err(self.invalid(
                    &item_path,
                    item.at,
                    format!(
                        "expected a rule such as {{namespaces: [payments], groups: [sre]}}, found {}",
                        item.value.describe()
                    ),
                ));
            }
            let mut rule = ApproverRule::default();
            for (key, node, path) in self.entries(item, &item_path, KEYS)? {
                match key {
                    "namespaces" => rule.namespaces = self.rule_namespaces(node, &path)?,
                    "cluster" => rule.cluster = self.boolean(node, &path)?,
                    "users" => rule.users = self.identities(node, &path)?,
                    _ => rule.groups = self.group_refs(node, &path, groups)?,
                }
            }
            if rule.namespaces.is_empty() && !rule.cluster {
                return Err(self.invalid(
                    &item_path,
                    item.at,
                    "the rule covers nothing; write namespaces: [payments] (\"*\" for every \
                     namespace no rule names), cluster: true (incidents with no namespace, such \
                     as nodes), or both",
                ));
            }
            if rule.users.is_empty() && rule.groups.is_empty() {
                return Err(self.invalid(
                    &item_path,
                    item.at,
                    "the rule names nobody; write users: [alice] or groups: [sre]",
                ));
            }
            rules.push(rule);
        }
        Ok(rules)
    }

    /// `min_approvers`: risk class → distinct approvals, 1 or more.
    pub(super) fn min_approvers(&self, node: &Node, path: &KeyPath) -> Result<BTreeMap<Risk, u32>> {
        let mut out = BTreeMap::new();
        for (key, node, path) in self.entries(node, path, &["low", "medium", "high"])? {
            let risk = match key {
                "low" => Risk::Low,
                "medium" => Risk::Medium,
                _ => Risk::High,
            };
            let count = self.count(node, &path)?;
            if count == 0 {
                return Err(self.invalid(
                    &path,
                    node.at,
                    "must be 1 or more: an approval needs an approver (plans that should run \
                     unattended are a matter of mode and risk, not of approvers)",
                ));
            }
            out.insert(risk, count);
        }
        Ok(out)
    }

    fn boolean(&self, node: &Node, path: &KeyPath) -> Result<bool> {
        match node.value {
            Value::Bool(b) => Ok(b),
            ref other => Err(self.invalid(
                path,
                node.at,
                format!("expected true or false, found {}", other.describe()),
            )),
        }
    }

    /// A rule's namespaces: names, or `*`.
    fn rule_namespaces(&self, node: &Node, path: &KeyPath) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            let name = self.string(item, &item_path, "a namespace name or \"*\"")?;
            if name != ANY_NAMESPACE {
                self.check_namespace(name, &item_path, item.at)?;
            }
            if out.iter().any(|n| n == name) {
                return Err(self.invalid(&item_path, item.at, format!("{name:?} is listed twice")));
            }
            out.push(name.to_string());
        }
        Ok(out)
    }

    /// A list of identities, each at most once.
    fn identities(&self, node: &Node, path: &KeyPath) -> Result<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            let who = self.string(
                item,
                &item_path,
                "an identity such as alice or \"slack:U024BE7LH\"",
            )?;
            self.identity(who, &item_path, item.at)?;
            if !seen.insert(who) {
                return Err(self.invalid(&item_path, item.at, format!("{who:?} is listed twice")));
            }
            out.push(who.to_string());
        }
        Ok(out)
    }

    /// An identity: a token name, or a chat user such as `slack:U024BE7LH`.
    fn identity(&self, who: &str, path: &KeyPath, at: Option<Position>) -> Result<()> {
        let problem = if who.trim().is_empty() {
            Some("the identity is empty")
        } else if who.trim() != who {
            Some("the identity starts or ends with a space")
        } else if who.chars().any(char::is_control) {
            Some("the identity contains a control character")
        } else if who.chars().count() > MAX_NAME_CHARS {
            Some("the identity is longer than 200 characters")
        } else if who.starts_with(':') || who.ends_with(':') {
            Some("the identity has an empty part around ':'")
        } else {
            None
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(self.invalid(
                path,
                at,
                format!(
                    "{problem}: {who:?}; expected an API token's name such as alice, or a chat \
                     user such as \"slack:U024BE7LH\" or \"teams:someone@example.com\""
                ),
            )),
        }
    }

    fn group_name(&self, name: &str, path: &KeyPath, at: Option<Position>) -> Result<()> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && name.starts_with(|c: char| c.is_ascii_lowercase());
        if valid {
            Ok(())
        } else {
            Err(self.invalid(
                path,
                at,
                format!(
                    "invalid group name {name:?}; expected a lowercase letter, then lowercase \
                     letters, digits, '-' or '_' (at most 63), e.g. payments-oncall"
                ),
            ))
        }
    }

    /// Group names a rule refers to; each must be defined in `approver_groups`.
    fn group_refs(
        &self,
        node: &Node,
        path: &KeyPath,
        groups: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            let name = self.string(item, &item_path, "a group name of approver_groups")?;
            if !groups.contains_key(name) {
                let known = if groups.is_empty() {
                    "approver_groups defines none".to_string()
                } else {
                    format!(
                        "approver_groups defines {}",
                        groups.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                return Err(self.invalid(
                    &item_path,
                    item.at,
                    format!("unknown group {name:?}; {known}"),
                ));
            }
            if out.iter().any(|g| g == name) {
                return Err(self.invalid(&item_path, item.at, format!("{name:?} is listed twice")));
            }
            out.push(name.to_string());
        }
        Ok(out)
    }
}
