//! What a dry run says would change and what a real run did, computed from the server's own
//! answers: the object a dry-run patch returns is diffed against the object as it was read.

use std::fmt;

use nightshift_core::{ActionName, ResourceRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ACTION_ID_ANNOTATION, RESTARTED_POD_ANNOTATION};

/// One field that changes (or would change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The object, e.g. `deployment/shop/checkout` or `node/node-a`.
    pub object: String,
    /// The field, e.g. `spec.replicas` or `spec.template.spec.containers[app].image`.
    pub field: String,
    /// The value before; `None` when the field was absent.
    pub from: Option<String>,
    /// The value after; `None` when the field goes away.
    pub to: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "<unset>".into());
        write!(
            f,
            "{} {}: {} → {}",
            self.object,
            self.field,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// What happened (or would happen) to one pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Disruption {
    /// The dry run of its eviction was accepted.
    WouldEvict,
    /// It was evicted.
    Evicted,
    /// A PodDisruptionBudget refused the eviction (for a drain: on every attempt).
    Blocked {
        /// The server's explanation.
        reason: String,
    },
    /// Left alone on purpose (DaemonSet pod, mirror pod, bare pod, already gone).
    Skipped {
        /// Why.
        reason: String,
    },
    /// The eviction failed for another reason.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One pod a restart or drain touches, with its owner and result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodDisruption {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// The workload that owns it (a Deployment rather than its ReplicaSet), if any.
    pub owner: Option<ResourceRef>,
    /// What happened.
    pub result: Disruption,
    /// Eviction requests sent for it (0 for a pod left alone; more than 1 when a disruption
    /// budget refused the first ones).
    pub attempts: u32,
}

impl fmt::Display for PodDisruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pod {}/{}: ", self.namespace, self.pod)?;
        match &self.result {
            Disruption::WouldEvict => write!(f, "would be evicted"),
            Disruption::Evicted if self.attempts > 1 => {
                write!(f, "evicted (attempt {})", self.attempts)
            }
            Disruption::Evicted => write!(f, "evicted"),
            Disruption::Blocked { reason } => write!(f, "blocked: {reason}"),
            Disruption::Skipped { reason } => write!(f, "skipped: {reason}"),
            Disruption::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

/// What a server-side dry run says an action would do. Nothing in the cluster changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunReport {
    /// The action.
    pub action: ActionName,
    /// What it is aimed at.
    pub target: Option<ResourceRef>,
    /// One line, e.g. "roll back deployment shop/checkout from revision 3 to revision 2".
    pub summary: String,
    /// Fields that would change, from the server's dry-run answers.
    pub changes: Vec<Change>,
    /// Pods that would be evicted, are blocked, or are left alone.
    pub pods: Vec<PodDisruption>,
    /// run-runbook of a Job runbook: the Job run in check mode, its status and log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<super::JobRun>,
}

impl DryRunReport {
    /// Whether the dry run found anything to change.
    pub fn changes_anything(&self) -> bool {
        !self.changes.is_empty()
            || self
                .pods
                .iter()
                .any(|p| matches!(p.result, Disruption::WouldEvict | Disruption::Evicted))
    }
}

impl fmt::Display for DryRunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary)?;
        for c in &self.changes {
            write!(f, "\n  {c}")?;
        }
        for p in &self.pods {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// How an `execute` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeStatus {
    /// The change was made.
    Applied,
    /// Made in part: a drain that left pods its budgets would not let go.
    Partial,
    /// The idempotency key shows the change was already made; nothing was sent.
    AlreadyApplied,
    /// There was nothing to change (escalate, none, a rollback to the template in place).
    NoChange,
}

/// What `execute` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    /// The action.
    pub action: ActionName,
    /// The key stamped on the changed object.
    pub idempotency_key: String,
    /// How it ended.
    pub status: OutcomeStatus,
    /// One line.
    pub summary: String,
    /// Fields changed, from the server's answers to the real requests.
    pub changes: Vec<Change>,
    /// Pods evicted, blocked or left alone.
    pub pods: Vec<PodDisruption>,
    /// Workloads whose pods were replaced (restart-pod's owner, a drain's evicted pods'
    /// owners, the target of a workload action): what verification watches.
    pub affected_workloads: Vec<ResourceRef>,
    /// restart-pod: the uid of the pod that was evicted.
    pub replaced_pod_uid: Option<String>,
    /// run-runbook of a Job runbook: its Jobs (check mode, then the real run), their status
    /// and logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<super::JobRun>,
}

impl ActionOutcome {
    /// An outcome that sent nothing.
    pub(crate) fn unchanged(
        action: ActionName,
        key: &str,
        status: OutcomeStatus,
        summary: String,
    ) -> Self {
        ActionOutcome {
            action,
            idempotency_key: key.to_string(),
            status,
            summary,
            changes: Vec::new(),
            pods: Vec::new(),
            affected_workloads: Vec::new(),
            replaced_pod_uid: None,
            jobs: Vec::new(),
        }
    }
}

