//! The knowledge base in the loop: what it holds like an incident goes into the incident's
//! evidence and record before analysis; a fault that came back after every remedy is handed
//! to a person; an incident that ends is remembered.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use nightshift_core::knowledge::{Recurrence, recurrence};
use nightshift_core::{
    Action, Analysis, Analyzer, Evidence, Plan, Signal, State, TimelineEntry, TimelineKind,
};
use nightshift_store::StoredIncident;
use serde_json::json;

use super::Engine;
use super::timeline::entry;
use crate::learn::{self, Recalled};

impl<A: Analyzer + 'static> Engine<A> {
    /// Looks the incident up in the knowledge base and adds the similar past incidents to its
    /// evidence; the first time, or when the answer changed, the line "seen N times ..." goes
    /// on its record. A failing lookup only costs the context.
    pub(super) async fn recall(
        self: &Arc<Self>,
        stored: &StoredIncident,
        signals: &[Signal],
        evidence: &mut Evidence,
        history: &[TimelineEntry],
        now: DateTime<Utc>,
    ) -> Option<Recalled> {
        let id = &stored.incident.id;
        let recalled =
            match learn::recall(&self.store, &stored.incident, signals, evidence, now).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(incident = %id, error = %e, "knowledge base not read");
                    return None;
                }
            };
        let items = recalled.evidence(evidence.items.len() + 1, &stored.incident.resource, now);
        evidence.bytes += items
            .iter()
            .map(|i| serde_json::to_vec(i).map_or(0, |v| v.len()))
            .sum::<usize>();
        evidence.items.extend(items);
        if let Some(line) = recalled.recall.line() {
            let said = history
                .iter()
                .rev()
                .find(|e| e.kind == TimelineKind::Note && e.data.get("recall").is_some())
                .is_some_and(|e| e.message == line);
            if !said {
                let similar: Vec<&str> =
                    recalled.hits.iter().map(|h| h.entry.id.as_str()).collect();
                let note = entry(
                    now,
                    TimelineKind::Note,
                    line,
                    json!({"recall": recalled.recall, "similar": similar}),
                );
                if let Err(e) = self.log(id, note).await {
                    tracing::warn!(incident = %id, error = %e, "recall not recorded");
                }
            }
        }
        Some(recalled)
    }

    /// When the diagnosis names a fault that the record shows coming back after each remedy
    /// (the policy's `learning.recurrence`), escalation with that finding goes first: the
    /// remedy would mask it once more.
    pub(super) fn unmask(
        &self,
        stored: &StoredIncident,
        analysis: &mut Analysis,
        recalled: Option<&Recalled>,
        now: DateTime<Utc>,
    ) -> Option<Recurrence> {
        let recalled = recalled?;
        let limit = self.policy().learning.recurrence;
        let resource = stored.incident.resource.to_string();
        let found = recurrence(
            &recalled.all,
            analysis.diagnosis.category,
            &resource,
            now,
            limit,
        )?;
        let first_changes = analysis
            .plans
            .first()
            .is_some_and(|p| p.action.changes_infra());
        if !first_changes {
            return None;
        }
        let reason = found.reason();
        analysis
            .plans
            .retain(|p| !matches!(p.action, Action::Escalate { .. }));
        analysis.plans.insert(
            0,
            Plan {
                action: Action::Escalate {
                    reason: reason.clone(),
                },
                confidence: analysis.diagnosis.confidence.max(0.9),
                rationale: reason.clone(),
                expected_outcome: "a person finds and fixes the cause the remedy keeps masking"
                    .into(),
            },
        );
        analysis.notes.push(reason);
        Some(found)
    }

    /// Remembers an incident that ended (closed, escalated, observed) in the knowledge base.
    pub(super) async fn remember(&self, stored: &StoredIncident) {
        if !matches!(
            stored.incident.state,
            State::Closed | State::Escalated | State::Observed
        ) {
            return;
        }
        let id = &stored.incident.id;
        match learn::remember(&self.store, id).await {
            Ok(Some(e)) => {
                tracing::debug!(incident = %id, outcome = e.outcome.as_str(), "remembered")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(incident = %id, error = %e, "not remembered"),
        }
    }
}
