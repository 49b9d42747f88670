//! The mode's final word on a plan no rule stopped, by the risk it gathered.

use super::{Evaluation, Stop, risk_name};
use crate::decision::{Risk, Verdict};
use crate::policy::Mode;

impl Evaluation<'_> {
    pub(super) fn mode(&mut self) -> Stop {
        let (mode, source) = self.effective_mode();
        self.note(format!("mode: {mode} ({source})"));
        let (verdict, rule) = match mode {
            Mode::Observe => (Verdict::Observe, format!("mode: observe ({source})")),
            Mode::DryRun => (Verdict::DryRun, format!("mode: dry-run ({source})")),
            Mode::Approve => (Verdict::NeedsApproval, format!("mode: approve ({source})")),
            Mode::Auto if self.risk == Risk::Low => (
                Verdict::Execute,
                format!("risk: low → execute (mode auto, {source})"),
            ),
            Mode::Auto => (
                Verdict::NeedsApproval,
                format!(
                    "risk: {} → approval (mode auto, {source})",
                    risk_name(self.risk)
                ),
            ),
        };
        Stop { verdict, rule }
    }

    /// A namespaced action follows its namespace's override, else the global mode. A node
    /// action follows the global mode, made stricter (never bolder) by the override of any
    /// namespace with pods on the node.
    fn effective_mode(&self) -> (Mode, String) {
        let (mode, source) = self.policy_mode();
        match &self.ctx.ladder {
            // On a node, the ladder's row is no bolder than any namespace with pods there.
            Some((m, from)) if !self.scope.cluster_scoped || *m <= mode => (*m, from.clone()),
            _ => (mode, source),
        }
    }

    /// The mode the policy file gives the plan's scope.
    fn policy_mode(&self) -> (Mode, String) {
        if !self.scope.cluster_scoped {
            return self
                .policy
                .mode_for(self.scope.namespaces.first().map(String::as_str));
        }
        let mut mode = self.policy.mode;
        let mut source = "global".to_string();
        for ns in &self.scope.namespaces {
            if let Some(m) = self.policy.namespace_modes.get(ns)
                && *m < mode
            {
                mode = *m;
                source = format!("namespace {ns} on the node");
            }
        }
        (mode, source)
    }
}
