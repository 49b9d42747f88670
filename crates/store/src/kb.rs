//! The knowledge base: closed incidents and imported documents, searched by full text in the
//! database and ranked in Rust by [`nightshift_core::knowledge::rank`], so both dialects
//! answer alike.

use chrono::{DateTime, Utc};
use nightshift_core::knowledge::{self, Entry, Hit, Note, Signature};

use crate::open::Pools;
use crate::{Store, StoreError, sql};

/// Full-text candidates read for one search before ranking.
const LEXICAL_CANDIDATES: i64 = 50;
/// Earlier incidents on the same resource read for one search.
const SAME_RESOURCE: i64 = 20;
/// How far back the same resource's incidents are read.
const SAME_RESOURCE_DAYS: i64 = 90;

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct KbQuery {
    /// Free text (a person's words, or the incident's title).
    pub text: String,
    /// The incident's signature, when the query is for an incident.
    pub signature: Signature,
    /// An entry to leave out (the incident asking).
    pub exclude: Option<String>,
    /// Newest entry time to consider (an incident does not learn from what came after it).
    pub before: Option<DateTime<Utc>>,
}

impl Store {
    /// Writes entries, new or replacing those with the same id, in one transaction: all of
    /// them or, on any error, none.
    pub async fn kb_put(&self, entries: &[Entry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        on_pool!(self, kb_put(entries))
    }

    /// One entry by id (`inc-000012`, `doc/checkout-oom`).
    pub async fn kb_get(&self, id: &str) -> Result<Option<Entry>, StoreError> {
        on_pool!(self, kb_get(id))
    }

    /// Adds a person's note to an entry (its words become searchable); `false` when there is
    /// no entry of that id.
    pub async fn kb_note(&self, id: &str, note: &Note) -> Result<bool, StoreError> {
        on_pool!(self, kb_note(id, note))
    }

    /// Entries, newest first.
    pub async fn kb_list(&self, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_pool!(self, kb_list(limit))
    }

    /// How many entries the knowledge base holds.
    pub async fn kb_count(&self) -> Result<u64, StoreError> {
        on_pool!(self, kb_count())
    }

    /// The entries most like the query, best first, at most `limit`: full-text candidates
    /// (the query's words and its signature's) and earlier incidents on the same resource,
    /// ranked by [`knowledge::similarity`].
    pub async fn kb_search(&self, query: &KbQuery, limit: usize) -> Result<Vec<Hit>, StoreError> {
        let terms = knowledge::query_terms(&format!("{}\n{}", query.text, query.signature.text()));
        let exclude = query.exclude.as_deref();
        let lexical = on_pool!(self, kb_lexical(&terms, exclude, LEXICAL_CANDIDATES))?;
        let best = lexical.iter().map(|(_, r)| *r).fold(0.0_f64, f64::max);
        let mut candidates: Vec<(Entry, f64)> = lexical
            .into_iter()
            .map(|(e, r)| (e, if best > 0.0 { r / best } else { 0.0 }))
            .collect();
        if let Some(resource) = &query.signature.resource {
            let since =
                query.before.unwrap_or_else(Utc::now) - chrono::Duration::days(SAME_RESOURCE_DAYS);
            for e in on_pool!(self, kb_on_resource(resource, since, SAME_RESOURCE))? {
                if Some(e.id.as_str()) != exclude && !candidates.iter().any(|(c, _)| c.id == e.id) {
                    candidates.push((e, 0.0));
                }
            }
        }
        if let Some(before) = query.before {
            candidates.retain(|(e, _)| e.occurred_at <= before);
        }
        let mut hits = knowledge::rank(&query.signature, candidates);
        hits.truncate(limit);
        Ok(hits)
    }
}
