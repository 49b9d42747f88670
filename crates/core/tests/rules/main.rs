//! The rule analyzer against hand-built evidence bundles: every diagnosis category, the
//! tricky look-alikes, thin evidence, and re-analysis after a failed attempt.

mod app;
mod capacity;
mod dependency;
mod deploy;
mod history;
mod node;
mod ownership;
mod quiet;
mod remedies;
mod resources;
mod support;
