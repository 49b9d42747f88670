//! Acting on a decision: carried out as the verdict says (act, ask a human, rehearse, watch or
//! escalate), approvals waited for and answered, and the action itself: the write-ahead intent,
//! the dry run, the change, and a failed attempt's way back to analysis or escalation.

use std::sync::Arc;

use nightshift_core::{Action, Analyzer, Decision, IncidentId, Plan, State, TimelineKind, Verdict};
use nightshift_store::{ActionStatus, ApprovalAnswer, DecisionId, StoredIncident};
use serde_json::json;

use super::timeline::entry;
use super::{Engine, EngineError, LiveEvent};
use crate::notify::Notification;

impl<A: Analyzer + 'static> Engine<A> {
    /// A human's answer to a pending approval.
    pub async fn answer(
        self: &Arc<Self>,
        id: &IncidentId,
        approve: bool,
        by: &str,
        reason: Option<String>,
    ) -> Result<State, EngineError> {
        let stored = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(id.0.clone()))?;
        if stored.incident.state != State::AwaitingApproval {
            return Err(EngineError::NotAwaiting {
                id: id.0.clone(),
                state: stored.incident.state,
            });
        }
        let answer = ApprovalAnswer {
            approve,
            by: by.to_string(),
            // A person's reason is free text: a pasted command can carry a credential.
            reason: reason.map(|r| crate::redact::redact(&r)),
            at: self.clock.now(),
        };
        let s = self.store.decide_approval(id, &answer).await?;
        self.spawn(id.clone());
        Ok(s.incident.state)
    }

    /// An incident awaiting approval: expired approvals are marked; if this one is still
    /// waiting, it says when to look again (a poll interval on; an answer wakes it sooner).
    pub(super) async fn wait_for_approval(
        &self,
        id: &IncidentId,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, EngineError> {
        let now = self.clock.now();
        self.store.expire_approvals(now).await?;
        let fresh = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(id.0.clone()))?;
        Ok((fresh.incident.state == State::AwaitingApproval)
            .then(|| now + chrono::Duration::from_std(self.config.poll).unwrap_or_default()))
    }

    /// An answered approval: approved goes on to act; rejected or expired goes to a human.
    pub(super) async fn approval_answered(
        &self,
        stored: &mut StoredIncident,
    ) -> Result<(), EngineError> {
        match stored.incident.state {
            State::Approved => {
                self.go(stored, State::Acting, "approved; acting", vec![])
                    .await?
            }
            State::Rejected => {
                if let Ok(mut k) = self.counters.lock() {
                    k.human += 1;
                }
                self.go(stored, State::Escalated, "rejected by a human", vec![])
                    .await?;
                self.notify(Notification::escalated(&stored.incident, "plan rejected"));
            }
            State::Expired => {
                self.go(stored, State::Escalated, "nobody approved in time", vec![])
                    .await?;
                self.notify(Notification::escalated(
                    &stored.incident,
                    "approval expired",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// A planned incident whose decision was recorded but not carried out (the agent stopped
    /// in between) carries it out now, as decided.
    pub(super) async fn resume_planned(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
    ) -> Result<(), EngineError> {
        let attempt = stored.incident.attempts;
        let decided = self
            .store
            .decisions(&stored.incident.id)
            .await?
            .into_iter()
            .rev()
            .find(|d| d.attempt == attempt)
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "{} decision for attempt {attempt}",
                    stored.incident.id
                ))
            })?;
        self.carry_out(stored, &decided.plan, &decided.decision, decided.id)
            .await
    }

    /// Moves a planned incident on as the decision says: act, ask, rehearse, watch or escalate.
    pub(super) async fn carry_out(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
        plan: &Plan,
        decision: &Decision,
        decision_id: DecisionId,
    ) -> Result<(), EngineError> {
        let id = stored.incident.id.clone();
        let now = self.clock.now();
        match decision.verdict {
            // Deliberately doing nothing is not an escalation: watch that it passes by itself.
            Verdict::Execute | Verdict::Escalate
                if matches!(plan.action, Action::None { .. })
                    && (decision.verdict == Verdict::Execute
                        || decision.rule.starts_with("plan: none")) =>
            {
                // Deliberately doing nothing: watch that it passes by itself.
                self.go(stored, State::Acting, "no change planned", vec![])
                    .await?;
            }
            Verdict::Execute => {
                self.go(stored, State::Acting, "policy allows it", vec![])
                    .await?
            }
            Verdict::NeedsApproval => {
                let deadline = now
                    + chrono::Duration::from_std(self.policy().approval_timeout)
                        .unwrap_or(chrono::Duration::minutes(15));
                self.store
                    .request_approval(stored, Some(decision_id), now, deadline)
                    .await?;
                let _ = self.live.send(LiveEvent {
                    incident: id.clone(),
                    entry: entry(
                        now,
                        TimelineKind::Approval,
                        format!("approval requested until {deadline}"),
                        json!({}),
                    ),
                });
                self.notify(Notification::approval_needed(
                    &stored.incident,
                    plan,
                    decision,
                ));
            }
            Verdict::DryRun => {
                let report = self.actuator.dry_run(&plan.action).await;
                let msg = match &report {
                    Ok(r) => format!("dry run only: {}", r.summary),
                    Err(e) => format!("dry run failed: {e}"),
                };
                let e = entry(
                    self.clock.now(),
                    TimelineKind::DryRun,
                    msg,
                    json!({"report": report.as_ref().ok()}),
                );
                self.go(stored, State::Observed, "dry-run mode", vec![e])
                    .await?;
            }
            Verdict::Observe => {
                self.go(stored, State::Observed, "observe mode", vec![])
                    .await?
            }
            Verdict::Escalate | Verdict::Forbidden => {
                if let Ok(mut k) = self.counters.lock() {
                    k.human += 1;
                }
                self.go(
                    stored,
                    State::Escalated,
                    &format!("escalated by {}", decision.rule),
                    vec![],
                )
                .await?;
                self.notify(Notification::escalated(&stored.incident, &decision.rule));
            }
        }
        Ok(())
    }

    pub(super) async fn planned_action(
        &self,
        id: &IncidentId,
        attempt: u32,
    ) -> Result<Plan, EngineError> {
        let decisions = self.store.decisions(id).await?;
        decisions
            .into_iter()
            .rev()
            .find(|d| d.attempt == attempt)
            .map(|d| d.plan)
            .ok_or_else(|| EngineError::NotFound(format!("{id} plan for attempt {attempt}")))
    }

    pub(super) async fn act(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
    ) -> Result<(), EngineError> {
        let id = stored.incident.id.clone();
        let attempt = stored.incident.attempts;
        let plan = self.planned_action(&id, attempt).await?;
        let key = format!("{}-a{attempt}", id.0);
        let now = self.clock.now();
        // Write-ahead: the intent is durable before anything changes; after a crash the
        // record says an intent is open and the cluster's annotation says whether it ran.
        let existing = self.store.action_by_key(&key).await?;
        let intent = match &existing {
            None => {
                let intent = self
                    .record_fenced_intent(&id, attempt, &plan.action, &key, now)
                    .await?;
                self.announce(
                    &id,
                    entry(
                        now,
                        TimelineKind::Intent,
                        format!("intent {key}: {}", plan.action),
                        json!({"key": key, "action": plan.action}),
                    ),
                );
                intent
            }
            // Stopped after recording the outcome, before moving on: only the move is left.
            Some(r) if r.status == ActionStatus::Done => {
                return self
                    .go(
                        stored,
                        State::Verifying,
                        "action carried out before a restart",
                        vec![],
                    )
                    .await;
            }
            // Stopped after recording a failure: it failed, whatever happens next.
            Some(r) if r.status == ActionStatus::Failed => {
                let msg = format!(
                    "action failed: {}",
                    r.error.as_deref().unwrap_or("no reason recorded")
                );
                return self.attempt_failed(stored, msg).await;
            }
            Some(r) => {
                self.log(
                    &id,
                    entry(
                        now,
                        TimelineKind::Note,
                        format!("resuming intent {key} after a restart: {}", plan.action),
                        json!({"key": key}),
                    ),
                )
                .await?;
                r.id
            }
        };
        #[cfg(feature = "crash-test-hooks")]
        if plan.action.changes_infra() {
            super::crash_test::pause(super::PAUSE_AFTER_INTENT, &key).await;
            super::crash_test::hold(super::HOLD_AFTER_INTENT, &key).await;
        }
        // Fencing: a replica paused since it recorded the intent may have lost the lead; it
        // then neither rehearses nor records anything about the change.
        self.check_still_leads(&key, &plan.action).await?;
        // A resumed intent whose change is already on the object is not dry-run (its target
        // may be gone, as an evicted pod is): `execute` reports it already applied.
        let applied = existing.is_some()
            && self
                .actuator
                .already_applied(&plan.action, &key)
                .await
                .unwrap_or(false);
        if plan.action.changes_infra() && !applied {
            match self.actuator.dry_run(&plan.action).await {
                Ok(r) => {
                    self.log(
                        &id,
                        entry(
                            self.clock.now(),
                            TimelineKind::DryRun,
                            format!("dry run: {}", r.summary),
                            json!({"report": r}),
                        ),
                    )
                    .await?
                }
                Err(e) => {
                    let msg = format!("dry run refused: {e}");
                    self.store
                        .mark_action_failed(intent, &msg, self.clock.now())
                        .await?;
                    let note = entry(
                        self.clock.now(),
                        TimelineKind::Action,
                        msg.clone(),
                        json!({}),
                    );
                    self.go(stored, State::Escalated, "dry run failed", vec![note])
                        .await?;
                    self.notify(Notification::escalated(&stored.incident, &msg));
                    return Ok(());
                }
            }
        }
        // Fencing: a replica paused since it recorded the intent may have lost the lead.
        self.check_still_leads(&key, &plan.action).await?;
        match self.actuator.execute(&plan.action, &key).await {
            Ok(outcome) => {
                #[cfg(feature = "crash-test-hooks")]
                if plan.action.changes_infra() {
                    super::crash_test::pause(super::PAUSE_AFTER_ACTION, &key).await;
                }
                // Done as soon as the change is made, with what it touched: verification (also
                // after a restart) reads the replaced pod and the affected workloads from it.
                let recorded = serde_json::to_value(&outcome).unwrap_or_else(|_| json!({}));
                self.store
                    .mark_action_done(intent, &recorded, self.clock.now())
                    .await?;
                let e = entry(
                    self.clock.now(),
                    TimelineKind::Action,
                    format!(
                        "{}: {:?}: {}",
                        plan.action.name(),
                        outcome.status,
                        outcome.summary
                    ),
                    json!({"outcome": outcome}),
                );
                self.notify(Notification::action_taken(
                    &stored.incident,
                    &plan.action,
                    &outcome.summary,
                ));
                self.go(stored, State::Verifying, "action carried out", vec![e])
                    .await
            }
            Err(err) => {
                let msg = format!("action failed: {err}");
                self.store
                    .mark_action_failed(intent, &msg, self.clock.now())
                    .await?;
                self.attempt_failed(stored, msg).await
            }
        }
    }

    /// An action that failed uses up its attempt: back to analysis through the verification
    /// failure path, or escalated when the attempt budget is used up.
    async fn attempt_failed(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
        msg: String,
    ) -> Result<(), EngineError> {
        let e = entry(
            self.clock.now(),
            TimelineKind::Action,
            msg.clone(),
            json!({}),
        );
        stored.incident.attempts += 1;
        if stored.incident.attempts >= self.config.max_attempts {
            self.go(stored, State::Escalated, "action failed", vec![e])
                .await?;
            self.notify(Notification::escalated(&stored.incident, &msg));
            Ok(())
        } else {
            self.go(stored, State::Verifying, "action failed", vec![e])
                .await?;
            let e = entry(
                self.clock.now(),
                TimelineKind::Verification,
                "not recovered: the action failed".to_string(),
                json!({"status": "failed"}),
            );
            self.go(stored, State::Unresolved, "action failed", vec![e])
                .await
        }
    }
}
