//! Delivering the outbox: one task per destination reads its pending rows in order and
//! delivers each, at least once. A failure worth retrying (the destination is down, slow,
//! rate-limiting) holds the destination's queue and is tried again with exponential back-off
//! on the agent's clock, for as long as `give_up_after`; a refusal of the request itself is
//! tried `refused_tries` times. Either way the outcome is recorded on the row, a notification
//! given up on also on the incident's timeline, and all of it counted for `/metrics`.
//!
//! Only the leader delivers; a new leader takes the queue where the record says it is. A
//! delivery is recorded after it is made, so a crash in between repeats it: destinations
//! update in place (chat messages) or pass a dedup key (webhooks, PagerDuty).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_core::policy::{Criticality, Policy};
use nightshift_core::{TimelineEntry, TimelineKind};
use nightshift_store::{NoticeStatus, PendingNotice, Store, StoreError};
use tokio::sync::broadcast;

use super::{Destination, Routing, Subject};
use crate::clock::Clock;
use crate::engine::LiveEvent;
use crate::lead::{Lead, Standing};

/// How the outbox delivers.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How often an idle destination looks for new rows written by another replica (real
    /// time; rows written here wake it at once).
    pub poll: Duration,
    /// The first wait after a failed try (agent clock).
    pub backoff_min: Duration,
    /// The longest wait between tries (agent clock).
    pub backoff_max: Duration,
    /// How long a notification is retried while its destination is unreachable.
    pub give_up_after: Duration,
    /// How many times a request the destination refuses (a 4xx) is tried.
    pub refused_tries: u32,
    /// The longest one delivery may take (real time).
    pub timeout: Duration,
    /// The incident page of the web console is `{console_url}/incidents/{id}`.
    pub console_url: Option<String>,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            poll: Duration::from_secs(1),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            give_up_after: Duration::from_secs(24 * 3600),
            refused_tries: 3,
            timeout: Duration::from_secs(15),
            console_url: None,
        }
    }
}

/// Counts per destination, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationCounts {
    /// The destination's kind.
    pub kind: &'static str,
    /// Notifications delivered.
    pub delivered: u64,
    /// Tries that failed and will be repeated.
    pub failed_tries: u64,
    /// Notifications given up on.
    pub given_up: u64,
    /// Notifications routing kept from it.
    pub skipped: u64,
    /// The last failure, if the last try failed.
    pub last_error: Option<String>,
}

/// The policy in force, read at each delivery (it can change while the agent runs).
pub type PolicySource = Arc<dyn Fn() -> Arc<Policy> + Send + Sync>;

/// Delivers every destination's queue.
pub struct Outbox {
    store: Store,
    clock: Arc<dyn Clock>,
    destinations: Vec<Arc<Destination>>,
    routing: Routing,
    policy: PolicySource,
    settings: OutboxSettings,
    counts: Mutex<BTreeMap<String, DestinationCounts>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("destinations", &self.destinations)
            .field("routing", &self.routing)
            .finish_non_exhaustive()
    }
}

/// What one delivery came to.
enum Step {
    /// Recorded (delivered, skipped or given up on): on to the next.
    Done,
    /// Failed, to be tried again after a wait (the destination's own, if it said).
    Retry(Option<Duration>),
}

