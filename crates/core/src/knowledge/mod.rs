//! The knowledge base's domain: what an entry is (a closed incident, or an imported
//! postmortem or runbook document), the signature that makes two incidents alike, the words
//! that are indexed, how a lexical rank and structured matches fuse into one similarity, and
//! what the record of similar incidents says ("seen 3 times in 30 days; rollback fixed
//! it 3 of 3 times").
//!
//! Retrieval itself (full-text ranking) is the store's; everything here is plain values, so
//! that SQLite and PostgreSQL rank the same words and fuse them the same way.

pub mod document;
mod recall;
mod signature;
pub mod vector;
mod words;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::{ActionName, Category};

pub use document::{DocumentError, parse_document};
pub use recall::{
    ActionRecord, Recall, Recurrence, RecurrenceLimit, SAME_THING, recall, recurrence,
};
pub use signature::{Signature, log_template};
pub use words::{query_terms, retrieval_terms, words};

/// Where an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntrySource {
    /// An incident of this agent, written when it closed, escalated or was observed.
    Incident,
    /// An imported postmortem.
    Postmortem,
    /// An imported runbook document.
    Runbook,
}

impl EntrySource {
    /// As stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            EntrySource::Incident => "incident",
            EntrySource::Postmortem => "postmortem",
            EntrySource::Runbook => "runbook",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<EntrySource> {
        match s {
            "incident" => Some(EntrySource::Incident),
            "postmortem" => Some(EntrySource::Postmortem),
            "runbook" => Some(EntrySource::Runbook),
            _ => None,
        }
    }
}

/// How an entry's incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A remedy was verified and the incident closed.
    Resolved,
    /// A remedy ran and the service did not recover; a person took over.
    Unresolved,
    /// Handed to a person without a remedy that ran (rejected, unsure, forbidden).
    Escalated,
    /// Observe or dry-run mode: a plan was proposed and nothing changed.
    Observed,
    /// A document: what it says happened, nothing this agent measured.
    Documented,
}

impl Outcome {
    /// As stored, printed and written into past-incident evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved",
            Outcome::Unresolved => "unresolved",
            Outcome::Escalated => "escalated",
            Outcome::Observed => "observed",
            Outcome::Documented => "documented",
        }
    }
}

/// One action an entry's incident ran (or a document names), and whether it was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTaken {
    /// Catalogue name.
    pub action: ActionName,
    /// `namespace/name` or `node/<name>`, when the action has a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `Some(true)` when verification found the service recovered after it, `Some(false)`
    /// when it did not or the action failed, `None` when nothing was measured (documents,
    /// proposals in observe mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<bool>,
}

/// A note a person added to an incident or entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub by: String,
    /// What (redacted before it is stored).
    pub text: String,
}

/// One entry of the knowledge base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// `inc-000012` for an incident; `doc/<file stem>` for an imported document.
    pub id: String,
    /// Where it comes from.
    pub source: EntrySource,
    /// One line.
    pub title: String,
    /// The diagnosis' summary, or a document's body (Markdown), redacted.
    pub summary: String,
    /// What makes it like another incident.
    pub signature: Signature,
    /// What was done, in order.
    #[serde(default)]
    pub actions: Vec<ActionTaken>,
    /// How it ended.
    pub outcome: Outcome,
    /// When it happened (the incident opened; the document's `date`, else its import).
    pub occurred_at: DateTime<Utc>,
    /// Seconds from opening to a verified recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigated_after_s: Option<u64>,
    /// Who approved its actions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    /// Services a document is about (workload names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Notes people added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// The file a document was imported from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Entry {
    /// The words the store indexes: title, summary, signature, actions, services and notes,
    /// folded by [`words`] so that both databases see the same tokens.
    pub fn index_text(&self) -> String {
        let mut parts: Vec<String> = vec![self.title.clone(), self.summary.clone()];
        parts.push(self.signature.text());
        parts.extend(self.actions.iter().map(|a| a.action.as_str().to_string()));
        parts.extend(self.services.iter().cloned());
        parts.extend(self.notes.iter().map(|n| n.text.clone()));
        words(&parts.join("\n")).join(" ")
    }

    /// The text an embedding vector is made from: the same parts as [`Entry::index_text`],
    /// as written (a model reads sentences better than folded words), at most
    /// [`vector::MAX_TEXT`] characters. Every part is redacted before it is stored.
    pub fn embedding_text(&self) -> String {
        let mut parts: Vec<String> = vec![self.title.clone(), self.summary.clone()];
        parts.push(self.signature.text());
        let actions: Vec<&str> = self.actions.iter().map(|a| a.action.as_str()).collect();
        if !actions.is_empty() {
            parts.push(format!("actions: {}", actions.join(", ")));
        }
        if !self.services.is_empty() {
            parts.push(format!("services: {}", self.services.join(", ")));
        }
        parts.extend(self.notes.iter().map(|n| n.text.clone()));
        let text = parts
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        text.chars().take(vector::MAX_TEXT).collect()
    }

    /// The category the entry is about: the diagnosis', or a document's first.
    pub fn category(&self) -> Option<Category> {
        self.signature.category
    }

    /// The action that fixed it, if one was verified.
    pub fn fix(&self) -> Option<&ActionTaken> {
        self.actions.iter().rev().find(|a| a.fixed == Some(true))
    }
}