/// Annotations of ours that are bookkeeping rather than a change worth reporting.
fn ignored_annotation(key: &str) -> bool {
    key == ACTION_ID_ANNOTATION || key == RESTARTED_POD_ANNOTATION
}

/// The spec minus our bookkeeping in the pod template's annotations.
fn spec_of(object: &Value) -> Option<Value> {
    let mut spec = object.get("spec")?.clone();
    if let Some(a) = spec
        .pointer_mut("/template/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.retain(|k, _| !ignored_annotation(k));
    }
    Some(spec)
}

/// The fields that differ between an object as read and as the server answered a patch:
/// `spec`, `metadata.labels` and `metadata.annotations` (minus our own bookkeeping, in the
/// pod template's annotations too).
pub(crate) fn diff(object: &str, before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let (b, a) = (spec_of(before), spec_of(after));
    walk(object, "spec", b.as_ref(), a.as_ref(), &mut out);
    for meta in ["labels", "annotations"] {
        let strip = |v: Option<&Value>| -> Option<Value> {
            let mut m = v?.pointer(&format!("/metadata/{meta}"))?.clone();
            if meta == "annotations"
                && let Some(o) = m.as_object_mut()
            {
                o.retain(|k, _| !ignored_annotation(k));
            }
            Some(m)
        };
        let (b, a) = (strip(Some(before)), strip(Some(after)));
        walk(
            object,
            &format!("metadata.{meta}"),
            b.as_ref(),
            a.as_ref(),
            &mut out,
        );
    }
    out
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn segment(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!(".{key}")
    } else {
        format!("[{key:?}]")
    }
}

/// Lists of objects that all carry a `name` are compared element by element.
fn named(list: &[Value]) -> Option<Vec<(&str, &Value)>> {
    list.iter()
        .map(|v| v.get("name").and_then(Value::as_str).map(|n| (n, v)))
        .collect()
}

fn walk(
    object: &str,
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<Change>,
) {
    let empty = |v: Option<&Value>| {
        v.is_none_or(|v| {
            v.is_null()
                || v.as_object().is_some_and(|o| o.is_empty())
                || v.as_array().is_some_and(|a| a.is_empty())
        })
    };
    if before == after || (empty(before) && empty(after)) {
        return;
    }
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(
                    object,
                    &format!("{path}{}", segment(k)),
                    b.get(k.as_str()),
                    a.get(k.as_str()),
                    out,
                );
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) => match (named(b), named(a)) {
            (Some(nb), Some(na)) => {
                let mut names: Vec<&str> = Vec::new();
                for (n, _) in nb.iter().chain(na.iter()) {
                    if !names.contains(n) {
                        names.push(n);
                    }
                }
                for n in names {
                    let b = nb.iter().find(|(m, _)| *m == n).map(|(_, v)| *v);
                    let a = na.iter().find(|(m, _)| *m == n).map(|(_, v)| *v);
                    walk(object, &format!("{path}[{n}]"), b, a, out);
                }
            }
            _ => out.push(Change {
                object: object.to_string(),
                field: path.to_string(),
                from: Some(render(&Value::Array(b.clone()))),
                to: Some(render(&Value::Array(a.clone()))),
            }),
        },
        (Some(Value::Object(b)), None) => {
            for (k, v) in b {
                walk(object, &format!("{path}{}", segment(k)), Some(v), None, out);
            }
        }
        (None, Some(Value::Object(a))) => {
            for (k, v) in a {
                walk(object, &format!("{path}{}", segment(k)), None, Some(v), out);
            }
        }
        (b, a) => out.push(Change {
            object: object.to_string(),
            field: path.to_string(),
            from: b.filter(|v| !v.is_null()).map(render),
            to: a.filter(|v| !v.is_null()).map(render),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_containers_and_annotation_keys() {
        let before = json!({
            "metadata": {"annotations": {"a": "1"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "app", "image": "x:1", "resources": {"limits": {"memory": "256Mi"}}},
                {"name": "side", "image": "s:1"}
            ]}}}
        });
        let after = json!({
            "metadata": {"annotations": {"a": "1", "nightshift.io/action-id": "k", "kubectl.kubernetes.io/restartedAt": "t"}},
            "spec": {"replicas": 6, "template": {"metadata": {"annotations": {"nightshift.io/action-id": "k"}}, "spec": {"containers": [
                {"name": "app", "image": "x:1", "resources": {"limits": {"memory": "512Mi"}}},
                {"name": "side", "image": "s:1"}
            ]}}}
        });
        let got: Vec<String> = diff("deployment/shop/c", &before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "deployment/shop/c spec.replicas: 3 → 6",
                "deployment/shop/c spec.template.spec.containers[app].resources.limits.memory: 256Mi → 512Mi",
                "deployment/shop/c metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]: <unset> → t",
            ]
        );
    }
}
