//! Conformance of the simulated cluster with kube-apiserver 1.34: each test drives a running
//! simulation with the clients real users use (kube-rs, kubectl 1.32 and the official Python
//! client) and asserts what kube-apiserver answers (status code, reason and message), written
//! next to each assertion.

#[allow(dead_code)]
mod harness;
// The API server over a bare store, for tests that need no running simulation.
#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod fields;
mod jobs;
mod lifecycle;
mod openapi;
mod protobuf;
