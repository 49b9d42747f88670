//! `nightshift eval`: runs the agent against scenario files in fresh simulated clusters and
//! scores it with the rules of the scenario contract (`SCENARIOS.md`, "Scoring").

pub mod observe;
pub mod rbac;
pub mod report;
pub mod run;
pub mod score;

pub use rbac::RbacManifest;
pub use run::{
    AgentIdentity, AnalyzerKit, EVAL_START_MS, EvalOptions, Llm, Rules, ScenarioRun, UsageReader,
    run_all, run_all_as, run_one, run_one_as,
};
pub use score::{
    Observation, ObservedAction, ObservedIncident, ScenarioScore, Summary, score, summarize,
};
