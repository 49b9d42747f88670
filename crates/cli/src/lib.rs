//! The `nightshift` command's library: the lab that runs the simulated cluster and the agent
//! together (for `nightshift demo`, the evaluation and the end-to-end tests).

#![warn(missing_docs)]

pub mod access;
pub mod config;
pub mod eval;
pub mod lab;
pub mod notifications;
