//! Conformance tests: real clients (kubectl, kube-rs) against the simulated API server,
//! asserting what kube-apiserver 1.34 answers.

#[path = "../common/mod.rs"]
mod common;
mod openapi;
