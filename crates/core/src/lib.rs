//! The healing loop's domain, with no I/O: what an incident is and how it moves, the signals
//! that open it, the evidence it rests on, diagnoses and plans, the typed action catalogue and
//! its names, the rule analyzer, the policy that decides what may run, and the units every
//! file and object writes. Adapters (Kubernetes, storage, HTTP, models) sit around this crate;
//! what recovery after each action looks like is measured on the cluster and lives with the
//! agent (`nightshift_agent::verify`). Everything here is tested with plain values.

#![warn(missing_docs)]

pub mod action;
pub mod analysis;
pub mod catalogue;
pub mod decision;
pub mod evidence;
pub mod incident;
pub mod knowledge;
pub mod notice;
pub mod policy;
pub mod redact;
pub mod resource;
pub mod rules;
pub mod runbook;
pub mod signal;
pub mod text;
pub mod trust;
pub mod units;

pub use action::Action;
pub use analysis::{Analysis, AnalysisInput, Analyzer, Diagnosis, Plan};
pub use catalogue::{ActionName, Category};
pub use decision::{Decision, Risk, Verdict};
pub use evidence::{Evidence, EvidenceData, EvidenceId, EvidenceItem, EvidenceKind};
pub use incident::{Incident, IncidentId, State, TimelineEntry, TimelineKind};
pub use policy::{DecisionContext, Mode, Operation, Policy, PolicyError, TargetFacts};
pub use resource::{ResourceRef, UnknownWorkloadKind, WorkloadKind};
pub use rules::RuleAnalyzer;
pub use signal::{Signal, SignalSource, SignalStatus};
