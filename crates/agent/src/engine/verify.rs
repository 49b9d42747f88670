//! Verification: the recovery criteria of the action taken, checked until final; recovered
//! resolves the incident, not recovered goes back to analysis or, past the attempt budget, to a
//! human.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use nightshift_core::trust::Fate;
use nightshift_core::{Action, Analyzer, ResourceRef, State, TimelineKind};
use nightshift_store::{ActionStatus, StoredIncident};
use serde_json::json;

use super::timeline::{entry, summary_of};
use super::{Engine, EngineError};
use crate::verify::{CriteriaContext, VerifyStatus, criteria};

impl<A: Analyzer + 'static> Engine<A> {
    /// One look at the recovery: `Some(when)` to look again, `None` once the verdict is in and
    /// recorded.
    pub(super) async fn verify(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
    ) -> Result<Option<DateTime<Utc>>, EngineError> {
        let id = stored.incident.id.clone();
        let attempt = stored.incident.attempts;
        let plan = self.planned_action(&id, attempt).await?;
        let key = format!("{}-a{attempt}", id.0);
        let record = self.store.action_by_key(&key).await?;
        let outcome = record
            .as_ref()
            .and_then(|r| r.outcome.clone())
            .and_then(|o| serde_json::from_value::<crate::act::ActionOutcome>(o).ok());
        let mut ctx = outcome
            .as_ref()
            .map(CriteriaContext::from_outcome)
            .unwrap_or_default();
        // Changing nothing, or finding the change already made before a restart, names no
        // workload: watch the incident's own.
        if ctx.affected_workloads.is_empty()
            && matches!(
                plan.action,
                Action::None { .. } | Action::Escalate { .. } | Action::RestartPod { .. }
            )
            && let Some(root) = stored
                .incident
                .root_cause
                .clone()
                .or(Some(stored.incident.resource.clone()))
            && matches!(root, ResourceRef::Workload { .. })
        {
            ctx.affected_workloads.push(root);
        }
        ctx.runbook_steps = self.runbook_steps(&plan.action);
        let ctx = ctx
            .with_stabilization(self.config.stabilization)
            .with_deadline(self.config.verify_deadline);
        let crit = criteria(&plan.action, &ctx);
        let known = self
            .verify_since
            .lock()
            .ok()
            .and_then(|m| m.get(&id).copied());
        let since = match known {
            Some(t) => t,
            None => {
                let t = self.verifier.now().await;
                if let Ok(mut m) = self.verify_since.lock() {
                    m.insert(id.clone(), t);
                }
                t
            }
        };
        let checked = self.verifier.check_measured(&crit, since).await;
        let status = checked.status;
        if !status.is_final() {
            return Ok(Some(
                self.clock.now() + chrono::Duration::from_std(self.config.poll).unwrap_or_default(),
            ));
        }
        if let Ok(mut m) = self.verify_since.lock() {
            m.remove(&id);
        }
        let now = self.clock.now();
        let verified = status == VerifyStatus::Recovered;
        let (fate, detail) = if verified {
            (Fate::Verified, "verified recovered")
        } else {
            (Fate::Failed, "not recovered")
        };
        self.fate(
            stored,
            Some(&plan.action),
            fate,
            crate::trust::AGENT,
            format!("{} {detail}", plan.action.name()),
        )
        .await;
        // Records from before outcomes were written at once are closed here.
        if let Some(r) = &record
            && r.status == ActionStatus::Intended
        {
            self.store.mark_action_done(r.id, &json!({}), now).await?;
        }
        let e = entry(
            now,
            TimelineKind::Verification,
            format!("{status:?}"),
            json!({
                "status": if verified { "recovered" } else { "failed" },
                "recovered": verified,
                "attempt": attempt,
                "action": plan.action,
                "key": key,
                "criteria": crit.expectations.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "stabilization_s": crit.stabilization.as_secs(),
                "deadline_s": crit.deadline.as_secs(),
                "measured": checked.measured,
                "checked_at": checked.at,
            }),
        );
        if verified {
            if let Ok(mut k) = self.counters.lock() {
                k.mitigate_seconds.push(
                    (now - stored.incident.opened_at).num_milliseconds().max(0) as f64 / 1000.0,
                );
                k.auto_resolved += 1;
            }
            self.go(stored, State::Resolved, "recovered", vec![e])
                .await?;
        } else {
            stored.incident.attempts += 1;
            if stored.incident.attempts >= self.config.max_attempts {
                self.go(stored, State::Unresolved, "not recovered", vec![e])
                    .await?;
                if let Ok(mut k) = self.counters.lock() {
                    k.human += 1;
                }
                self.go(stored, State::Escalated, "attempt budget used up", vec![])
                    .await?;
            } else {
                self.go(stored, State::Unresolved, "not recovered", vec![e])
                    .await?;
            }
        }
        Ok(None)
    }

    /// A resolved incident is closed with a summary line.
    pub(super) async fn close(&self, stored: &mut StoredIncident) -> Result<(), EngineError> {
        let e = entry(
            self.clock.now(),
            TimelineKind::Note,
            summary_of(stored),
            json!({}),
        );
        self.go(stored, State::Closed, "resolved", vec![e]).await
    }
}
