//! rollback, with `kubectl rollout undo` semantics.
//!
//! A Deployment's history is its ReplicaSets (revision in `deployment.kubernetes.io/revision`);
//! a StatefulSet's or DaemonSet's is its ControllerRevisions (`revision`, template in
//! `data.spec.template`). Without a revision the target is the newest one whose template
//! differs from the running one (kubectl's "second highest revision", robust to a history
//! whose newest entry is not the running template); the chosen template, minus the
//! `pod-template-hash` label, replaces `spec.template` through a JSON patch, as kubectl sends.
//! For Deployments the old ReplicaSet's annotations are restored too (kubectl's list of skipped
//! annotations excepted); unlike kubectl, annotations the old revision does not mention are
//! kept rather than dropped. The restored template carries the action's key (see the
//! module above), so a Deployment gets a new ReplicaSet for it rather than reviving the old
//! one, and the history says the agent made it.

use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, ListParams};
use nightshift_core::ActionName;
use serde_json::{Value, json};

use super::target::{Kind, Workload, label_selector, to_json};
use super::workload::refuse_paused;
use super::{ACTION_ID_ANNOTATION, ActError, Actuator, Body, Plan, RESTARTED_POD_ANNOTATION, Step};

/// Annotations of a ReplicaSet that are not restored onto the Deployment (kubectl's list).
const SKIPPED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
    ACTION_ID_ANNOTATION,
    RESTARTED_POD_ANNOTATION,
];

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

/// One entry of a workload's history.
struct Revision {
    number: i64,
    /// Normalized template (typed round trip, no hash label).
    template: Value,
    /// Annotations to restore (Deployments only).
    annotations: Vec<(String, String)>,
}

/// A template in canonical form: through the typed struct (so raw and typed JSON compare
/// equal), without the `pod-template-hash` label, strategic-merge directives and the stamp of
/// the action that made it (so a revision of ours compares equal to the one it restored).
fn normalize(template: &Value, what: &str) -> Result<Value, ActError> {
    let mut raw = template.clone();
    if let Some(o) = raw.as_object_mut() {
        o.remove("$patch");
    }
    let mut typed: PodTemplateSpec =
        serde_json::from_value(raw).map_err(|source| ActError::Decode {
            what: what.to_string(),
            source,
        })?;
    if let Some(meta) = typed.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(HASH_LABEL);
        }
        if let Some(annotations) = meta.annotations.as_mut() {
            annotations.remove(ACTION_ID_ANNOTATION);
            if annotations.is_empty() {
                meta.annotations = None;
            }
        }
    }
    to_json(&typed, what)
}

fn images(template: &Value) -> String {
    let images: Vec<&str> = template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    images.join(", ")
}

/// JSON pointer escaping of one key.
fn pointer_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

async fn replica_set_history(
    actuator: &Actuator,
    w: &Workload,
    obj: &Value,
) -> Result<Vec<Revision>, ActError> {
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str);
    let api: Api<ReplicaSet> = Api::namespaced(actuator.client.clone(), &w.namespace);
    let mut lp = ListParams::default();
    if let Some(sel) = obj.pointer("/spec/selector").and_then(label_selector) {
        lp = lp.labels(&sel);
    }
    let list = api.list(&lp).await.map_err(|source| ActError::List {
        what: format!("replica sets of {w}"),
        source,
    })?;
    let mut out = Vec::new();
    for rs in list.items {
        let owned = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid);
        if !owned {
            continue;
        }
        let annotations = rs.metadata.annotations.clone().unwrap_or_default();
        let Some(number) = annotations.get(REVISION).and_then(|r| r.parse().ok()) else {
            continue;
        };
        let Some(template) = rs.spec.as_ref().and_then(|s| s.template.as_ref()) else {
            continue;
        };
        let name = rs.metadata.name.clone().unwrap_or_default();
        let what = format!("the template of replicaset {}/{name}", w.namespace);
        out.push(Revision {
            number,
            template: normalize(&to_json(template, &what)?, &what)?,
            annotations: annotations
                .into_iter()
                .filter(|(k, _)| !SKIPPED_ANNOTATIONS.contains(&k.as_str()))
                .collect(),
        });
    }
    Ok(out)
}

