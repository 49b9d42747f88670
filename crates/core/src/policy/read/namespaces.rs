//! Where: the mode per namespace, criticality by namespace and by label, and namespace names
//! and label keys as Kubernetes allows them.

use super::{Reader, Result};
use crate::policy::tree::{Key, KeyPath, Node, Position, Value};
use crate::policy::{Criticality, LabelSelector, Mode, Policy};

impl Reader<'_> {
    /// `namespaces`: a mapping such as `{mode: approve}` per namespace.
    pub(super) fn namespaces(
        &self,
        node: &Node,
        path: &KeyPath,
        policy: &mut Policy,
    ) -> Result<()> {
        for (ns, node, path) in self.free_entries(node, path)? {
            self.namespace_name(ns, &path)?;
            if let Value::Str(text) = &node.value {
                return Err(self.invalid(
                    &path,
                    node.at,
                    format!("expected a mapping such as {{mode: {text}}}, found {text:?}"),
                ));
            }
            for (key, node, path) in self.entries(node, &path, &["mode"])? {
                if key == "mode" {
                    policy
                        .namespace_modes
                        .insert(ns.text.clone(), self.mode(node, &path)?);
                }
            }
        }
        Ok(())
    }

    pub(super) fn mode(&self, node: &Node, path: &KeyPath) -> Result<Mode> {
        let text = self.string(node, path, "a mode (observe, dry-run, approve or auto)")?;
        text.parse()
            .map_err(|e: String| self.invalid(path, node.at, e))
    }

    pub(super) fn criticality(
        &self,
        node: &Node,
        path: &KeyPath,
        policy: &mut Policy,
    ) -> Result<()> {
        for (key, node, path) in self.entries(node, path, &["namespaces", "labels"])? {
            for (entry, value, entry_path) in self.free_entries(node, &path)? {
                let level = self.criticality_level(value, &entry_path)?;
                if key == "namespaces" {
                    self.namespace_name(entry, &entry_path)?;
                    policy
                        .criticality
                        .namespaces
                        .insert(entry.text.clone(), level);
                } else {
                    let selector = match entry.text.split_once('=') {
                        Some((k, v)) => LabelSelector {
                            key: k.to_string(),
                            value: Some(v.to_string()),
                        },
                        None => LabelSelector {
                            key: entry.text.clone(),
                            value: None,
                        },
                    };
                    self.label_key(&selector.key, &entry_path, entry.at)?;
                    policy.criticality.labels.push((selector, level));
                }
            }
        }
        Ok(())
    }

    fn criticality_level(&self, node: &Node, path: &KeyPath) -> Result<Criticality> {
        match self.string(node, path, "a criticality (low, medium or high)")? {
            "low" => Ok(Criticality::Low),
            "medium" => Ok(Criticality::Medium),
            "high" => Ok(Criticality::High),
            other => Err(self.invalid(
                path,
                node.at,
                format!("unknown criticality {other:?}; expected low, medium or high"),
            )),
        }
    }

    /// A namespace name as Kubernetes allows it (an RFC 1123 label).
    fn namespace_name(&self, key: &Key, path: &KeyPath) -> Result<()> {
        self.check_namespace(&key.text, path, key.at)
    }

    pub(super) fn check_namespace(
        &self,
        name: &str,
        path: &KeyPath,
        at: Option<Position>,
    ) -> Result<()> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if valid {
            Ok(())
        } else {
            Err(self.invalid(
                path,
                at,
                format!(
                    "invalid namespace name {name:?}; expected lowercase letters, digits and '-' \
                     (at most 63), e.g. shop"
                ),
            ))
        }
    }

    pub(super) fn label_key(&self, key: &str, path: &KeyPath, at: Option<Position>) -> Result<()> {
        let valid = !key.is_empty()
            && key.len() <= 316
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if valid {
            Ok(())
        } else {
            Err(self.invalid(
                path,
                at,
                format!(
                    "invalid label key {key:?}; expected letters, digits, '-', '_', '.' and an \
                     optional prefix/, e.g. nightshift.io/exclude"
                ),
            ))
        }
    }

    pub(super) fn namespace_list(&self, node: &Node, path: &KeyPath) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            let name = self.string(item, &item_path, "a namespace name")?;
            self.check_namespace(name, &item_path, item.at)?;
            out.push(name.to_string());
        }
        Ok(out)
    }
}
