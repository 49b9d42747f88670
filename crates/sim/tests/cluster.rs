//! Entry of the cluster conformance tests until the conformance suite's `main.rs` takes them
//! in as a module.

#[path = "conformance/cluster.rs"]
mod cluster;
