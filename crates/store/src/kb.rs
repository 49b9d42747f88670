//! The knowledge base: closed incidents and imported documents, searched by full text in the
//! database and ranked in Rust by [`nightshift_core::knowledge::rank`], so both dialects
//! answer alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use nightshift_core::knowledge::{self, Entry, Hit, Note, Signature, vector};

use crate::open::Pools;
use crate::{Store, StoreError, sql};

/// Full-text candidates read for one search before ranking.
const LEXICAL_CANDIDATES: i64 = 50;
/// Entries the full-text part of one search may rank at most, summed over its terms: what
/// keeps a search fast however large the knowledge base grows
/// ([`knowledge::retrieval_terms`]). Each database reads and ranks every matching entry
/// (PostgreSQL about 1.5 µs an entry, from the heap); 2,000 keep the full-text query to a
/// few milliseconds with 100,000 entries (`benches/kb.rs`). A knowledge base smaller than
/// this sends every word.
const RANKED_ENTRIES: u64 = 2_000;
/// Earlier incidents on the same resource read for one search.
const SAME_RESOURCE: i64 = 20;
/// How far back the same resource's incidents are read.
const SAME_RESOURCE_DAYS: i64 = 90;
/// Nearest entries by embedding vector read for one search, besides the full-text ones.
const SEMANTIC_CANDIDATES: usize = 50;

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
    /// The query's embedding vector, when an embeddings endpoint is configured and answered.
    pub vector: Option<QueryVector>,
}

/// A query's embedding vector.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryVector {
    /// Its space ([`vector::Embedder::space`]): only entries' vectors of the same space are
    /// compared with it.
    pub space: String,
    /// The vector (any length; the store makes it unit length).
    pub values: Vec<f32>,
}

/// The embedding vectors of each space, held in memory and compared in the agent: read whole
/// the first time a space is searched, then only what was written since (`seq` only grows).
/// Kept here rather than in a vector index of the database: pgvector is an extension most
/// PostgreSQL installations lack and SQLite has none, and both must answer alike. A brute
/// comparison of 100,000 vectors of 768 values takes tens of milliseconds and holds about
/// 300 MB, which is the size this is for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vectors(Arc<Mutex<HashMap<String, Space>>>);

/// One space's vectors: unit length, side by side in one buffer.
#[derive(Debug, Default)]
struct Space {
    seq: i64,
    dims: usize,
    ids: Vec<String>,
    at: HashMap<String, usize>,
    values: Vec<f32>,
}

impl Space {
    /// Adds or replaces one entry's vector; a vector of another size than the space's first
    /// is left out (a space is one model at one size).
    fn put(&mut self, id: String, v: Vec<f32>) {
        if self.ids.is_empty() {
            self.dims = v.len();
        }
        if v.len() != self.dims {
            return;
        }
        match self.at.get(&id) {
            Some(&i) => self.values[i * self.dims..(i + 1) * self.dims].copy_from_slice(&v),
            None => {
                self.at.insert(id.clone(), self.ids.len());
                self.ids.push(id);
                self.values.extend(v);
            }
        }
    }

    fn get(&self, id: &str) -> Option<&[f32]> {
        let i = *self.at.get(id)?;
        Some(&self.values[i * self.dims..(i + 1) * self.dims])
    }

