//! The last step of the loop and the first of the next: an incident that ends (closed,
//! escalated or observed) becomes a knowledge-base entry, and a new incident is shown the
//! entries most like it, as past-incident evidence the analyzers weigh and as one line on its
//! record ("seen 3 times in 30 days; rollback fixed it 3 of 3 times; last on ...").

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nightshift_core::knowledge::vector::Embedder;
use nightshift_core::knowledge::{
    self, ActionTaken, Entry, EntrySource, Hit, Note, Outcome, Recall, Signature,
};
use nightshift_core::{
    Evidence, EvidenceData, EvidenceId, EvidenceItem, EvidenceKind, Incident, IncidentId, Signal,
    State, TimelineKind,
};
use nightshift_store::{ActionStatus, ApprovalStatus, KbQuery, QueryVector, Store, StoreError};

/// Similar entries a new incident is shown at most.
pub const RECALLED: usize = 3;
/// The window "seen N times" counts in.
pub const RECALL_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// The longest a search waits for the query's vector before it goes on by words alone: an
/// embeddings endpoint that is slow or down costs the incident a few seconds, never its
/// analysis.
pub const EMBED_WAIT: Duration = Duration::from_secs(10);

/// The configured embeddings endpoint, if any (`embeddings:` in the configuration).
#[derive(Clone)]
pub struct Embeddings(pub Arc<dyn Embedder>);

impl std::fmt::Debug for Embeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Embeddings").field(&self.0.space()).finish()
    }
}

impl Embeddings {
    /// The space its vectors are in.
    pub fn space(&self) -> &str {
        self.0.space()
    }

    /// One text's vector within [`EMBED_WAIT`], or why there is none.
    pub async fn one(&self, text: String) -> Result<Vec<f32>, String> {
        let texts = [text];
        match tokio::time::timeout(EMBED_WAIT, self.0.embed(&texts)).await {
            Ok(Ok(mut v)) if v.len() == 1 => Ok(v.remove(0)),
            Ok(Ok(v)) => Err(format!("{} vectors for one text", v.len())),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no answer within {EMBED_WAIT:?}")),
        }
    }

    /// Makes vectors for up to `limit` entries that lack one (or whose text changed since),
    /// oldest first, and stores them; answers how many were made. An endpoint that fails
    /// leaves the rest for the next round.
    pub async fn catch_up(&self, store: &Store, limit: usize) -> Result<usize, String> {
        let entries = store
            .kb_unembedded(self.space(), limit)
            .await
            .map_err(|e| e.to_string())?;
        if entries.is_empty() {
            return Ok(0);
        }
        let texts: Vec<String> = entries.iter().map(Entry::embedding_text).collect();
        let vectors = self.0.embed(&texts).await?;
        if vectors.len() != entries.len() {
            return Err(format!(
                "{} vectors for {} texts",
                vectors.len(),
                entries.len()
            ));
        }
        let pairs: Vec<(&Entry, Vec<f32>)> = entries.iter().zip(vectors).collect();
        store
            .kb_put_vectors(self.space(), &pairs)
            .await
            .map_err(|e| e.to_string())?;
        Ok(pairs.len())
    }
}

/// The vector of a search's text, when embeddings are configured and answer in time; else
/// `None` (the reason logged), and the search goes on by words.
pub async fn query_vector(embeddings: Option<&Embeddings>, text: String) -> Option<QueryVector> {
    let embeddings = embeddings?;
    match embeddings.one(text).await {
        Ok(values) => Some(QueryVector {
            space: embeddings.space().to_string(),
            values,
        }),
        Err(e) => {
            tracing::warn!(error = %e, space = embeddings.space(), "no embedding vector; searching by words");
            None
        }
    }
}

/// What the knowledge base said about an incident.
#[derive(Debug, Clone)]
pub struct Recalled {
    /// The best hits, best first: those shown to the analyzer.
    pub hits: Vec<Hit>,
    /// Every hit read, best first: what the counts and the recurrence check read.
    pub all: Vec<Hit>,
    /// Their sum.
    pub recall: Recall,
    /// The incident's signature as probed.
    pub signature: Signature,
}

