//! The engine among replicas: it runs only while this replica leads, takes over what the
//! record holds when it comes to lead, adopts incidents other replicas opened, and fences its
//! own actions with its term (see [`crate::lead`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nightshift_core::{Action, Analyzer, IncidentId};
use nightshift_store::{IntentId, StoreError};

use super::{Engine, EngineError};
use crate::lead::{Lead, Standing};

/// How often a leader looks for incidents that other replicas opened.
const ADOPT_EVERY: Duration = Duration::from_secs(1);

impl<A: Analyzer + 'static> Engine<A> {
    /// Says whether this replica leads. Set once, before [`Engine::start_workers`]; without
    /// it the engine leads alone.
    pub fn set_lead(&self, lead: Lead) {
        let _ = self.lead.set(lead);
    }

    /// This replica's standing.
    pub fn lead(&self) -> Lead {
        self.lead.get().cloned().unwrap_or(Lead::Alone)
    }

    /// Runs while the process does, for an elected engine: each time this replica comes to
    /// lead it resumes what the record has in flight, then adopts incidents other replicas
    /// open; when it stops leading it forgets its queue (the new leader reads the record).
    pub async fn steward(self: Arc<Self>) {
        let mut lead = self.lead();
        loop {
            let term = lead.leading().await;
            match self.resume().await {
                Ok(n) => tracing::info!(?term, resumed = n, "took the lead"),
                Err(e) => tracing::error!(error = %e, "unable to resume in-flight incidents"),
            }
            loop {
                tokio::select! {
                    () = lead.changed() => {
                        if lead.standing() == Standing::Follows {
                            tracing::info!(?term, "stopped leading");
                            self.sched.clear();
                            break;
                        }
                    }
                    () = tokio::time::sleep(ADOPT_EVERY) => self.adopt().await,
                }
            }
        }
    }

    /// Queues incidents in flight that this replica does not know yet: opened through
    /// another replica's webhook, or answered through its API.
    async fn adopt(self: &Arc<Self>) {
        let Ok(list) = self.store.in_flight().await else {
            return;
        };
        for s in list {
            if !self.sched.knows(&s.incident.id) {
                self.queue_recorded(&s.incident).await;
            }
        }
    }

    /// Stops taking new steps and waits (at most `timeout`) for the steps under way to end:
    /// on shutdown, so that leadership is handed over between steps.
    pub async fn drain(&self, timeout: Duration) {
        self.draining.store(true, Ordering::Release);
        let until = tokio::time::Instant::now() + timeout;
        while self.sched.backlog().running > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Records the write-ahead intent under this replica's term: refused when another
    /// replica leads now.
    pub(super) async fn record_fenced_intent(
        &self,
        id: &IncidentId,
        attempt: u32,
        action: &Action,
        key: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<IntentId, EngineError> {
        let result = match self.lead().standing() {
            Standing::Leads(None) => {
                self.store
                    .record_intent(id, attempt, action, key, now)
                    .await
            }
            Standing::Leads(Some(term)) => {
                self.store
                    .record_intent_in_term(id, attempt, action, key, now, term)
                    .await
            }
            Standing::Follows => {
                return Err(EngineError::Fenced(format!(
                    "the intent {key} ({action}) was not recorded: this replica no longer leads"
                )));
            }
        };
        result.map_err(|e| match e {
            StoreError::Fenced { .. } => EngineError::Fenced(format!("intent {key}: {e}")),
            e => EngineError::Store(e),
        })
    }

    /// Right before a change is made: this replica still leads in the record's current term.
    pub(super) async fn check_still_leads(
        &self,
        key: &str,
        action: &Action,
    ) -> Result<(), EngineError> {
        let term = match self.lead().standing() {
            Standing::Leads(None) => return Ok(()),
            Standing::Leads(Some(term)) => term,
            Standing::Follows => {
                return Err(EngineError::Fenced(format!(
                    "{action} (intent {key}): this replica no longer leads"
                )));
            }
        };
        match self.store.current_term().await? {
            Some((current, _)) if current == term => Ok(()),
            Some((current, holder)) => Err(EngineError::Fenced(format!(
                "{action} (intent {key}): this replica led in term {term}; {holder} leads in term {current} now"
            ))),
            None => Err(EngineError::Fenced(format!(
                "{action} (intent {key}): no leadership term on record"
            ))),
        }
    }
}