    /// The `n` entries nearest to `q` (unit length), best first, without `exclude`.
    fn nearest(&self, q: &[f32], n: usize, exclude: Option<&str>) -> Vec<(String, f64)> {
        if q.len() != self.dims || self.dims == 0 {
            return Vec::new();
        }
        let mut all: Vec<(usize, f64)> = self
            .values
            .chunks_exact(self.dims)
            .map(|v| vector::cosine(q, v))
            .enumerate()
            .filter(|(i, _)| Some(self.ids[*i].as_str()) != exclude)
            .collect();
        let n = n.min(all.len());
        if n == 0 {
            return Vec::new();
        }
        all.select_nth_unstable_by(n - 1, |a, b| b.1.total_cmp(&a.1));
        all.truncate(n);
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.into_iter()
            .map(|(i, c)| (self.ids[i].clone(), c))
            .collect()
    }
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
        let held: HashMap<String, u64> = if terms.is_empty() {
            HashMap::new()
        } else {
            on_pool!(self, kb_term_entries(&terms))?
                .into_iter()
                .map(|(t, n)| (t, u64::try_from(n).unwrap_or(0)))
                .collect()
        };
        let entries = |t: &str| held.get(t).copied().unwrap_or(0);
        let total = entries("");
        let retrieval = knowledge::retrieval_terms(&terms, entries, RANKED_ENTRIES);
        let mut found: Vec<Entry> =
            on_pool!(self, kb_lexical(&retrieval, exclude, LEXICAL_CANDIDATES))?
                .into_iter()
                .map(|(e, _)| e)
                .collect();
        if let Some(resource) = &query.signature.resource {
            let since =
                query.before.unwrap_or_else(Utc::now) - chrono::Duration::days(SAME_RESOURCE_DAYS);
            for e in on_pool!(self, kb_on_resource(resource, since, SAME_RESOURCE))? {
                if Some(e.id.as_str()) != exclude && !found.iter().any(|c| c.id == e.id) {
                    found.push(e);
                }
            }
        }
        let semantic = match &query.vector {
            Some(q) => self.kb_semantic(q, exclude, &mut found).await?,
            None => HashMap::new(),
        };
        if let Some(before) = query.before {
            found.retain(|e| e.occurred_at <= before);
        }
        // Every candidate, however found, is scored on all the query's words with the whole
        // knowledge base's IDF; then normalized against the best, as `Hit::lexical` says.
        let docs: Vec<Vec<String>> = found
            .iter()
            .map(|e| knowledge::words(&e.index_text()))
            .collect();
        let average_len =
            docs.iter().map(Vec::len).sum::<usize>() as f64 / docs.len().max(1) as f64;
        let scores: Vec<f64> = docs
            .iter()
            .map(|d| knowledge::bm25(&terms, d, entries, total, average_len))
            .collect();
        let best = scores.iter().copied().fold(0.0_f64, f64::max);
        let lexical: HashMap<String, f64> = found
            .iter()
            .zip(&scores)
            .map(|(e, r)| (e.id.clone(), if best > 0.0 { r / best } else { 0.0 }))
            .collect();
        let text = fuse(&lexical, &semantic);
        let candidates: Vec<(Entry, f64)> = found
            .into_iter()
            .map(|e| {
                let t = text.get(&e.id).copied().unwrap_or(0.0);
                (e, t)
            })
            .collect();
        let mut hits = knowledge::rank(&query.signature, candidates);
        hits.truncate(limit);
        for h in &mut hits {
            h.lexical = lexical.get(&h.entry.id).copied().unwrap_or(0.0);
            h.semantic = semantic.get(&h.entry.id).copied();
        }
        Ok(hits)
    }

    /// The cosine of the query's vector with every candidate's that has one, after adding
    /// to `found` the nearest entries by vector that it lacks.
    async fn kb_semantic(
        &self,
        q: &QueryVector,
        exclude: Option<&str>,
        found: &mut Vec<Entry>,
    ) -> Result<HashMap<String, f64>, StoreError> {
        let Some(unit) = vector::normalized(&q.values) else {
            return Ok(HashMap::new());
        };
        self.kb_vectors_refresh(&q.space).await?;
        let nearest = {
            let spaces = self.vectors.0.lock().expect("vectors lock");
            match spaces.get(&q.space) {
                Some(space) => space.nearest(&unit, SEMANTIC_CANDIDATES, exclude),
                None => Vec::new(),
            }
        };
        let missing: Vec<String> = nearest
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| !found.iter().any(|e| &e.id == id))
            .collect();
        if !missing.is_empty() {
            found.extend(on_pool!(self, kb_get_many(&missing))?);
        }
        let spaces = self.vectors.0.lock().expect("vectors lock");
        let Some(space) = spaces.get(&q.space).filter(|s| s.dims == unit.len()) else {
            return Ok(HashMap::new());
        };
        Ok(found
            .iter()
            .filter_map(|e| Some((e.id.clone(), vector::cosine(&unit, space.get(&e.id)?))))
            .collect())
    }

    /// Reads the vectors of `space` written since it was last read.
    async fn kb_vectors_refresh(&self, space: &str) -> Result<(), StoreError> {
        let seq = {
            let spaces = self.vectors.0.lock().expect("vectors lock");
            spaces.get(space).map_or(0, |s| s.seq)
        };
        let rows = on_pool!(self, kb_vectors_after(space, seq))?;
        let mut spaces = self.vectors.0.lock().expect("vectors lock");
        let s = spaces.entry(space.to_string()).or_default();
        for (seq, id, bytes) in rows {
            // Another search may have read them meanwhile: each is taken once, in order.
            if seq <= s.seq {
                continue;
            }
            s.seq = seq;
            if let Some(v) = vector::from_bytes(&bytes) {
                s.put(id, v);
            }
        }
        Ok(())
    }

    /// Entries without a vector in `space`, or whose text changed since theirs was made,
    /// oldest first, at most `limit`: what an embeddings endpoint is asked for next.
    pub async fn kb_unembedded(&self, space: &str, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_pool!(self, kb_unembedded(space, limit))
    }

    /// Writes the vectors of `space` made for `entries` (each from
    /// [`Entry::embedding_text`]), in one transaction. A vector that is empty, all zero or
    /// not finite is refused, naming the entry, and nothing is written.
    pub async fn kb_put_vectors(
        &self,
        space: &str,
        entries: &[(&Entry, Vec<f32>)],
    ) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(entries.len());
        for (e, v) in entries {
            let unit = vector::normalized(v).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "the {space} vector of knowledge-base entry {} is empty, zero or not finite",
                    e.id
                ))
            })?;
            rows.push((
                e.id.clone(),
                vector::text_hash(&e.embedding_text()),
                vector::to_bytes(&unit),
            ));
        }
        if rows.is_empty() {
            return Ok(());
        }
        on_pool!(self, kb_vectors_put(space, &rows))
    }
}

