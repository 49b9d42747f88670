//! Sending a plan: patches with the dry-run flag or for real, and evictions retried under
//! the actuator's own policy when a disruption budget refuses them.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

pub use error::ActError;
pub use report::{Change, Disruption, PodDisruption};
pub use runbook::Runbook;

use error::{api_code, api_message};
use report::diff;

use super::*;

/// What sending a plan produced.
pub(super) struct Sent {
    pub(super) changes: Vec<Change>,
    pub(super) pods: Vec<PodDisruption>,
}

impl Actuator {
    pub(super) fn patch_params(&self, dry_run: bool) -> PatchParams {
        PatchParams {
            dry_run,
            field_manager: Some(self.field_manager.clone()),
            ..PatchParams::default()
        }
    }

    pub(super) async fn send(&self, plan: &Plan, dry: bool) -> Result<Sent, ActError> {
        let mut sent = Sent {
            changes: Vec::new(),
            pods: Vec::new(),
        };
        let mut drain = Vec::new();
        for step in &plan.steps {
            match step {
                Step::Patch {
                    api,
                    name,
                    object,
                    describe,
                    before,
                    body,
                } => {
                    let pp = self.patch_params(dry);
                    let res = match body {
                        Body::Strategic(v) => api.patch(name, &pp, &Patch::Strategic(v)).await,
                        Body::Json(v) => match json_patch(v) {
                            Ok(p) => api.patch(name, &pp, &p).await,
                            Err(source) => {
                                return Err(ActError::Decode {
                                    what: format!("the JSON patch for {describe}"),
                                    source,
                                });
                            }
                        },
                    };
                    let after = res.map_err(|source| ActError::PatchWorkload {
                        workload: describe.clone(),
                        source,
                    })?;
                    let after = target::to_json(&after, describe)?;
                    sent.changes.extend(diff(object, before, &after));
                }
                Step::PatchNode {
                    node,
                    before,
                    patch,
                } => {
                    let api: Api<Node> = Api::all(self.client.clone());
                    let after = api
                        .patch(node, &self.patch_params(dry), &Patch::Strategic(patch))
                        .await
                        .map_err(|source| ActError::PatchNode {
                            node: node.clone(),
                            source,
                        })?;
                    let after = target::to_json(&after, &format!("node {node}"))?;
                    sent.changes
                        .extend(diff(&format!("node/{node}"), before, &after));
                }
                Step::Scale {
                    api,
                    name,
                    object,
                    describe,
                    from,
                    to,
                } => {
                    let scale = api
                        .patch_scale(
                            name,
                            &self.patch_params(dry),
                            &Patch::Merge(json!({"spec": {"replicas": to}})),
                        )
                        .await
                        .map_err(|source| ActError::ScaleWorkload {
                            workload: describe.clone(),
                            source,
                        })?;
                    let after = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
                    if i64::from(after) != *from {
                        sent.changes.push(Change {
                            object: object.clone(),
                            field: "spec.replicas".into(),
                            from: Some(from.to_string()),
                            to: Some(after.to_string()),
                        });
                    }
                }
                Step::Evict { pod, drain: false } => {
                    self.evict(pod, dry).await.map_err(|e| match e {
                        Evicted::Refused(message) => ActError::EvictionRefused {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                            message,
                        },
                        Evicted::Gone => ActError::PodNotFound {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                        },
                        Evicted::Error(source) => ActError::EvictPod {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                            source,
                        },
                    })?;
                    sent.pods.push(disruption(
                        pod,
                        if dry {
                            Disruption::WouldEvict
                        } else {
                            Disruption::Evicted
                        },
                        1,
                    ));
                }
                Step::Evict { pod, drain: true } => drain.push(pod.clone()),
            }
        }
        if !drain.is_empty() {
            let results = if dry {
                let mut out = Vec::new();
                for pod in &drain {
                    out.push(disruption(pod, self.evict_once(pod, true).await, 1));
                }
                out
            } else {
                node::evict_with_retries(self, &drain).await
            };
            sent.pods.extend(results);
        }
        sent.pods.extend(plan.skipped.iter().cloned());
        Ok(sent)
    }

    pub(super) async fn evict(&self, pod: &PodTarget, dry: bool) -> Result<(), Evicted> {
        let api: Api<Pod> = Api::namespaced(self.evict_client.clone(), &pod.namespace);
        let ep = EvictParams {
            delete_options: None,
            post_options: PostParams {
                dry_run: dry,
                field_manager: Some(self.field_manager.clone()),
            },
        };
        match api.evict(&pod.name, &ep).await {
            Ok(_) => Ok(()),
            Err(e) if api_code(&e) == Some(429) => Err(Evicted::Refused(api_message(&e))),
            Err(e) if api_code(&e) == Some(404) => Err(Evicted::Gone),
            Err(e) => Err(Evicted::Error(e)),
        }
    }

    /// One eviction attempt as a drain reports it.
    pub(super) async fn evict_once(&self, pod: &PodTarget, dry: bool) -> Disruption {
        match self.evict(pod, dry).await {
            Ok(()) if dry => Disruption::WouldEvict,
            Ok(()) => Disruption::Evicted,
            Err(Evicted::Refused(reason)) => Disruption::Blocked { reason },
            Err(Evicted::Gone) => Disruption::Skipped {
                reason: "already gone".into(),
            },
            Err(Evicted::Error(e)) => Disruption::Failed {
                reason: api_message(&e),
            },
        }
    }
}

/// How an eviction request ended when it did not succeed.
pub(super) enum Evicted {
    /// 429: a disruption budget refuses it now.
    Refused(String),
    /// 404.
    Gone,
    /// Anything else.
    Error(kube::Error),
}

pub(crate) fn disruption(pod: &PodTarget, result: Disruption, attempts: u32) -> PodDisruption {
    PodDisruption {
        namespace: pod.namespace.clone(),
        pod: pod.name.clone(),
        owner: pod.owner.clone(),
        result,
        attempts,
    }
}

/// A JSON patch body for kube-rs (whose `Patch::Json` takes the json-patch crate's type,
/// reached here through deserialization).
pub(super) fn json_patch(ops: &Value) -> Result<Patch<Value>, serde_json::Error> {
    Ok(Patch::Json(serde_json::from_value(ops.clone())?))
}
