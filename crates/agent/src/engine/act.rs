//! Acting on a decision: carried out as the verdict says (act, ask a human, rehearse, watch or
//! escalate), approvals waited for and answered, and the action itself: the write-ahead intent,
//! the dry run, the change, and a failed attempt's way back to analysis or escalation.

use std::sync::Arc;

use nightshift_core::{Action, Analyzer, Decision, IncidentId, Plan, State, TimelineKind, Verdict};
use nightshift_store::{ActionStatus, ApprovalAnswer, DecisionId, StoredIncident};
use serde_json::json;

use nightshift_core::trust::Fate;

use super::timeline::entry;
use super::{Engine, EngineError, LiveEvent};

impl<A: Analyzer + 'static> Engine<A> {
    /// A human's answer to a pending approval, recorded as `by` (the authenticated identity:
    /// a token's name, `slack:<user id>`, ...). Returns the incident's state after it:
    /// approved or rejected once decided, still awaiting approval after an approval short of
    /// the policy's `min_approvers` for the plan's risk. See [`record_answer`] for the checks
    /// and the errors.
    pub async fn answer(
        self: &Arc<Self>,
        id: &IncidentId,
        approve: bool,
        by: &str,
        reason: Option<String>,
    ) -> Result<State, EngineError> {
        let vote = self.vote(id, approve, by, reason).await?;
        Ok(vote.incident().incident.state)
    }

    /// [`Engine::answer`], returning what the vote did (who approved so far, how many are
    /// needed).
    pub async fn vote(
        self: &Arc<Self>,
        id: &IncidentId,
        approve: bool,
        by: &str,
        reason: Option<String>,
    ) -> Result<nightshift_store::VoteOutcome, EngineError> {
        let answer = ApprovalAnswer {
            approve,
            by: by.to_string(),
            // A person's reason is free text: a pasted command can carry a credential.
            reason: reason.map(|r| crate::redact::redact(&r)),
            at: self.clock.now(),
        };
        let outcome = record_answer(&self.store, &self.policy(), id, &answer).await;
        match &outcome {
            // Approved or rejected: the loop carries on from here.
            Ok(nightshift_store::VoteOutcome::Decided { .. }) => self.spawn(id.clone()),
            // Expired as the answer came: the loop escalates it now.
            Err(EngineError::NotAwaiting {
                state: State::Expired,
                ..
            }) => self.spawn(id.clone()),
            Ok(nightshift_store::VoteOutcome::Waiting {
                approvers,
                required,
                ..
            }) => {
                let left = (*required as usize).saturating_sub(approvers.len());
                let waiting = if left == 1 {
                    "another approver".to_string()
                } else {
                    format!("{left} more approvers")
                };
                self.announce(
                    id,
                    entry(
                        answer.at,
                        TimelineKind::Approval,
                        format!(
                            "approved by {by} ({} of {required}); waiting for {waiting}",
                            approvers.len()
                        ),
                        json!({"by": by, "votes": approvers.len(), "required": required}),
                    ),
                )
            }
            _ => {}
        }
        outcome
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
        if fresh.incident.state == State::AwaitingApproval {
            self.page_if_waiting_long(id, now).await?;
        }
        Ok((fresh.incident.state == State::AwaitingApproval)
            .then(|| now + chrono::Duration::from_std(self.config.poll).unwrap_or_default()))
    }

    /// An answered approval: approved goes on to act; rejected or expired goes to a human.
    pub(super) async fn approval_answered(
        &self,
        stored: &mut StoredIncident,
    ) -> Result<(), EngineError> {
        if matches!(stored.incident.state, State::Approved | State::Rejected) {
            let approved = stored.incident.state == State::Approved;
            let by = self
                .store
                .approvals(&stored.incident.id)
                .await?
                .pop()
                .and_then(|a| a.decided_by)
                .unwrap_or_else(|| "someone".into());
            let (fate, verb) = if approved {
                (Fate::Approved, "approved")
            } else {
                (Fate::Rejected, "rejected")
            };
            self.fate(stored, None, fate, &by, format!("{verb} by {by}"))
                .await;
        }
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
            }
            State::Expired => {
                self.go(stored, State::Escalated, "nobody approved in time", vec![])
                    .await?;
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
                if let Action::RunRunbook { name, .. } = &plan.action {
                    return self.runbook_failed(stored, name, msg, Vec::new()).await;
                }
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
            match self.actuator.dry_run_for(&plan.action, &key).await {
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
                        json!({"jobs": crate::act::failed_jobs(&e)}),
                    );
                    self.go(stored, State::Escalated, "dry run failed", vec![note])
                        .await?;
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
                self.go(stored, State::Verifying, "action carried out", vec![e])
                    .await
            }
            Err(err) => {
                let msg = format!("action failed: {err}");
                self.store
                    .mark_action_failed(intent, &msg, self.clock.now())
                    .await?;
                if let Action::RunRunbook { name, .. } = &plan.action {
                    let jobs = crate::act::failed_jobs(&err);
                    return self.runbook_failed(stored, name, msg, jobs).await;
                }
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
        self.fate(stored, None, Fate::Failed, crate::trust::AGENT, msg.clone())
            .await;
        stored.incident.attempts += 1;
        if stored.incident.attempts >= self.config.max_attempts {
            self.go(stored, State::Escalated, "action failed", vec![e])
                .await?;
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

/// Records `answer` to the incident's pending approval on `store`, as `policy` allows: the
/// check behind every way of answering (the API, chat, `nightshift approve --as` on the
/// record), so none can bypass it.
///
/// - Requests past their deadline are expired first; the incident must still await approval
///   ([`EngineError::NotAwaiting`] otherwise, also when it was answered meanwhile).
/// - Where the policy's `approvers` cover the incident's namespace (or, for an incident with
///   no namespace, `cluster: true` rules), only the identities they list may answer
///   ([`EngineError::NotAnApprover`]); elsewhere anyone the caller authenticated may.
/// - An approval counts towards the `min_approvers` of the risk the policy gave the plan (the
///   decision the request was opened for; the highest count when that is not known); a
///   second approval by the same identity is refused ([`EngineError::AlreadyApproved`]) and
///   records nothing. A rejection rejects at once.
pub async fn record_answer(
    store: &nightshift_store::Store,
    policy: &nightshift_core::policy::Policy,
    id: &IncidentId,
    answer: &ApprovalAnswer,
) -> Result<nightshift_store::VoteOutcome, EngineError> {
    use nightshift_store::{ApprovalStatus, StoreError, VoteOutcome};
    store.expire_approvals(answer.at).await?;
    let stored = store
        .get(id)
        .await?
        .ok_or_else(|| EngineError::NotFound(id.0.clone()))?;
    if stored.incident.state != State::AwaitingApproval {
        return Err(EngineError::NotAwaiting {
            id: id.0.clone(),
            state: stored.incident.state,
        });
    }
    let namespace = stored.incident.resource.namespace();
    if let Some(approvers) = policy.approvers_for(namespace)
        && !approvers.contains(&answer.by)
    {
        return Err(EngineError::NotAnApprover {
            who: answer.by.clone(),
            namespace: namespace.map(str::to_string),
            rules: approvers.rules,
        });
    }
    let decision = store
        .approvals(id)
        .await?
        .into_iter()
        .rev()
        .find(|a| a.status == ApprovalStatus::Pending)
        .and_then(|a| a.decision);
    let risk = match decision {
        Some(decision) => store
            .decisions(id)
            .await?
            .into_iter()
            .find(|d| d.id == decision)
            .map(|d| d.decision.risk),
        None => None,
    };
    let required = policy.required_approvals(risk);
    match store.vote_approval(id, answer, required).await {
        Ok(VoteOutcome::AlreadyApproved {
            approvers,
            required,
            ..
        }) => Err(EngineError::AlreadyApproved {
            id: id.0.clone(),
            who: answer.by.clone(),
            votes: u32::try_from(approvers.len()).unwrap_or(u32::MAX),
            required,
        }),
        Ok(outcome) => Ok(outcome),
        // Decided or expired between the check and the vote.
        Err(StoreError::NoPendingApproval { .. }) => {
            let state = store
                .get(id)
                .await?
                .map_or(State::AwaitingApproval, |s| s.incident.state);
            Err(EngineError::NotAwaiting {
                id: id.0.clone(),
                state,
            })
        }
        Err(e) => Err(e.into()),
    }
}
