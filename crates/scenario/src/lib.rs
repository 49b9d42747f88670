//! Scenario files: the public contract between the simulated cluster, the agent and the
//! evaluation. See `docs/scenarios.md` for the format.
//!
//! [`load_file`], [`load_paths`] and [`parse_str`] read files into the typed [`Scenario`];
//! [`units`] reads and writes durations and Kubernetes quantities; [`LogTemplate`] renders
//! log lines with placeholders.

#![warn(missing_docs)]

pub mod catalogue;
pub mod load;
pub mod model;
pub mod template;

pub use catalogue::{ActionMatcher, ActionName, ActionPattern, Category};
pub use load::{Problem, ScenarioError, load_file, load_paths, parse_str};
pub use model::*;
/// Durations and Kubernetes quantities, shared with the domain.
pub use nightshift_core::units;
pub use template::LogTemplate;
