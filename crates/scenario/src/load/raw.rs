//! The YAML shape of a scenario file, before validation and defaults.
//!
//! Every field is optional here so that a missing required key is reported by the validation,
//! which knows its full path; unknown keys are refused by serde at this stage.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<String>,
    pub summary: Option<String>,
    pub seed: Option<u64>,
    pub horizon: Option<String>,
    pub cluster: Option<RawCluster>,
    pub faults: Option<Vec<RawFault>>,
    pub humans: Option<Vec<RawHuman>>,
    pub expect: Option<RawExpect>,
}

/// `humans[i]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHuman {
    pub at: Option<String>,
    pub who: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub replicas: Option<i64>,
    pub field_manager: Option<String>,
}

/// `cluster`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub nodes: Option<Vec<RawNode>>,
    pub configs: Option<Vec<String>>,
    pub workloads: Option<Vec<RawWorkload>>,
}

/// `cluster.nodes[i]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// `cluster.workloads[i]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub replicas: Option<u32>,
    pub image: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub service: Option<bool>,
    pub resources: Option<RawResources>,
    pub probes: Option<RawProbes>,
    pub env_from: Option<Vec<String>>,
    pub depends_on: Option<Vec<String>>,
    pub behavior: Option<RawBehavior>,
    pub logs: Option<RawLogs>,
}

/// `resources`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    pub requests: Option<RawResourceList>,
    pub limits: Option<RawResourceList>,
}

/// `resources.requests` and `resources.limits`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResourceList {
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

/// `probes`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbes {
    pub readiness: Option<bool>,
    pub liveness: Option<bool>,
}

/// `behavior`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBehavior {
    pub memory: Option<String>,
    pub cpu: Option<String>,
    pub rps: Option<f64>,
    pub error_ratio: Option<f64>,
    pub latency_ms: Option<f64>,
    pub startup: Option<String>,
}

/// `logs` of a workload.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    pub every: Option<String>,
    pub lines: Option<Vec<String>>,
}

/// `faults[i]`. Parameters depend on the type, so they are checked by hand.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub at: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub target: Option<String>,
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    pub logs: Option<Vec<String>>,
}

/// `expect`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub detect: Option<bool>,
    pub diagnosis: Option<Vec<String>>,
    pub locate: Option<String>,
    pub actions: Option<RawActions>,
    pub resolved: Option<bool>,
    pub recurrence: Option<bool>,
}

/// `expect.actions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActions {
    pub acceptable: Option<Vec<String>>,
    pub harmful: Option<Vec<String>>,
}
