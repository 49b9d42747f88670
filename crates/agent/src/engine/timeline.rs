//! The record of each step: timeline entries written to the store (with the incident's state
//! change, when there is one) and broadcast to live subscribers, and the wording of a few lines.

use chrono::{DateTime, Utc};
use nightshift_core::{Analyzer, IncidentId, Signal, State, TimelineEntry, TimelineKind};
use nightshift_store::StoredIncident;

use super::{Engine, EngineError, LiveEvent};

pub(super) fn entry(
    at: DateTime<Utc>,
    kind: TimelineKind,
    message: impl Into<String>,
    data: serde_json::Value,
) -> TimelineEntry {
    TimelineEntry {
        at,
        kind,
        message: message.into(),
        data,
    }
}

impl<A: Analyzer + 'static> Engine<A> {
    /// Sends an entry to live subscribers only (the store records its own).
    pub(super) fn announce(&self, id: &IncidentId, e: TimelineEntry) {
        let _ = self.live.send(LiveEvent {
            incident: id.clone(),
            entry: e,
        });
    }

    pub(super) async fn log(&self, id: &IncidentId, e: TimelineEntry) -> Result<(), EngineError> {
        self.store.append(id, &e).await?;
        let _ = self.live.send(LiveEvent {
            incident: id.clone(),
            entry: e,
        });
        Ok(())
    }

    pub(super) async fn save(
        &self,
        stored: &mut StoredIncident,
        entries: Vec<TimelineEntry>,
    ) -> Result<(), EngineError> {
        self.store.update_incident(stored, &entries).await?;
        self.remember(stored).await;
        for e in entries {
            let _ = self.live.send(LiveEvent {
                incident: stored.incident.id.clone(),
                entry: e,
            });
        }
        Ok(())
    }

    pub(super) async fn go(
        &self,
        stored: &mut StoredIncident,
        to: State,
        why: &str,
        mut extra: Vec<TimelineEntry>,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let t = stored.incident.transition(to, now, why)?;
        extra.push(t);
        self.save(stored, extra).await
    }
}

pub(super) fn describe(s: &Signal) -> String {
    s.resource
        .as_ref()
        .map(|r| r.to_string())
        .unwrap_or_default()
}

pub(super) fn summary_of(s: &StoredIncident) -> String {
    let i = &s.incident;
    format!(
        "resolved {}: {} after {} attempt(s), {}s after opening",
        i.id,
        i.category.map(|c| c.to_string()).unwrap_or_default(),
        i.attempts + 1,
        i.resolved_at
            .map(|r| (r - i.opened_at).num_seconds())
            .unwrap_or(0)
    )
}
