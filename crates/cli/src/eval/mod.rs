//! `nightshift eval`: runs the agent against scenario files in fresh simulated clusters and
//! scores it with the rules of the scenario contract (`SCENARIOS.md`, "Scoring").

pub mod observe;
pub mod report;
pub mod run;
pub mod score;

pub use run::{
    AnalyzerKit, EVAL_START_MS, EvalOptions, Llm, Rules, ScenarioRun, UsageReader, run_all, run_one,
};
pub use score::{
    Observation, ObservedAction, ObservedIncident, ScenarioScore, Summary, score, summarize,
};