async fn controller_revision_history(
    actuator: &Actuator,
    w: &Workload,
    obj: &Value,
) -> Result<Vec<Revision>, ActError> {
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str);
    let api: Api<ControllerRevision> = Api::namespaced(actuator.client.clone(), &w.namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|source| ActError::List {
            what: format!("controller revisions of {w}"),
            source,
        })?;
    let mut out = Vec::new();
    for cr in list.items {
        let owned = cr
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid);
        let Some(template) = cr.data.as_ref().and_then(|d| d.0.pointer("/spec/template")) else {
            continue;
        };
        if !owned {
            continue;
        }
        let name = cr.metadata.name.clone().unwrap_or_default();
        let what = format!("the template of controllerrevision {}/{name}", w.namespace);
        out.push(Revision {
            number: cr.revision,
            template: normalize(template, &what)?,
            annotations: Vec::new(),
        });
    }
    Ok(out)
}

/// Plans the rollback of `w` to `revision` (the previous one when `None`).
pub(crate) async fn plan(
    actuator: &Actuator,
    w: &Workload,
    revision: Option<i64>,
    key: Option<&str>,
) -> Result<Plan, ActError> {
    let obj = w.get(&actuator.client).await?;
    refuse_paused(w, &obj, ActionName::Rollback)?;
    let what = format!("the template of {w}");
    let current = normalize(obj.pointer("/spec/template").unwrap_or(&Value::Null), &what)?;
    let mut history = match w.kind {
        Kind::Deployment => replica_set_history(actuator, w, &obj).await?,
        Kind::StatefulSet | Kind::DaemonSet => {
            controller_revision_history(actuator, w, &obj).await?
        }
        Kind::ReplicaSet => {
            return Err(ActError::UnsupportedKind {
                kind: "ReplicaSet".into(),
            });
        }
    };
    history.sort_by_key(|r| r.number);
    let running = history
        .iter()
        .rev()
        .find(|r| r.template == current)
        .map(|r| r.number);
    let chosen = match revision {
        Some(n) => history.iter().find(|r| r.number == n).ok_or_else(|| {
            let available: Vec<String> = history.iter().map(|r| r.number.to_string()).collect();
            ActError::RevisionNotFound {
                workload: w.to_string(),
                revision: n,
                available: if available.is_empty() {
                    "none".into()
                } else {
                    available.join(", ")
                },
            }
        })?,
        None => history
            .iter()
            .rev()
            .find(|r| r.template != current)
            .ok_or_else(|| ActError::NoPreviousRevision {
                workload: w.to_string(),
            })?,
    };
    let from = running.map_or_else(
        || "the running template".to_string(),
        |n| format!("revision {n}"),
    );
    let mut plan = Plan::new(
        format!(
            "roll back {w} from {from} to revision {} (image {} → {})",
            chosen.number,
            images(&current),
            images(&chosen.template)
        ),
        Some(w.to_ref()),
    );
    plan.affected.push(w.to_ref());
    if chosen.template == current {
        plan.summary = format!(
            "{w} already runs the template of revision {}; nothing to roll back",
            chosen.number
        );
        plan.nothing_to_do = true;
        return Ok(plan);
    }
    // The restored template carries our key, so the revision it makes is on the record as ours.
    let mut template = chosen.template.clone();
    if let Some(key) = key {
        template["metadata"]["annotations"][ACTION_ID_ANNOTATION] = json!(key);
    }
    let mut ops = vec![json!({"op": "replace", "path": "/spec/template", "value": template})];
    let mut annotations: Vec<(String, String)> = chosen.annotations.clone();
    if let Some(key) = key {
        annotations.push((ACTION_ID_ANNOTATION.into(), key.into()));
    }
    if !annotations.is_empty()
        && !obj
            .pointer("/metadata/annotations")
            .is_some_and(Value::is_object)
    {
        ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": {}}));
    }
    for (k, v) in annotations {
        ops.push(json!({"op": "add", "path": format!("/metadata/annotations/{}", pointer_key(&k)), "value": v}));
    }
    plan.steps.push(Step::Patch {
        api: w.api(&actuator.client),
        name: w.name.clone(),
        object: w.object(),
        describe: w.to_string(),
        before: obj,
        body: Body::Json(Value::Array(ops)),
    });
    Ok(plan)
}
