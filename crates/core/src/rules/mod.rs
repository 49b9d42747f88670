//! The rule analyzer: deterministic signatures over the evidence bundle, the default brain.
//!
//! Each family of signatures reads the evidence (container states and exit codes, event
//! reasons, log lines, rollout timing, metric trends, node conditions, dependencies) and
//! proposes candidate diagnoses with plans and a confidence. A scoring step keeps the best
//! candidate, records the runner-up, then adjusts the plans with what the past says
//! (similar incidents, attempts already made on this incident) and caps confidence when the
//! evidence is thin. Nothing here reads scenario names or does I/O.
//!
//! | family | categories |
//! | --- | --- |
//! | `deploy` | deploy/bad-release, deploy/image-pull, config/missing-reference, config/scheduling |
//! | `resources` | resource/memory-limit, resource/memory-leak |
//! | `capacity` | capacity/traffic-surge, config/probe, none (a workload at its limit as it always has been) |
//! | `app` | app/crash, app/hang |
//! | `dependency` | dependency/unavailable, operation/scaled-to-zero |
//! | `node` | node/not-ready, node/disk-pressure |
//! | `quiet` | transient, none, and the low-confidence answer to thin evidence |

mod adjust;
mod app;
mod capacity;
mod dependency;
mod deploy;
mod facts;
mod finding;
mod node;
mod patterns;
mod quiet;
mod resources;
mod views;

use std::future::Future;

use crate::Category;
use crate::analysis::{Analysis, AnalysisInput, AnalyzeError, Analyzer};
use facts::Facts;
use finding::Finding;

/// The deterministic rule analyzer (`rules`). Works offline, costs nothing, and answers the
/// same way for the same evidence.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleAnalyzer;

impl RuleAnalyzer {
    /// The name recorded with each analysis.
    pub const NAME: &'static str = "rules";

    /// A rule analyzer.
    pub fn new() -> Self {
        RuleAnalyzer
    }

    /// Analyzes one incident synchronously; [`Analyzer::analyze`] wraps this.
    pub fn diagnose(&self, input: &AnalysisInput<'_>) -> Analysis {
        let facts = Facts::gather(input.incident, input.evidence);
        let mut candidates = signatures(&facts);
        rank(&mut candidates);
        let mut notes = Vec::new();
        let mut best = match candidates.first() {
            Some(best) => best.clone(),
            None => quiet::fallback(&facts),
        };
        if let Some(runner_up) = candidates
            .iter()
            .skip(1)
            .find(|c| c.category != best.category || c.root_cause != best.root_cause)
        {
            notes.push(format!(
                "runner-up: {} at {} ({:.2}): {}",
                runner_up.category,
                runner_up.root_cause.locate_key(),
                runner_up.confidence,
                runner_up.summary
            ));
        }
        adjust::past_incidents(&mut best, &facts);
        adjust::attempts(&mut best, input.history);
        adjust::honesty(&mut best, &facts);
        if input.evidence.truncated > 0 {
            notes.push(format!(
                "{} evidence items were dropped by the byte budget",
                input.evidence.truncated
            ));
        }
        notes.append(&mut best.notes);
        Analysis {
            diagnosis: best.diagnosis(),
            plans: best.plans,
            analyzer: Self::NAME.to_string(),
            notes,
        }
    }
}

impl Analyzer for RuleAnalyzer {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn analyze(
        &self,
        input: &AnalysisInput<'_>,
    ) -> impl Future<Output = Result<Analysis, AnalyzeError>> + Send {
        std::future::ready(Ok(self.diagnose(input)))
    }
}

/// Every family's candidates.
fn signatures(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(deploy::findings(facts));
    out.extend(resources::findings(facts));
    out.extend(capacity::findings(facts));
    out.extend(app::findings(facts));
    out.extend(dependency::findings(facts));
    out.extend(node::findings(facts));
    out.extend(quiet::findings(facts));
    out
}

/// Highest confidence first; ties go to the more specific category (catalogue order).
fn rank(candidates: &mut [Finding]) {
    let order = |c: Category| {
        Category::ALL
            .iter()
            .position(|x| *x == c)
            .unwrap_or(usize::MAX)
    };
    candidates.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| order(a.category).cmp(&order(b.category)))
    });
}
