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

use nightshift_core::policy::Mode;
use nightshift_core::trust::{Event, Fate};

use super::Engine;

/// Entries embedded per request while catching up.
const EMBED_BATCH: usize = 32;
/// How often the knowledge base is checked for entries without a vector.
const EMBED_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
use super::timeline::entry;
use crate::learn::{self, Recalled};
use crate::trust;

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
        let recalled = match learn::recall(
            &self.store,
            &stored.incident,
            signals,
            evidence,
            now,
            self.config.embeddings.as_ref(),
        )
        .await
        {
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
        match learn::remember(&self.store, id, self.config.embeddings.as_ref()).await {
            Ok(Some(e)) => {
                tracing::debug!(incident = %id, outcome = e.outcome.as_str(), "remembered")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(incident = %id, error = %e, "not remembered"),
        }
    }

    /// Makes the embedding vectors the knowledge base lacks (entries written while the
    /// endpoint was down, imported documents, entries whose text changed), a batch at a time,
    /// at start and then every [`EMBED_EVERY`]. Runs until aborted, while this replica leads.
    pub(super) async fn embed_backlog(self: Arc<Self>) {
        let Some(embeddings) = self.config.embeddings.clone() else {
            return;
        };
        loop {
            if self.lead().standing() != crate::lead::Standing::Follows {
                loop {
                    match embeddings.catch_up(&self.store, EMBED_BATCH).await {
                        Ok(n) if n == EMBED_BATCH => continue,
                        Ok(n) => {
                            if n > 0 {
                                tracing::info!(
                                    vectors = n,
                                    space = embeddings.space(),
                                    "knowledge base embedded"
                                );
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, space = embeddings.space(), "knowledge-base vectors not made; trying again later")
                        }
                    }
                    break;
                }
            }
            // Real time: the endpoint's pace is the world's, not the simulated cluster's.
            tokio::time::sleep(EMBED_EVERY).await;
        }
    }

    /// The mode the trust ladder sets for a plan's row, if it sets one.
    pub(super) async fn ladder_mode(
        &self,
        stored: &StoredIncident,
        analysis: &Analysis,
        action: &Action,
    ) -> Option<(Mode, String)> {
        let row = trust::row_for(
            action,
            &stored.incident.resource,
            analysis.diagnosis.category,
        )?;
        trust::mode_for(&self.store, &self.policy(), &row)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(incident = %stored.incident.id, error = %e, "trust ladder not read");
                None
            })
    }

    /// Records the fate of the incident's plan (`action`, else the last decided one) on the
    /// trust ladder; a change of the row's mode goes on the incident's record (and out to
    /// whoever hears of trust changes).
    pub(super) async fn fate(
        &self,
        stored: &StoredIncident,
        action: Option<&Action>,
        fate: Fate,
        by: &str,
        detail: String,
    ) {
        let id = &stored.incident.id;
        let Some(category) = stored.incident.category else {
            return;
        };
        let action = match action {
            Some(a) => a.clone(),
            None => match self.store.decisions(id).await {
                Ok(d) => match d.last() {
                    Some(d) => d.plan.action.clone(),
                    None => return,
                },
                Err(e) => {
                    tracing::warn!(incident = %id, error = %e, "decisions not read");
                    return;
                }
            },
        };
        let Some(row) = trust::row_for(&action, &stored.incident.resource, category) else {
            return;
        };
        let event = Event {
            row,
            incident: id.0.clone(),
            fate,
            at: self.clock.now(),
            by: by.to_string(),
            detail,
        };
        match trust::record(&self.store, &self.policy(), &event).await {
            Ok(Some(change)) => {
                let verb = if change.to > change.from {
                    "promoted"
                } else {
                    "demoted"
                };
                let note = entry(
                    event.at,
                    TimelineKind::Note,
                    format!(
                        "trust ladder: {} {verb} from {} to {}: {}",
                        change.row, change.from, change.to, change.reason
                    ),
                    json!({ nightshift_core::notice::TRUST_CHANGE_KEY: change }),
                );
                if let Err(e) = self.log(id, note).await {
                    tracing::warn!(incident = %id, error = %e, "trust change not noted");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(incident = %id, error = %e, "fate not recorded"),
        }
    }

    /// Watches observed proposals for a person making the change (or another one) on the
    /// cluster, within the agreement window, and records the fate. Runs until aborted, while
    /// this replica leads.
    pub(super) async fn watch_agreements(self: Arc<Self>) {
        let every = self.config.poll.max(std::time::Duration::from_secs(15));
        loop {
            self.clock.sleep(every).await;
            if self.lead().standing() == crate::lead::Standing::Follows {
                continue;
            }
            let filter = nightshift_store::IncidentFilter {
                state: Some(State::Observed),
                limit: Some(200),
                ..Default::default()
            };
            let observed = match self.store.list(&filter).await {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(error = %e, "observed incidents not read");
                    continue;
                }
            };
            for stored in observed {
                if let Err(e) = self.agreement(&stored).await {
                    tracing::warn!(incident = %stored.incident.id, error = %e, "agreement not checked");
                }
            }
        }
    }

    /// One observed incident: a person's change to its proposal's target since the proposal
    /// is its fate (agreed when it is the same change), once.
    async fn agreement(&self, stored: &StoredIncident) -> Result<(), super::EngineError> {
        let id = &stored.incident.id;
        let window = chrono::Duration::from_std(self.config.agreement_window).unwrap_or_default();
        // Observed at its last update, after its decision: past the window, nothing to read.
        if self.clock.now() > stored.incident.updated_at + window {
            return Ok(());
        }
        let Some(d) = self.store.decisions(id).await?.pop() else {
            return Ok(());
        };
        let now = self.clock.now();
        if !d.plan.action.changes_infra() || now > d.decided_at + window {
            return Ok(());
        }
        let timeline = self.store.timeline(id).await?;
        if timeline
            .iter()
            .any(|e| e.kind == TimelineKind::Note && e.data.get(FATE_KEY).is_some())
        {
            return Ok(());
        }
        let changes = match crate::agreement::changes_since(
            &self.client,
            &d.plan.action,
            d.decided_at,
            trust::AGENT,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(incident = %id, error = %e, "target not read for agreement");
                return Ok(());
            }
        };
        let Some(c) = changes
            .iter()
            .find(|c| c.change.matches(&d.plan.action))
            .or_else(|| changes.first())
        else {
            return Ok(());
        };
        let agreed = c.change.matches(&d.plan.action);
        let fate = if agreed {
            Fate::Agreed
        } else {
            Fate::Disagreed
        };
        let detail = format!(
            "{} {} after the proposal {}",
            c.manager,
            c.change.describe(),
            d.plan.action
        );
        let note = entry(
            now,
            TimelineKind::Note,
            if agreed {
                format!("a person made the proposed change: {detail}")
            } else {
                format!("a person made another change: {detail}")
            },
            json!({ FATE_KEY: {"fate": fate, "by": c.manager, "at": c.at, "change": format!("{:?}", c.change)} }),
        );
        self.log(id, note).await?;
        self.fate(stored, Some(&d.plan.action), fate, &c.manager, detail)
            .await;
        Ok(())
    }
}

/// The `data` key of a note that records a proposal's fate (a person's change, a mark).
pub const FATE_KEY: &str = "trust_fate";