/// The text part of each candidate's similarity: its full-text rank, or, when it and the
/// query have embedding vectors, the mean of that rank and its cosine scaled between the
/// candidates' lowest and highest (cosines of one model bunch together, 0.2 to 0.9 for
/// most; scaled, the nearest counts 1 and the farthest 0, as the lexical rank counts the
/// best 1).
fn fuse(lexical: &HashMap<String, f64>, semantic: &HashMap<String, f64>) -> HashMap<String, f64> {
    let lo = semantic.values().copied().fold(f64::INFINITY, f64::min);
    let hi = semantic.values().copied().fold(f64::NEG_INFINITY, f64::max);
    lexical
        .iter()
        .map(|(id, l)| {
            let t = match semantic.get(id) {
                Some(c) if hi - lo > 1e-9 => (l + (c - lo) / (hi - lo)) / 2.0,
                Some(_) => (l + 1.0) / 2.0,
                None => *l,
            };
            (id.clone(), t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use nightshift_core::knowledge::{Entry, EntrySource, Note, Outcome, Signature};
    use nightshift_core::{Category, ResourceRef};

    use crate::open::Pools;
    use crate::{Store, sql};

    fn entry(id: &str, words: &str) -> Entry {
        let mut signature = Signature::for_resource(&ResourceRef::deployment("shop", "cart"));
        signature.category = Some(Category::MemoryLeak);
        Entry {
            id: id.into(),
            source: EntrySource::Incident,
            title: id.into(),
            summary: words.into(),
            signature,
            actions: vec![],
            outcome: Outcome::Resolved,
            occurred_at: chrono::Utc::now(),
            mitigated_after_s: None,
            approved_by: vec![],
            services: vec![],
            notes: vec![],
            file: None,
        }
    }

    /// The counts as the store keeps them, and as a count of the entries it holds makes them.
    async fn counts(store: &Store) -> (HashMap<String, u64>, HashMap<String, u64>) {
        let entries = store.kb_list(1_000).await.unwrap();
        let mut want: HashMap<String, u64> = HashMap::new();
        for e in &entries {
            let mut words = nightshift_core::knowledge::words(&e.index_text());
            words.push(String::new());
            words.sort();
            words.dedup();
            for w in words {
                *want.entry(w).or_default() += 1;
            }
        }
        let asked: Vec<String> = want.keys().cloned().chain(["gone".to_string()]).collect();
        let kept = on_pool!(store, kb_term_entries(&asked))
            .unwrap()
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|(t, n)| (t, u64::try_from(n).unwrap()))
            .collect();
        (kept, want)
    }

    async fn word_counts_follow_writes_replacements_and_notes(store: &Store) {
        store
            .kb_put(&[
                entry("inc-1", "heap grows gone"),
                entry("inc-2", "heap grows"),
                // The same id twice in one batch: the second replaces the first.
                entry("inc-2", "readiness probe"),
            ])
            .await
            .unwrap();
        store.kb_put(&[entry("inc-1", "heap heap")]).await.unwrap();
        let note = Note {
            at: chrono::Utc::now(),
            by: "sre".into(),
            text: "probe timeout raised".into(),
        };
        assert!(store.kb_note("inc-2", &note).await.unwrap());
        let (kept, want) = counts(store).await;
        assert_eq!(kept, want);
        assert_eq!(kept[""], 2, "two entries");
        assert_eq!(kept["heap"], 1);
        assert_eq!(kept["probe"], 1);
        assert!(!kept.contains_key("gone"), "replaced words are taken back");
    }

    #[tokio::test]
    async fn word_counts_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kb.db").display().to_string())
            .await
            .unwrap();
        word_counts_follow_writes_replacements_and_notes(&store).await;
    }

    /// On the test PostgreSQL (as `tests/common` reaches it), when it answers.
    #[tokio::test]
    async fn word_counts_on_postgres() {
        const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
        let Ok(admin) = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(POSTGRES)
            .await
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{POSTGRES} is unreachable"
            );
            eprintln!("skipped: {POSTGRES} is unreachable");
            return;
        };
        let schema = format!("nst_kb_terms_{}", std::process::id());
        let sql = |s: String| sqlx::query(sqlx::AssertSqlSafe(s));
        sql(format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        let store = Store::open(&format!("{POSTGRES}?options[search_path]={schema}"))
            .await
            .unwrap();
        word_counts_follow_writes_replacements_and_notes(&store).await;
        store.close().await;
        sql(format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .unwrap();
    }
}