impl Recalled {
    /// Past-incident evidence items, ids from `E<first_id>` on: one per past action (an
    /// entry with a failed restart and a verified rollback gives two), so the analyzer can
    /// raise the remedy that worked and lower the one that did not. Documents, which name no
    /// resource, are filed under `own` (the incident's resource).
    pub fn evidence(
        &self,
        first_id: usize,
        own: &nightshift_core::ResourceRef,
        now: DateTime<Utc>,
    ) -> Vec<EvidenceItem> {
        let mut out = Vec::new();
        for h in self
            .hits
            .iter()
            .filter(|h| h.similarity >= knowledge::SAME_THING)
        {
            let e = &h.entry;
            let resource = e
                .signature
                .resource
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or_else(|| own.clone());
            let category = e
                .category()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default();
            let mut push = |action: Option<&ActionTaken>, outcome: &str| {
                let what = action.map(|a| a.action.as_str()).unwrap_or("no action");
                out.push(EvidenceItem {
                    id: EvidenceId(format!("E{}", first_id + out.len())),
                    kind: EvidenceKind::PastIncident,
                    resource: resource.clone(),
                    summary: format!(
                        "{} {} ({}): {category}, {what}, {outcome}, similarity {:.2}: {}",
                        e.source.as_str(),
                        e.id,
                        e.occurred_at.format("%Y-%m-%d"),
                        h.similarity,
                        e.title
                    ),
                    data: EvidenceData::PastIncident {
                        incident: e.id.clone(),
                        category: category.clone(),
                        action: action.map(|a| a.action.as_str().to_string()),
                        outcome: outcome.to_string(),
                        similarity: h.similarity,
                    },
                    observed_at: now,
                });
            };
            let measured: Vec<&ActionTaken> =
                e.actions.iter().filter(|a| a.fixed.is_some()).collect();
            if measured.is_empty() {
                push(e.actions.first(), e.outcome.as_str());
            }
            for a in measured {
                let outcome = if a.fixed == Some(true) {
                    "resolved"
                } else {
                    "unresolved"
                };
                push(Some(a), outcome);
            }
        }
        out
    }
}

/// Looks up what the knowledge base holds like this incident, as of `now`.
pub async fn recall(
    store: &Store,
    incident: &Incident,
    signals: &[Signal],
    evidence: &Evidence,
    now: DateTime<Utc>,
    embeddings: Option<&Embeddings>,
) -> Result<Recalled, StoreError> {
    let mut signature = Signature::of(&incident.resource, signals, evidence);
    signature.category = incident.category;
    let mut query = KbQuery {
        text: incident.title.clone(),
        signature: signature.clone(),
        exclude: Some(incident.id.0.clone()),
        before: Some(now),
        vector: None,
    };
    query.vector = query_vector(
        embeddings,
        format!("{}\n{}", incident.title, signature.text()),
    )
    .await;
    // More than are shown: the line on the record counts every similar one.
    let hits = store.kb_search(&query, 20).await?;
    let recall = knowledge::recall(&hits, now, RECALL_WINDOW);
    let mut shown = hits.clone();
    shown.truncate(RECALLED);
    Ok(Recalled {
        hits: shown,
        all: hits,
        recall,
        signature,
    })
}

/// Writes (or rewrites) the knowledge-base entry of an incident that ended; `None` when it
/// has not ended (or is a storm, which is many incidents, not one).
pub async fn remember(
    store: &Store,
    id: &IncidentId,
    embeddings: Option<&Embeddings>,
) -> Result<Option<Entry>, StoreError> {
    let Some(entry) = entry_of(store, id).await? else {
        return Ok(None);
    };
    store.kb_put(std::slice::from_ref(&entry)).await?;
    if let Some(embeddings) = embeddings {
        // Best effort: an entry left without its vector is made later
        // ([`Embeddings::catch_up`]).
        match embeddings.one(entry.embedding_text()).await {
            Ok(v) => {
                store
                    .kb_put_vectors(embeddings.space(), &[(&entry, v)])
                    .await?
            }
            Err(e) => tracing::warn!(incident = %id, error = %e, "no embedding vector yet"),
        }
    }
    Ok(Some(entry))
}

