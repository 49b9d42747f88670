//! The limits of a scenario file. A scenario describes a small cluster over hours of simulated
//! time; a file far outside that (four billion replicas, a horizon of a century, a log line
//! every millisecond) is a mistake or an attack on whatever runs it, and is refused with the
//! key and the limit. The figures are documented in `docs/scenarios.md`.

use std::time::Duration;

/// Largest scenario file, in bytes.
pub const MAX_FILE_BYTES: usize = 16 << 20;
/// Longest horizon: a week of simulated time.
pub const MAX_HORIZON: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most nodes (the largest cluster Kubernetes supports).
pub const MAX_NODES: usize = 5_000;
/// Most ConfigMaps and Secrets in `cluster.configs`.
pub const MAX_CONFIGS: usize = 20_000;
/// Most workloads.
pub const MAX_WORKLOADS: usize = 20_000;
/// Most replicas of one workload.
pub const MAX_REPLICAS: u32 = 10_000;
/// Most pods of all workloads together, DaemonSets counting one per node (the largest
/// cluster Kubernetes supports).
pub const MAX_PODS: u64 = 150_000;
/// Most entries of one workload's `depends_on`, and of its `env_from`.
pub const MAX_REFERENCES: usize = 100;
/// Most labels of one workload or node.
pub const MAX_LABELS: usize = 64;
/// Most log lines of one workload or fault.
pub const MAX_LOG_LINES: usize = 1_000;
/// Longest log line template, in bytes (container runtimes split longer lines).
pub const MAX_LOG_LINE_BYTES: usize = 16 << 10;
/// Shortest log interval.
pub const MIN_LOG_EVERY: Duration = Duration::from_millis(100);
/// Highest steady request rate of a workload, in requests per second.
pub const MAX_RPS: f64 = 1_000_000.0;
/// Highest factor of a `traffic-surge`.
pub const MAX_SURGE_FACTOR: f64 = 1_000.0;
/// Most faults.
pub const MAX_FAULTS: usize = 1_000;
/// Most entries of each list under `expect`.
pub const MAX_EXPECT_ENTRIES: usize = 100;

/// Deepest nesting of lists and mappings; a scenario needs six
/// (`cluster.workloads[0].resources.limits.cpu`).
pub const MAX_NESTING: usize = 16;
/// Most YAML aliases (`*name`) in a file.
pub const MAX_ALIASES: usize = 1_000;

/// What the YAML reader may spend on one file: nesting is bounded well below what would
/// exhaust a thread's stack, and anchors cannot expand into millions of values.
pub(crate) fn yaml_budget() -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_NESTING;
    budget.flow_nesting_limit = MAX_NESTING;
    budget.max_aliases = MAX_ALIASES;
    budget.max_recorded_anchor_events = 10_000;
    // Room for the largest files the counts above allow.
    budget.max_events = 4_000_000;
    budget.max_nodes = 2_000_000;
    budget
}

/// The message for a list longer than `limit`.
pub(crate) fn too_many(count: usize, what: &str, limit: usize) -> String {
    format!("{count} {what} is more than the limit of {limit}")
}
