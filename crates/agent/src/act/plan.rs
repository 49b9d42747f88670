//! Plans: the exact requests an action sends, built from one read of the cluster, and the
//! idempotency stamps they carry.

use kube::api::{Api, DynamicObject};
use nightshift_core::ResourceRef;
use serde_json::{Value, json};

pub use report::PodDisruption;
pub use runbook::Runbook;

use super::*;

/// A request body: strategic merge patch or JSON patch.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Strategic(Value),
    Json(Value),
}

/// A pod a step evicts.
#[derive(Debug, Clone)]
pub(crate) struct PodTarget {
    pub namespace: String,
    pub name: String,
    pub owner: Option<ResourceRef>,
}

/// One request of a plan.
pub(crate) enum Step {
    /// Patch a namespaced object (a workload or a pod's owner).
    Patch {
        api: Api<DynamicObject>,
        name: String,
        /// `deployment/shop/checkout`, for reports.
        object: String,
        /// `deployment shop/checkout`, for errors.
        describe: String,
        before: Value,
        body: Body,
    },
    /// Patch a node (strategic merge).
    PatchNode {
        node: String,
        before: Value,
        patch: Value,
    },
    /// Patch the `/scale` subresource.
    Scale {
        api: Api<DynamicObject>,
        name: String,
        object: String,
        describe: String,
        from: i64,
        to: i32,
    },
    /// Evict a pod: once for restart-pod (a refusal is an error), with retries for a drain
    /// (a refusal is reported).
    Evict { pod: PodTarget, drain: bool },
}

/// The requests an action sends and what it reports around them.
pub(crate) struct Plan {
    pub summary: String,
    pub target: Option<ResourceRef>,
    pub steps: Vec<Step>,
    pub affected: Vec<ResourceRef>,
    pub replaced_pod_uid: Option<String>,
    /// Pods left alone on purpose, reported as they are.
    pub skipped: Vec<PodDisruption>,
    /// Nothing needs sending (a rollback to the template already in place).
    pub nothing_to_do: bool,
}

impl Plan {
    pub(crate) fn new(summary: String, target: Option<ResourceRef>) -> Self {
        Plan {
            summary,
            target,
            steps: Vec::new(),
            affected: Vec::new(),
            replaced_pod_uid: None,
            skipped: Vec::new(),
            nothing_to_do: false,
        }
    }
}

/// [`stamped`], and the key in the pod template's annotations too, for a patch that changes
/// the template: the revision the change creates (a ReplicaSet, a ControllerRevision, which
/// copy the template) then says which action made it, and the rules read it as a remedy on
/// the record rather than a release.
pub(crate) fn stamped_template(mut patch: Value, key: Option<&str>) -> Value {
    if let Some(key) = key {
        patch["spec"]["template"]["metadata"]["annotations"][ACTION_ID_ANNOTATION] = json!(key);
    }
    stamped(patch, key, &[])
}

/// `{"metadata": {"annotations": {ACTION_ID: key}}}` merged into a strategic patch, or the
/// patch unchanged without a key.
pub(crate) fn stamped(mut patch: Value, key: Option<&str>, extra: &[(&str, &str)]) -> Value {
    if let Some(key) = key {
        patch["metadata"]["annotations"][ACTION_ID_ANNOTATION] = json!(key);
        for (k, v) in extra {
            patch["metadata"]["annotations"][*k] = json!(v);
        }
    }
    patch
}