/// The entry an ended incident makes, from its record.
pub async fn entry_of(store: &Store, id: &IncidentId) -> Result<Option<Entry>, StoreError> {
    let Some(stored) = store.get(id).await? else {
        return Ok(None);
    };
    let i = &stored.incident;
    let outcome_if_no_action = match i.state {
        State::Closed | State::Resolved => Outcome::Resolved,
        State::Escalated => Outcome::Escalated,
        State::Observed => Outcome::Observed,
        _ => return Ok(None),
    };
    if matches!(i.resource, nightshift_core::ResourceRef::Storm { .. }) {
        return Ok(None);
    }
    let timeline = store.timeline(id).await?;
    let signals = store.incident_signals(id, 100).await?;
    let evidence = store
        .latest_evidence(id)
        .await?
        .map(|r| r.evidence)
        .unwrap_or_default();
    let mut signature = Signature::of(&i.resource, &signals, &evidence);
    signature.category = i.category;
    // Which actions were verified: verification entries name the action's key.
    let verified = |key: &str| {
        timeline
            .iter()
            .filter(|e| e.kind == TimelineKind::Verification)
            .filter(|e| e.data.get("key").and_then(|k| k.as_str()) == Some(key))
            .find_map(|e| e.data.get("recovered").and_then(|r| r.as_bool()))
    };
    let mut actions: Vec<ActionTaken> = Vec::new();
    for a in store.actions(id).await? {
        if !a.action.changes_infra() {
            continue;
        }
        let fixed = match a.status {
            ActionStatus::Failed => Some(false),
            ActionStatus::Done => verified(&a.idempotency_key),
            ActionStatus::Intended => None,
        };
        actions.push(ActionTaken {
            action: a.action.name(),
            target: a.action.target().map(|t| t.locate_key()),
            fixed,
        });
    }
    if actions.is_empty() && i.state == State::Observed {
        // What it would have done: the last decided plan, never measured.
        if let Some(d) = store.decisions(id).await?.last()
            && d.plan.action.changes_infra()
        {
            actions.push(ActionTaken {
                action: d.plan.action.name(),
                target: d.plan.action.target().map(|t| t.locate_key()),
                fixed: None,
            });
        }
    }
    let outcome = if actions.iter().any(|a| a.fixed == Some(true)) && i.resolved_at.is_some() {
        Outcome::Resolved
    } else if actions.iter().any(|a| a.fixed == Some(false)) && i.state == State::Escalated {
        Outcome::Unresolved
    } else {
        outcome_if_no_action
    };
    let mut approved_by: Vec<String> = Vec::new();
    for ap in store.approvals(id).await? {
        if ap.status != ApprovalStatus::Approved {
            continue;
        }
        let voters = ap
            .votes
            .iter()
            .filter(|v| v.verdict == ApprovalStatus::Approved)
            .map(|v| v.by.clone());
        for who in ap.decided_by.into_iter().chain(voters) {
            if !approved_by.contains(&who) {
                approved_by.push(who);
            }
        }
    }
    let summary = store
        .analyses(id)
        .await?
        .last()
        .map(|a| {
            let d = &a.analysis.diagnosis;
            format!("{} (root cause {})", d.summary, d.root_cause)
        })
        .unwrap_or_default();
    let notes = notes(&timeline);
    Ok(Some(Entry {
        id: i.id.0.clone(),
        source: EntrySource::Incident,
        title: nightshift_core::redact::redact(&i.title),
        summary: nightshift_core::redact::redact(&summary),
        signature,
        actions,
        outcome,
        occurred_at: i.opened_at,
        mitigated_after_s: i
            .resolved_at
            .filter(|_| outcome == Outcome::Resolved)
            .map(|r| (r - i.opened_at).num_seconds().max(0) as u64),
        approved_by,
        services: Vec::new(),
        notes,
        file: None,
    }))
}

/// The notes people added to an incident, from its timeline (the note entries
/// [`add_note`] writes), oldest first.
pub fn notes(timeline: &[nightshift_core::TimelineEntry]) -> Vec<Note> {
    timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Note)
        .filter_map(|e| {
            let text = e.data.get("note")?.as_str()?;
            let by = e
                .data
                .get("by")
                .and_then(|b| b.as_str())
                .unwrap_or("someone");
            Some(Note {
                at: e.at,
                by: by.to_string(),
                text: text.to_string(),
            })
        })
        .collect()
}

/// Longest note kept, in characters.
pub const MAX_NOTE: usize = 4000;

/// Adds a person's note to an incident: on its timeline (a note entry whose data names the
/// note and who wrote it) and, when the incident is already in the knowledge base, on its
/// entry, so the words are searchable at once. The text is redacted first. Fails when there
/// is no such incident.
pub async fn add_note(
    store: &Store,
    id: &IncidentId,
    by: &str,
    text: &str,
    at: DateTime<Utc>,
) -> Result<Note, StoreError> {
    if store.get(id).await?.is_none() {
        return Err(StoreError::IncidentNotFound { id: id.clone() });
    }
    let text: String = nightshift_core::redact::redact(text.trim())
        .chars()
        .take(MAX_NOTE)
        .collect();
    let note = Note {
        at,
        by: nightshift_core::text::one_line(by, 200),
        text,
    };
    let entry = nightshift_core::TimelineEntry {
        at,
        kind: TimelineKind::Note,
        message: format!(
            "note by {}: {}",
            note.by,
            nightshift_core::text::one_line(&note.text, 200)
        ),
        data: serde_json::json!({"note": note.text, "by": note.by}),
    };
    store.append(id, &entry).await?;
    store.kb_note(&id.0, &note).await?;
    Ok(note)
}
