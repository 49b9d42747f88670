//! The healing loop's runtime: adapters around `nightshift-core` that talk to a Kubernetes API
//! (kube-rs), receive alerts, keep the record, and run each incident through the loop.

pub mod act;
pub mod clock;
pub mod collect;
pub mod perceive;
pub mod redact;
pub mod verify;
