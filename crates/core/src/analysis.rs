//! Diagnoses, plans, and the analyzer interface every brain (rules, LLM, hybrid) implements.

use serde::{Deserialize, Serialize};

use crate::Category;
use crate::action::Action;
use crate::evidence::{Evidence, EvidenceId};
use crate::incident::{Incident, TimelineEntry};
use crate::resource::ResourceRef;

/// What went wrong, on what evidence, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Category from the scenario contract.
    pub category: Category,
    /// One line for a human.
    pub summary: String,
    /// The evidence items it rests on.
    pub evidence: Vec<EvidenceId>,
    /// Where the root cause lives.
    pub root_cause: ResourceRef,
    /// How sure, 0..=1.
    pub confidence: f64,
}

/// One candidate remedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The typed action.
    pub action: Action,
    /// How sure the analyzer is that this fixes it, 0..=1.
    pub confidence: f64,
    /// Why.
    pub rationale: String,
    /// What recovery should look like.
    pub expected_outcome: String,
}

/// An analyzer's answer: a diagnosis and plans ranked best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The diagnosis.
    pub diagnosis: Diagnosis,
    /// Ranked candidate plans (may be empty, or a single escalate).
    pub plans: Vec<Plan>,
    /// Which analyzer answered (`rules`, `llm:<model>`, `hybrid`).
    pub analyzer: String,
    /// Notes for the timeline (fallbacks, disagreements).
    pub notes: Vec<String>,
}

/// What an analyzer gets.
#[derive(Debug, Clone)]
pub struct AnalysisInput<'a> {
    /// The incident so far.
    pub incident: &'a Incident,
    /// The evidence bundle.
    pub evidence: &'a Evidence,
    /// Earlier attempts and their outcomes (from the timeline).
    pub history: &'a [TimelineEntry],
}

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The backend failed (network, quota, invalid answers after retries).
    #[error("analyzer {analyzer} failed: {message}")]
    Backend {
        /// Which analyzer.
        analyzer: String,
        /// What happened.
        message: String,
    },
}

/// A brain: turns evidence into a diagnosis and ranked plans.
pub trait Analyzer: Send + Sync {
    /// Short name recorded with each analysis.
    fn name(&self) -> &str;

    /// Analyzes one incident.
    fn analyze(
        &self,
        input: &AnalysisInput<'_>,
    ) -> impl std::future::Future<Output = Result<Analysis, AnalyzeError>> + Send;
}