/// An entry found for a probe, with how alike they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The entry.
    pub entry: Entry,
    /// 0..=1: the fused similarity ([`similarity`]).
    pub similarity: f64,
    /// The store's full-text rank, normalized to 0..=1 against the best candidate; 0 when
    /// the entry came from a structured match alone.
    pub lexical: f64,
    /// The cosine of the entry's embedding vector and the query's, when both have one in
    /// the same space ([`vector`]); `None` without embeddings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic: Option<f64>,
}

/// How alike a probe and an entry are, 0..=1: the lexical rank and the overlap of their
/// signature words, plus what they share structurally (the same workload, the same service,
/// the same category, the same alerts).
///
/// The weights make "the same workload with the same alert and similar words" land near
/// 0.8 and "another workload of another kind with a few shared words" below 0.5, the line
/// the rule analyzer draws.
///
/// What was seen (the symptoms: alerts, Warning event reasons, container reasons, a rollout
/// that changed something) weighs more (0.3) than the overlap of the signatures' words
/// (0.2), most of which are log-template words: two incidents of one kind of fault show the
/// same symptoms on whatever workload, while their log lines are the workload's own (the same
/// request logs before an out-of-memory crash and before a node failure), so where the two
/// disagree, the symptoms are the better guide.
pub fn similarity(probe: &Signature, entry: &Entry, lexical: f64) -> f64 {
    let lexical = if lexical.is_finite() {
        lexical.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let overlap = dice(&probe.words(), &entry.signature.words());
    let (probe_symptoms, entry_symptoms) = (probe.symptoms(), entry.signature.symptoms());
    let symptoms = jaccard(&probe_symptoms, &entry_symptoms);
    let mut s = 0.2 * lexical + 0.2 * overlap + 0.3 * symptoms;
    let same_resource = probe.resource.is_some() && probe.resource == entry.signature.resource;
    let same_service = probe
        .name
        .as_deref()
        .is_some_and(|n| entry.services.iter().any(|s| s == n));
    if same_resource || same_service {
        s += SAME_WORKLOAD * workload_weight(&probe_symptoms, &entry_symptoms, symptoms);
    } else if probe.namespace.is_some() && probe.namespace == entry.signature.namespace {
        s += 0.05;
    }
    if probe.kind.is_some() && probe.kind == entry.signature.kind {
        s += 0.05;
    }
    match (probe.category, entry.signature.category) {
        (Some(a), Some(b)) if a == b => s += 0.15,
        (Some(_), Some(_)) => s -= 0.15,
        _ => {}
    }
    s.clamp(0.0, 1.0)
}

/// What the same workload (or a document naming it) adds, at most.
const SAME_WORKLOAD: f64 = 0.2;

/// How much of [`SAME_WORKLOAD`] two incidents on one workload earn, from the share of
/// symptoms they have in common (their Jaccard index, `common`).
///
/// A fault that comes back to a workload is the case that matters most, and it shows the
/// same symptoms again: half of them in common earns the whole bonus. But one workload meets
/// many faults (a bad release, then a node that fails under it, then a limit set too low),
/// and an SRE does not call an out-of-memory crash "like" the node failure that left the same
/// workload short of replicas: with nothing seen in common, the workload alone says little.
/// When either side names no symptom (a document without alerts), nothing disagrees and the
/// workload counts in full.
fn workload_weight(a: &[String], b: &[String], common: f64) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    (2.0 * common).min(1.0)
}

/// Ranks candidates by [`similarity`], best first; equal ones newest first.
pub fn rank(probe: &Signature, candidates: Vec<(Entry, f64)>) -> Vec<Hit> {
    let mut hits: Vec<Hit> = candidates
        .into_iter()
        .map(|(entry, lexical)| Hit {
            similarity: similarity(probe, &entry, lexical),
            lexical,
            semantic: None,
            entry,
        })
        .collect();
    hits.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then(b.entry.occurred_at.cmp(&a.entry.occurred_at))
    });
    hits
}

/// Okapi BM25 of an entry's index words for a query's terms (k1 = 1.2, b = 0.75), with the
/// IDF of the whole knowledge base: `entries(term)` entries of `total` hold the term, and
/// `average_len` is the typical length of an entry's index words.
///
/// Computed here rather than taken from the database: FTS5's bm25 and PostgreSQL's
/// ts_rank_cd (which knows no IDF at all) order the same candidates differently, and the
/// knowledge base must answer alike on both. The database only finds the candidates.
pub fn bm25(
    terms: &[String],
    doc: &[String],
    entries: impl Fn(&str) -> u64,
    total: u64,
    average_len: f64,
) -> f64 {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    if doc.is_empty() || total == 0 {
        return 0.0;
    }
    let len_norm = 1.0 - B + B * doc.len() as f64 / average_len.max(1.0);
    let total = total as f64;
    let mut freq: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    for w in doc {
        *freq.entry(w.as_str()).or_default() += 1;
    }
    terms
        .iter()
        .map(|t| {
            let Some(&tf) = freq.get(t.as_str()) else {
                return 0.0;
            };
            let tf = f64::from(tf);
            let n = (entries(t) as f64).min(total);
            let idf = (1.0 + (total - n + 0.5) / (n + 0.5)).ln();
            idf * tf * (K1 + 1.0) / (tf + K1 * len_norm)
        })
        .sum()
}

fn dice(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.iter().filter(|w| b.contains(w)).count();
    2.0 * common as f64 / (a.len() + b.len()) as f64
}

fn jaccard(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.iter().filter(|w| b.contains(w)).count();
    let union = a.len() + b.iter().filter(|w| !a.contains(w)).count();
    common as f64 / union as f64
}

#[cfg(test)]
mod tests;
