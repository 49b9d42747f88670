//! The model's answer: its shape (a JSON schema generated from [`ModelAnswer`] and
//! [`ModelPlan`]), and the checks that turn it into a typed [`Analysis`] or into an error the
//! model is shown once.
//!
//! The checks are strict about meaning and lenient about packaging: JSON inside a markdown
//! fence or surrounded by prose is found, and a confidence written as `"0.8"` is read as a
//! number; but a category or action outside the contract, a target that is not in the
//! evidence, a missing field or a plan the policy forbids is an error. The model's text
//! never becomes a command: each plan is parsed into one typed [`Action`] of the catalogue.
//!
//! [`Analysis`]: nightshift_core::Analysis
//! [`Action`]: nightshift_core::Action
//!
//! - `schema`: the answer's types and the strict JSON schema generated from them.
//! - `parse`: finding the JSON object in the model's text and reading its fields.
//! - `known`: the resources the evidence names, which targets must be among.
//! - `check`: the answer as a whole, each plan held against the policy.
//! - `plan`: one plan of the answer turned into one catalogue action.

mod check;
mod known;
mod parse;
mod plan;
mod schema;

pub use check::{Checked, Checks, allowed_actions, check};
pub use parse::extract_json;
pub use schema::{ModelAnswer, ModelPlan, schema, schema_name};
