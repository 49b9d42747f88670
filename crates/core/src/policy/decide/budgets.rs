//! How often: actions in flight, actions on one target in the last hour, and the cooldown after
//! a failure.

use std::time::Duration;

use chrono::TimeDelta;

use super::{Evaluation, Stop, stop};
use crate::action::Action;
use crate::decision::Verdict;
use crate::units::format_duration;

impl Evaluation<'_> {
    pub(super) fn budgets(&mut self) -> Result<(), Stop> {
        let budgets = &self.policy.budgets;
        let ctx = self.ctx;
        if ctx.in_flight >= budgets.concurrent_actions {
            return stop(
                Verdict::Escalate,
                format!(
                    "budget: {} actions in flight (limit {})",
                    ctx.in_flight, budgets.concurrent_actions
                ),
            );
        }
        self.note(format!(
            "in flight: {} of {} actions",
            ctx.in_flight, budgets.concurrent_actions
        ));

        let key = self.budget_key();
        let since = ctx.now.checked_sub_signed(TimeDelta::hours(1));
        let done = ctx
            .history
            .recent
            .iter()
            .filter(|p| since.is_none_or(|since| p.at > since))
            .count();
        let limit = usize::try_from(budgets.actions_per_target_per_hour).unwrap_or(usize::MAX);
        if done >= limit {
            return stop(
                Verdict::Escalate,
                format!("budget: {done} actions on {key} in the last hour"),
            );
        }
        self.note(format!(
            "budget: {done} of {limit} actions on {key} in the last hour"
        ));

        if let Some(failed_at) = ctx.history.latest_failure() {
            let ago = (ctx.now - failed_at).to_std().unwrap_or(Duration::ZERO);
            let ago_text = format_duration(Duration::from_secs(ago.as_secs()));
            let cooldown = budgets.cooldown_after_failure;
            if ago < cooldown {
                return stop(
                    Verdict::Escalate,
                    format!(
                        "cooldown: last failure {ago_text} ago < {}",
                        format_duration(cooldown)
                    ),
                );
            }
            self.note(format!(
                "cooldown: last failure {ago_text} ago ≥ {}",
                format_duration(cooldown)
            ));
        }
        Ok(())
    }

    /// What budgets and history count against: the owning workload of a pod, else the target.
    pub(super) fn budget_key(&self) -> String {
        match (&self.plan.action, &self.ctx.target.owner) {
            (Action::RestartPod { .. }, Some(owner)) => owner.locate_key(),
            (action, _) => action
                .target()
                .map(|t| t.locate_key())
                .unwrap_or_else(|| "nothing".to_string()),
        }
    }
}