impl Outbox {
    /// An outbox delivering to `destinations` as `routing` says, after registering them with
    /// the store so that new steps are queued for each.
    pub async fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        destinations: Vec<Destination>,
        routing: Routing,
        policy: PolicySource,
        settings: OutboxSettings,
    ) -> Result<Arc<Outbox>, StoreError> {
        let names: Vec<String> = destinations.iter().map(|d| d.name().to_string()).collect();
        store.set_notice_destinations(&names, clock.now()).await?;
        let counts = destinations
            .iter()
            .map(|d| {
                (
                    d.name().to_string(),
                    DestinationCounts {
                        kind: d.kind(),
                        ..Default::default()
                    },
                )
            })
            .collect();
        Ok(Arc::new(Outbox {
            store,
            clock,
            destinations: destinations.into_iter().map(Arc::new).collect(),
            routing,
            policy,
            settings,
            counts: Mutex::new(counts),
        }))
    }

    /// The destinations.
    pub fn destinations(&self) -> &[Arc<Destination>] {
        &self.destinations
    }

    /// Counts per destination so far.
    pub fn counts(&self) -> BTreeMap<String, DestinationCounts> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The link to an incident in the web console, when its URL is configured.
    pub fn link(&self, incident: &nightshift_core::IncidentId) -> Option<String> {
        self.settings
            .console_url
            .as_ref()
            .map(|u| format!("{}/incidents/{}", u.trim_end_matches('/'), incident))
    }

    /// Starts one delivery task per destination. `live` wakes them when a step is recorded
    /// here; `lead` says when this replica may deliver.
    pub fn start(
        self: &Arc<Self>,
        lead: Lead,
        live: impl Fn() -> broadcast::Receiver<LiveEvent>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.destinations
            .iter()
            .map(|d| tokio::spawn(self.clone().run(d.clone(), lead.clone(), live())))
            .collect()
    }

    async fn run(
        self: Arc<Self>,
        dest: Arc<Destination>,
        mut lead: Lead,
        mut live: broadcast::Receiver<LiveEvent>,
    ) {
        let mut backoff = self.settings.backoff_min;
        loop {
            lead.leading().await;
            let batch = match self.store.pending_notices(dest.name(), 64).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(destination = dest.name(), error = %e, "unable to read the outbox");
                    tokio::time::sleep(self.settings.poll).await;
                    continue;
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = live.recv() => {}
                    () = tokio::time::sleep(self.settings.poll) => {}
                    () = lead.changed() => {}
                }
                continue;
            }
            for p in batch {
                if lead.standing() == Standing::Follows {
                    break;
                }
                match self.deliver_one(&dest, &p).await {
                    Step::Done => backoff = self.settings.backoff_min,
                    Step::Retry(asked) => {
                        let wait = asked.unwrap_or(backoff).min(self.settings.backoff_max);
                        backoff = (backoff * 2).min(self.settings.backoff_max);
                        self.clock.sleep(wait).await;
                        break;
                    }
                }
            }
        }
    }

    async fn deliver_one(&self, dest: &Destination, p: &PendingNotice) -> Step {
        let name = dest.name();
        let subject = match self.subject(p).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return self
                    .finish(name, p, NoticeStatus::Skipped, Some("incident gone"))
                    .await;
            }
            Err(e) => {
                tracing::warn!(destination = name, error = %e, "unable to read the incident to notify");
                return Step::Retry(None);
            }
        };
        if !dest.wants(p.event) || !self.routing.allows(name, &subject) {
            self.count(name, |c| c.skipped += 1);
            return self
                .finish(name, p, NoticeStatus::Skipped, Some("not routed here"))
                .await;
        }
        let kept = match self.store.notice_ref(name, &p.incident).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(destination = name, error = %e, "unable to read the outbox");
                return Step::Retry(None);
            }
        };
        if !dest.would_send(&subject, kept.as_deref()) {
            self.count(name, |c| c.skipped += 1);
            return self
                .finish(name, p, NoticeStatus::Skipped, Some("nothing to send"))
                .await;
        }
        let outcome = tokio::time::timeout(
            self.settings.timeout,
            dest.deliver(&subject, kept.as_deref()),
        )
        .await
        .unwrap_or_else(|_| {
            Err(super::DeliveryError::transient(format!(
                "no answer within {}s",
                self.settings.timeout.as_secs()
            )))
        });
        match outcome {
            Ok(done) => {
                if let Some(keep) = &done.keep
                    && let Err(e) = self.store.set_notice_ref(name, &p.incident, keep).await
                {
                    tracing::warn!(destination = name, error = %e, "unable to keep a message id");
                }
                self.count(name, |c| {
                    c.delivered += 1;
                    c.last_error = None;
                });
                self.finish(name, p, NoticeStatus::Delivered, None).await
            }
            Err(e) => {
                let tries = p.attempts + 1;
                let age = (self.clock.now() - p.created_at)
                    .to_std()
                    .unwrap_or_default();
                let give_up = if e.retry {
                    age >= self.settings.give_up_after
                } else {
                    tries >= self.settings.refused_tries
                };
                tracing::warn!(
                    destination = name,
                    incident = %p.incident,
                    event = %p.event,
                    tries,
                    give_up,
                    error = %e,
                    "notification not delivered"
                );
                self.count(name, |c| {
                    c.last_error = Some(e.message.clone());
                    if give_up {
                        c.given_up += 1;
                    } else {
                        c.failed_tries += 1;
                    }
                });
                if give_up {
                    let note = TimelineEntry {
                        at: self.clock.now(),
                        kind: TimelineKind::Notification,
                        message: format!(
                            "notification ({}) to {name} given up after {tries} tries: {}",
                            p.event, e.message
                        ),
                        data: serde_json::json!({
                            "destination": name,
                            "seq": p.seq,
                            "event": p.event,
                            "error": e.message,
                        }),
                    };
                    if let Err(err) = self.store.append(&p.incident, &note).await {
                        tracing::warn!(error = %err, "unable to record a failed notification");
                    }
                    self.finish(name, p, NoticeStatus::Failed, Some(&e.message))
                        .await
                } else {
                    let _ = self
                        .store
                        .finish_notice(
                            name,
                            p.seq,
                            NoticeStatus::Pending,
                            Some(&e.message),
                            self.clock.now(),
                        )
                        .await;
                    Step::Retry(e.retry_after)
                }
            }
        }
    }

    async fn finish(
        &self,
        name: &str,
        p: &PendingNotice,
        status: NoticeStatus,
        error: Option<&str>,
    ) -> Step {
        match self
            .store
            .finish_notice(name, p.seq, status, error, self.clock.now())
            .await
        {
            Ok(_) => Step::Done,
            Err(e) => {
                tracing::warn!(destination = name, error = %e, "unable to record a delivery");
                Step::Retry(None)
            }
        }
    }

    fn count(&self, name: &str, f: impl FnOnce(&mut DestinationCounts)) {
        if let Ok(mut c) = self.counts.lock()
            && let Some(c) = c.get_mut(name)
        {
            f(c);
        }
    }

    /// The step with the incident as it stands now; `None` when the incident is gone.
    async fn subject(&self, p: &PendingNotice) -> Result<Option<Subject>, StoreError> {
        let id = &p.incident;
        let Some(stored) = self.store.get(id).await? else {
            return Ok(None);
        };
        let analysis = self.store.analyses(id).await?.pop().map(|a| a.analysis);
        let evidence = match (&analysis, self.store.latest_evidence(id).await?) {
            (Some(a), Some(round)) => round
                .evidence
                .items
                .into_iter()
                .filter(|i| a.diagnosis.evidence.contains(&i.id))
                .collect(),
            _ => vec![],
        };
        let decision = self.store.decisions(id).await?.pop();
        let approval = self.store.approvals(id).await?.pop();
        let actions = self.store.actions(id).await?;
        let timeline = self.store.timeline(id).await?;
        let dry_run = timeline
            .iter()
            .rev()
            .find(|e| e.kind == TimelineKind::DryRun)
            .map(|e| e.data.get("report").cloned().unwrap_or(e.data.clone()));
        let verification = timeline
            .iter()
            .rev()
            .find(|e| e.kind == TimelineKind::Verification)
            .cloned();
        let history = timeline
            .iter()
            .rev()
            .find(|e| e.kind == TimelineKind::Note && e.data.get("recall").is_some())
            .map(|e| e.message.clone());
        let criticality = stored
            .incident
            .resource
            .namespace()
            .and_then(|ns| (self.policy)().criticality.namespaces.get(ns).copied())
            .unwrap_or(Criticality::Low);
        Ok(Some(Subject {
            seq: p.seq,
            event: p.event,
            entry: p.entry.clone(),
            link: self.link(id),
            incident: stored.incident,
            criticality,
            analysis,
            evidence,
            decision,
            approval,
            actions,
            dry_run,
            verification,
            history,
        }))
    }
}
