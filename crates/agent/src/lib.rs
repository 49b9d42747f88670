//! The healing loop's runtime: adapters around `nightshift-core` that talk to a Kubernetes API
//! (kube-rs), receive alerts, keep the record, and run each incident through the loop.

#![warn(missing_docs)]

pub mod act;
pub mod agreement;
pub mod auth;
pub mod clock;
pub mod collect;
pub mod console;
pub mod correlate;
pub mod engine;
pub mod facts;
pub mod http;
pub mod lead;
pub mod learn;
pub mod notify;
pub mod perceive;
pub mod prometheus;
pub mod redact;
pub mod runtime;
pub mod topology;
pub mod trust;
pub mod verify;
