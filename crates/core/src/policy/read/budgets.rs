//! How much: rate, concurrency and cooldown budgets, and the blast radius.

use super::{Reader, Result};
use crate::policy::Policy;
use crate::policy::tree::{KeyPath, Node};

impl Reader<'_> {
    /// `budgets`: actions per target per hour, actions in flight, cooldown after a failure.
    pub(super) fn budgets(&self, node: &Node, path: &KeyPath, policy: &mut Policy) -> Result<()> {
        const KEYS: &[&str] = &[
            "actions_per_target_per_hour",
            "concurrent_actions",
            "cooldown_after_failure",
        ];
        for (key, node, path) in self.entries(node, path, KEYS)? {
            match key {
                "actions_per_target_per_hour" => {
                    policy.budgets.actions_per_target_per_hour = self.count(node, &path)?
                }
                "concurrent_actions" => {
                    policy.budgets.concurrent_actions = self.count(node, &path)?
                }
                _ => policy.budgets.cooldown_after_failure = self.duration(node, &path)?,
            }
        }
        Ok(())
    }

    /// `learning`: what the knowledge base may decide. `recurrence.limit` earlier incidents
    /// of the same category on the same resource within `recurrence.window`, each remedied,
    /// make the next one recurring: it is escalated rather than remedied again (0: never).
    pub(super) fn learning(&self, node: &Node, path: &KeyPath, policy: &mut Policy) -> Result<()> {
        for (_, node, path) in self.entries(node, path, &["recurrence"])? {
            for (key, node, path) in self.entries(node, &path, &["limit", "window"])? {
                match key {
                    "limit" => policy.learning.recurrence.limit = self.count(node, &path)?,
                    _ => {
                        let window = self.duration(node, &path)?;
                        if window.is_zero() {
                            return Err(self.invalid(
                                &path,
                                node.at,
                                "the recurrence window must be longer than zero, e.g. 24h",
                            ));
                        }
                        policy.learning.recurrence.window = window;
                    }
                }
            }
        }
        Ok(())
    }

    /// `blast_radius`: the share of replicas one action may take down at once.
    pub(super) fn blast_radius(
        &self,
        node: &Node,
        path: &KeyPath,
        policy: &mut Policy,
    ) -> Result<()> {
        for (_, node, path) in self.entries(node, path, &["max_replica_share"])? {
            let share = self.fraction(node, &path)?;
            if share <= 0.0 {
                return Err(self.invalid(
                    &path,
                    node.at,
                    "the share must be above 0 (no action could ever run), e.g. 0.5",
                ));
            }
            policy.blast_radius.max_replica_share = share;
        }
        Ok(())
    }
}
