//! `promotion:`: what earns a trust-ladder row each mode, and whether rows move themselves.

use super::{Reader, Result};
use crate::policy::Policy;
use crate::policy::tree::{KeyPath, Node};

impl Reader<'_> {
    /// `promotion: {apply, window, min_samples, min_lower_bound, ceiling, namespaces}`.
    pub(super) fn promotion(&self, node: &Node, path: &KeyPath, policy: &mut Policy) -> Result<()> {
        const KEYS: &[&str] = &[
            "apply",
            "window",
            "min_samples",
            "min_lower_bound",
            "ceiling",
            "namespaces",
        ];
        let p = &mut policy.promotion;
        for (key, node, path) in self.entries(node, path, KEYS)? {
            match key {
                "apply" => {
                    p.auto = match self.string(node, &path, "auto or recommend")? {
                        "auto" => true,
                        "recommend" => false,
                        other => {
                            return Err(self.invalid(
                                &path,
                                node.at,
                                format!(
                                    "unknown value {other:?}; expected auto (rows promote and \
                                     demote themselves) or recommend (the ladder only shows \
                                     what each row earned)"
                                ),
                            ));
                        }
                    }
                }
                "window" => {
                    p.window = self.duration(node, &path)?;
                    if p.window.is_zero() {
                        return Err(self.invalid(
                            &path,
                            node.at,
                            "the window must be longer than zero, e.g. 720h",
                        ));
                    }
                }
                "min_samples" => {
                    p.min_samples = self.count(node, &path)?;
                    if p.min_samples == 0 {
                        return Err(self.invalid(
                            &path,
                            node.at,
                            "a row needs at least one sample to earn anything",
                        ));
                    }
                }
                "min_lower_bound" => p.min_lower_bound = self.fraction(node, &path)?,
                "ceiling" => p.ceiling = self.mode(node, &path)?,
                _ => {
                    for (ns, value, ns_path) in self.free_entries(node, &path)? {
                        let mode = self.mode(value, &ns_path)?;
                        p.namespace_ceilings.insert(ns.text.clone(), mode);
                    }
                }
            }
        }
        Ok(())
    }
}
