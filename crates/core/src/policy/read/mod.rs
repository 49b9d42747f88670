//! Reading the policy file: a spanned YAML tree walked key by key, so every mistake is
//! reported with the file, the key path and the line.
//!
//! This module holds the walk and its errors (`Reader::invalid`): mappings with known keys,
//! mappings with free keys, lists. Each section of the policy is read in its own file:
//! `namespaces` (modes per namespace, criticality, namespace and label names), `actions`
//! (base risk and limits, forbidden operations), `budgets` (budgets and blast radius),
//! `freeze` (freeze windows); `scalars` reads numbers, fractions, counts and durations.

mod actions;
mod approvers;
mod budgets;
mod freeze;
mod namespaces;
mod promotion;
mod scalars;

use std::collections::BTreeSet;

use super::Policy;
use super::error::PolicyError;
use super::tree::{self, Key, KeyPath, Node, Position, Value};

type Result<T> = std::result::Result<T, PolicyError>;

const TOP_KEYS: &[&str] = &[
    "mode",
    "namespaces",
    "min_confidence",
    "approval_timeout",
    "criticality",
    "actions",
    "forbidden",
    "exclude_label",
    "budgets",
    "blast_radius",
    "freeze",
    "approver_groups",
    "approvers",
    "min_approvers",
    "learning",
    "promotion",
];

pub(super) fn parse(text: &str, origin: &str) -> Result<Policy> {
    let reader = Reader { origin };
    let root = tree::parse(text).map_err(|e| reader.yaml(&e))?;
    let mut policy = Policy {
        origin: origin.to_string(),
        ..Policy::default()
    };
    let path = KeyPath::root();
    if let Value::Null = root.value {
        return Ok(policy);
    }
    if !matches!(root.value, Value::Map(_)) {
        return Err(reader.invalid(
            &path,
            root.at,
            format!(
                "a policy is a mapping with keys such as mode, namespaces and actions; found {}",
                root.value.describe()
            ),
        ));
    }
    // Rules name groups that may be written after them: read once every key is in.
    let mut approvers = None;
    for (key, node, path) in reader.entries(&root, &path, TOP_KEYS)? {
        match key {
            "mode" => policy.mode = reader.mode(node, &path)?,
            "namespaces" => reader.namespaces(node, &path, &mut policy)?,
            "min_confidence" => policy.min_confidence = reader.fraction(node, &path)?,
            "approval_timeout" => {
                policy.approval_timeout = reader.duration(node, &path)?;
                if policy.approval_timeout.is_zero() {
                    return Err(reader.invalid(
                        &path,
                        node.at,
                        "the approval timeout must be longer than zero, e.g. 15m",
                    ));
                }
            }
            "criticality" => reader.criticality(node, &path, &mut policy)?,
            "actions" => reader.actions(node, &path, &mut policy)?,
            "forbidden" => policy.forbidden = reader.forbidden(node, &path)?,
            "exclude_label" => {
                let label = reader.string(node, &path, "a label key")?;
                reader.label_key(label, &path, node.at)?;
                policy.exclude_label = label.to_string();
            }
            "budgets" => reader.budgets(node, &path, &mut policy)?,
            "blast_radius" => reader.blast_radius(node, &path, &mut policy)?,
            "learning" => reader.learning(node, &path, &mut policy)?,
            "promotion" => reader.promotion(node, &path, &mut policy)?,
            "approver_groups" => policy.approvals.groups = reader.approver_groups(node, &path)?,
            "approvers" => approvers = Some((node, path)),
            "min_approvers" => {
                policy.approvals.min_approvers = reader.min_approvers(node, &path)?
            }
            _ => policy.freeze = reader.freeze(node, &path)?,
        }
    }
    if let Some((node, path)) = approvers {
        policy.approvals.rules = reader.approver_rules(node, &path, &policy.approvals.groups)?;
    }
    Ok(policy)
}

/// The walk over one policy text; `origin` names it in every error.
pub(crate) struct Reader<'a> {
    pub(crate) origin: &'a str,
}

impl Reader<'_> {
    /// An error naming the origin, the key path and the line.
    pub(crate) fn invalid(
        &self,
        path: &KeyPath,
        at: Option<Position>,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError::Invalid {
            origin: self.origin.to_string(),
            key: path.to_string(),
            line: at.map(|p| p.line),
            column: at.map(|p| p.column),
            message: message.into(),
        }
    }

    /// An error of the YAML reader itself (bad indentation, an unclosed quote).
    pub(crate) fn yaml(&self, err: &serde_saphyr::Error) -> PolicyError {
        let err = err.without_snippet();
        let at = err.location().and_then(|l| Position::from_location(&l));
        let message = err.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => &message[..i],
            None => &message,
        };
        self.invalid(&KeyPath::root(), at, format!("not valid YAML: {message}"))
    }

    /// The entries of a mapping whose keys must be among `allowed`; nothing (`~`) counts as
    /// an empty mapping.
    pub(crate) fn entries<'n>(
        &self,
        node: &'n Node,
        path: &KeyPath,
        allowed: &[&str],
    ) -> Result<Vec<(&'n str, &'n Node, KeyPath)>> {
        let mut out = Vec::new();
        for (key, value, key_path) in self.free_entries(node, path)? {
            if !allowed.contains(&key.text.as_str()) {
                return Err(self.invalid(
                    &key_path,
                    key.at,
                    format!(
                        "unknown key {:?}; expected {}",
                        key.text,
                        one_of(allowed.iter().copied())
                    ),
                ));
            }
            out.push((key.text.as_str(), value, key_path));
        }
        Ok(out)
    }

    /// The entries of a mapping with keys of the user's choosing (namespaces, labels).
    fn free_entries<'n>(
        &self,
        node: &'n Node,
        path: &KeyPath,
    ) -> Result<Vec<(&'n Key, &'n Node, KeyPath)>> {
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => return Ok(Vec::new()),
            other => {
                return Err(self.invalid(
                    path,
                    node.at,
                    format!("expected a mapping, found {}", other.describe()),
                ));
            }
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            let key_path = path.key(&key.text);
            if !seen.insert(key.text.as_str()) {
                return Err(self.invalid(
                    &key_path,
                    key.at,
                    format!("the key {:?} is written twice", key.text),
                ));
            }
            out.push((key, value, key_path));
        }
        Ok(out)
    }

    /// The items of a list; nothing (`~`) counts as an empty list.
    pub(crate) fn list<'n>(
        &self,
        node: &'n Node,
        path: &KeyPath,
    ) -> Result<Vec<(&'n Node, KeyPath)>> {
        match &node.value {
            Value::Seq(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, item)| (item, path.index(i)))
                .collect()),
            Value::Null => Ok(Vec::new()),
            other => Err(self.invalid(
                path,
                node.at,
                format!("expected a list, found {}", other.describe()),
            )),
        }
    }
}

/// `one of: a, b, c` (or just `a` when there is one).
fn one_of<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    match items.as_slice() {
        [one] => one.to_string(),
        _ => format!("one of: {}", items.join(", ")),
    }
}
