//! Typed views of evidence items: one struct per kind, read once from the bundle, with the
//! questions the rules ask of a single item (is this container crash looping, what does this
//! metric measure).
//!
//! One file per family: `pods` (container states, events, log tails), `rollout` (a
//! workload's revisions and which of them are releases), `metrics`, and `cluster` (nodes,
//! dependencies, signals, objects, past incidents). Each view is read from its item in the file
//! that declares it; owners the evidence does not state are filled in by `Facts::gather`,
//! which knows the workloads.

mod cluster;
mod metrics;
mod pods;
mod rollout;

pub(crate) use cluster::*;
pub(crate) use metrics::*;
pub(crate) use pods::*;
pub(crate) use rollout::*;

/// How long before the first failure a rollout still counts as its likely cause.
pub(crate) const ROLLOUT_WINDOW_MINUTES: i64 = 30;

/// The image without its registry path: `checkout:2.3.1`.
pub(crate) fn short_image(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

fn normalize_image(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let image = image.strip_prefix("docker.io/").unwrap_or(image);
    image.strip_prefix("library/").unwrap_or(image)
}

/// Two image references name the same image.
pub(crate) fn same_image(a: &str, b: &str) -> bool {
    normalize_image(a) == normalize_image(b)
}
