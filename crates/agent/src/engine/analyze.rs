//! Analysis: the evidence bundle collected, the analyzer's diagnosis and plans recorded, and
//! the first plan the policy does not forbid chosen with its decision.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use nightshift_core::policy::DecisionContext;
use nightshift_core::{
    Action, Analysis, AnalysisInput, Analyzer, Decision, Evidence, IncidentId, Plan, Signal, State,
    TimelineEntry, TimelineKind, Verdict,
};
use nightshift_store::StoredIncident;
use serde_json::json;

use super::timeline::entry;
use super::{Engine, EngineError};

/// Signals read for one analysis: enough for every alert of a storm's kinds, bounded so a
/// flood does not make one analysis read a hundred thousand rows.
const MAX_SIGNALS_PER_ANALYSIS: usize = 500;

impl<A: Analyzer + 'static> Engine<A> {
    /// The incident's signals, from the signals table (every linked signal, not the sample
    /// a timeline entry keeps).
    async fn signals_of(&self, id: &IncidentId) -> Vec<Signal> {
        self.store
            .incident_signals(id, MAX_SIGNALS_PER_ANALYSIS)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(incident = %id, error = %e, "signals not read");
                Vec::new()
            })
    }

    pub(super) async fn analyze(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
    ) -> Result<(), EngineError> {
        if matches!(
            stored.incident.resource,
            nightshift_core::ResourceRef::Storm { .. }
        ) {
            return self.escalate_storm(stored).await;
        }
        let now = self.clock.now();
        let id = stored.incident.id.clone();
        if stored.incident.state == State::Unresolved {
            self.go(
                stored,
                State::Analyzing,
                "re-analyzing after an attempt that did not recover",
                vec![],
            )
            .await?;
        }
        let signals = self.signals_of(&id).await;
        let mut evidence = match self
            .collector
            .collect(&stored.incident.resource, &signals, now)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                self.log(
                    &id,
                    entry(
                        now,
                        TimelineKind::Note,
                        format!("evidence collection failed: {e}"),
                        json!({}),
                    ),
                )
                .await?;
                Evidence::default()
            }
        };
        let history = self.store.timeline(&id).await?;
        let recalled = self
            .recall(stored, &signals, &mut evidence, &history, now)
            .await;
        let round = self.store.analyses(&id).await?.len() as u32;
        self.store
            .record_evidence(&id, round, &evidence, now)
            .await?;
        let ev_entry = entry(
            now,
            TimelineKind::Evidence,
            format!(
                "{} evidence items ({} bytes, {} dropped)",
                evidence.items.len(),
                evidence.bytes,
                evidence.truncated
            ),
            json!({"items": evidence.items.len()}),
        );
        // The store records evidence, diagnoses, decisions and intents in the timeline itself;
        // the engine only announces its own wording of them live.
        self.announce(&id, ev_entry);
        if stored.incident.state == State::Collecting {
            self.go(stored, State::Analyzing, "evidence collected", vec![])
                .await?;
        }
        let history = self.store.timeline(&id).await?;
        let input = AnalysisInput {
            incident: &stored.incident,
            evidence: &evidence,
            history: &history,
        };
        let mut analysis = match self.analyzer.analyze(&input).await {
            Ok(a) => a,
            Err(e) => {
                let note = entry(
                    self.clock.now(),
                    TimelineKind::Note,
                    format!("analysis failed: {e}"),
                    json!({}),
                );
                self.go(stored, State::Escalated, "no analysis", vec![note])
                    .await?;
                return Ok(());
            }
        };
        let now = self.clock.now();
        self.propose_runbooks(&mut analysis, &history).await;
        // Last: a fault that keeps coming back goes to a person whatever would mask it again.
        self.unmask(stored, &mut analysis, recalled.as_ref(), now);
        self.store
            .record_analysis(&id, stored.incident.attempts, &analysis, now)
            .await?;
        let d = &analysis.diagnosis;
        stored.incident.category = Some(d.category);
        stored.incident.root_cause = Some(d.root_cause.clone());
        stored.incident.title = d.summary.clone();
        let mut entries = vec![entry(
            now,
            TimelineKind::Diagnosis,
            format!(
                "{} at {} (confidence {:.2}, {}): {}",
                d.category, d.root_cause, d.confidence, analysis.analyzer, d.summary
            ),
            json!({"diagnosis": d, "notes": analysis.notes}),
        )];
        let (plan, decision) = self.choose(&analysis, stored, now).await;
        entries.push(entry(
            now,
            TimelineKind::Plan,
            format!(
                "plan: {} (confidence {:.2}): {}",
                plan.action, plan.confidence, plan.rationale
            ),
            json!({"plan": plan}),
        ));
        entries.push(entry(
            now,
            TimelineKind::Decision,
            format!(
                "decision: {:?}, risk {:?}, by rule {}",
                decision.verdict, decision.risk, decision.rule
            ),
            json!({"decision": decision}),
        ));
        let decision_id = self
            .store
            .record_decision(&id, stored.incident.attempts, &plan, &decision, now)
            .await?;
        let (recorded, announced): (Vec<TimelineEntry>, Vec<TimelineEntry>) = entries
            .into_iter()
            .partition(|e| e.kind == TimelineKind::Plan);
        for e in announced {
            self.announce(&id, e);
        }
        self.go(stored, State::Planned, "plan decided", recorded)
            .await?;
        self.carry_out(stored, &plan, &decision, decision_id).await
    }

    /// The first plan the policy does not forbid, with its decision.
    async fn choose(
        &self,
        analysis: &Analysis,
        stored: &StoredIncident,
        now: DateTime<Utc>,
    ) -> (Plan, Decision) {
        let in_flight = (self.sched.backlog().total() as u32).saturating_sub(1);
        let mut last: Option<(Plan, Decision)> = None;
        for plan in &analysis.plans {
            let mut ctx = DecisionContext::new(
                now,
                stored.incident.resource.clone(),
                analysis.diagnosis.confidence,
            );
            ctx.in_flight = in_flight;
            ctx.target = crate::facts::target_facts(
                &self.client,
                &plan.action,
                &self.policy().exclude_label,
            )
            .await;
            if let Some(t) = plan.action.target() {
                // A pod's restarts count against its owner, as the budget does.
                let owner = match &plan.action {
                    Action::RestartPod { .. } => ctx.target.owner.as_ref(),
                    _ => None,
                };
                ctx.history =
                    crate::facts::history(&self.store, &t, owner, &plan.action, now).await;
            }
            ctx.ladder = self.ladder_mode(stored, analysis, &plan.action).await;
            self.runbook_facts(&mut ctx, analysis, &plan.action);
            let d = self.policy().decide(plan, &ctx);
            if d.verdict != Verdict::Forbidden {
                return (plan.clone(), d);
            }
            last = Some((plan.clone(), d));
        }
        last.unwrap_or_else(|| {
            let plan = Plan {
                action: Action::Escalate {
                    reason: "no plan".into(),
                },
                confidence: 0.0,
                rationale: "the analyzer proposed nothing".into(),
                expected_outcome: "a human looks at it".into(),
            };
            let mut ctx = DecisionContext::new(
                now,
                stored.incident.resource.clone(),
                analysis.diagnosis.confidence,
            );
            ctx.in_flight = in_flight;
            let d = self.policy().decide(&plan, &ctx);
            (plan, d)
        })
    }
}
