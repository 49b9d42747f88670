//! What a signature returns: a candidate diagnosis with its plans, before scoring.

use crate::Category;
use crate::action::Action;
use crate::analysis::{Diagnosis, Plan};
use crate::evidence::EvidenceId;
use crate::resource::ResourceRef;

/// A candidate diagnosis from one signature.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub category: Category,
    pub summary: String,
    pub evidence: Vec<EvidenceId>,
    pub root_cause: ResourceRef,
    pub confidence: f64,
    pub plans: Vec<Plan>,
    pub notes: Vec<String>,
}

impl Finding {
    /// A finding with no plans yet.
    pub fn new(
        category: Category,
        root_cause: ResourceRef,
        confidence: f64,
        summary: String,
        evidence: Cites,
    ) -> Finding {
        Finding {
            category,
            summary,
            evidence: evidence.0,
            root_cause,
            confidence: clamp(confidence),
            plans: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a plan.
    pub fn plan(mut self, action: Action, confidence: f64, rationale: &str, outcome: &str) -> Self {
        self.plans.push(Plan {
            action,
            confidence: clamp(confidence),
            rationale: rationale.to_string(),
            expected_outcome: outcome.to_string(),
        });
        self
    }

    /// Adds an escalation plan.
    pub fn escalate(self, confidence: f64, reason: &str) -> Self {
        self.plan(
            Action::Escalate {
                reason: reason.to_string(),
            },
            confidence,
            reason,
            "a person takes the incident with the diagnosis attached; nothing in the cluster changes",
        )
    }

    /// Adds a note for the timeline.
    pub fn note(mut self, note: String) -> Self {
        self.notes.push(note);
        self
    }

    /// The diagnosis part.
    pub fn diagnosis(&self) -> Diagnosis {
        Diagnosis {
            category: self.category,
            summary: self.summary.clone(),
            evidence: self.evidence.clone(),
            root_cause: self.root_cause.clone(),
            confidence: self.confidence,
        }
    }
}

/// Evidence ids a finding rests on, in citation order, without repeats.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cites(Vec<EvidenceId>);

impl Cites {
    /// Cites one item.
    pub fn add(&mut self, id: &EvidenceId) {
        if !self.0.contains(id) {
            self.0.push(id.clone());
        }
    }

    /// Cites several items.
    pub fn extend<'i>(&mut self, ids: impl IntoIterator<Item = &'i EvidenceId>) {
        for id in ids {
            self.add(id);
        }
    }

    /// Nothing cited.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The cited ids.
    pub fn ids(&self) -> impl Iterator<Item = &EvidenceId> {
        self.0.iter()
    }
}

/// A confidence within 0.02..=0.97, rounded to two decimals: never certain, never nothing.
pub(crate) fn clamp(confidence: f64) -> f64 {
    if !confidence.is_finite() {
        return 0.05;
    }
    (confidence.clamp(0.02, 0.97) * 100.0).round() / 100.0
}

/// `n thing` or `n things`.
pub(crate) fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}
