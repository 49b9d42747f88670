//! Reading the cluster for each expectation. Every check is stateless: container start times
//! and condition transition times say how long the current state has held, so a check after
//! an agent restart gives the same answer as one before it.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use nightshift_core::{ResourceRef, WorkloadKind};
use serde_json::Value;

use super::clock::to_utc;
use crate::act::{evictable, label_selector};

/// Container waiting reasons that mean the kubelet is backing off rather than starting.
const BACK_OFF: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
];

/// What one expectation looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// It holds. `settled_from`: since when the state it rests on has held, when it needs a
    /// stabilization window; `measured`: what was read that shows it, in a sentence.
    Met {
        settled_from: Option<DateTime<Utc>>,
        measured: String,
    },
    /// Not yet.
    Pending(String),
    /// It cannot come to hold any more.
    Failed(String),
}

fn rfc3339(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn workload_api(client: &Client, kind: WorkloadKind, ns: &str) -> Api<DynamicObject> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    let ar = match kind {
        WorkloadKind::Deployment => ApiResource::erase::<Deployment>(&()),
        WorkloadKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        WorkloadKind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn describe(w: &ResourceRef) -> String {
    match w {
        ResourceRef::Workload {
            kind,
            namespace,
            name,
        } => format!("{} {namespace}/{name}", kind.as_str().to_lowercase()),
        other => other.to_string(),
    }
}

/// The workload as JSON, or the finding that ends the check.
async fn get_workload(client: &Client, w: &ResourceRef) -> Result<Value, Finding> {
    let ResourceRef::Workload {
        kind,
        namespace,
        name,
    } = w
    else {
        return Err(Finding::Failed(format!("{w} is not a workload")));
    };
    let api = workload_api(client, *kind, namespace);
    match api.get_opt(name).await {
        Ok(Some(obj)) => Ok(serde_json::to_value(obj).unwrap_or_default()),
        Ok(None) => Err(Finding::Failed(format!("{} no longer exists", describe(w)))),
        Err(e) => Err(Finding::Pending(format!(
            "unable to get {}: {e}",
            describe(w)
        ))),
    }
}

/// Active (not terminating, not finished) pods the workload's selector matches.
async fn pods_of(client: &Client, w: &ResourceRef, obj: &Value) -> Result<Vec<Pod>, Finding> {
    let ns = w.namespace().unwrap_or_default();
    let Some(sel) = obj.pointer("/spec/selector").and_then(label_selector) else {
        return Ok(Vec::new());
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    match api.list(&ListParams::default().labels(&sel)).await {
        Ok(list) => Ok(list.items.into_iter().filter(active).collect()),
        Err(e) => Err(Finding::Pending(format!(
            "unable to list the pods of {}: {e}",
            describe(w)
        ))),
    }
}

fn active(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    p.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

fn pod_name(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or_default(),
        p.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Whether the rollout is complete, or why not.
fn rollout(
    kind: WorkloadKind,
    w: &str,
    obj: &Value,
    desired: i64,
    since: DateTime<Utc>,
) -> Finding {
    let generation = int(obj, "/metadata/generation");
    let observed = int(obj, "/status/observedGeneration");
    if observed < generation {
        return Finding::Pending(format!(
            "the controller has not yet observed generation {generation} of {w} (observed {observed})"
        ));
    }
    let st = |f: &str| int(obj, &format!("/status/{f}"));
    match kind {
        WorkloadKind::Deployment => {
            let progressing = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"))
                });
            if let Some(c) = progressing
                && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
                && rfc3339(c.get("lastUpdateTime")).is_some_and(|t| t >= since)
            {
                return Finding::Failed(format!(
                    "{w} exceeded its progress deadline: {}",
                    c.get("message").and_then(Value::as_str).unwrap_or_default()
                ));
            }
            let (updated, total, available) = (
                st("updatedReplicas"),
                st("replicas"),
                st("availableReplicas"),
            );
            if updated != desired || total != desired || available != desired {
                return Finding::Pending(format!(
                    "rollout of {w} in progress: {updated} of {desired} updated, {available} available, {total} in total"
                ));
            }
        }
        WorkloadKind::StatefulSet => {
            let (updated, total, ready) =
                (st("updatedReplicas"), st("replicas"), st("readyReplicas"));
            let current = obj.pointer("/status/currentRevision");
            let update = obj.pointer("/status/updateRevision");
            if updated != desired || total != desired || ready != desired || current != update {
                return Finding::Pending(format!(
                    "rollout of {w} in progress: {updated} of {desired} updated, {ready} ready, {total} in total"
                ));
            }
        }
        WorkloadKind::DaemonSet => {
            let (updated, available) = (st("updatedNumberScheduled"), st("numberAvailable"));
            if updated != desired || available != desired {
                return Finding::Pending(format!(
                    "rollout of {w} in progress: {updated} of {desired} updated, {available} available"
                ));
            }
        }
    }
    Finding::Met {
        settled_from: None,
        measured: format!("rollout of {w} complete"),
    }
}

/// Whether a pod is Ready with every container running and none backing off; if so, since
/// when (the later of its Ready transition and its containers' last starts).
fn pod_settled(p: &Pod) -> Result<DateTime<Utc>, String> {
    let name = pod_name(p);
    let status = p.status.clone().unwrap_or_default();
    let mut settled = p
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or_else(DateTime::<Utc>::default, |t| to_utc(t.0.as_millisecond()));
    for c in status.container_statuses.iter().flatten() {
        let state = c.state.clone().unwrap_or_default();
        if let Some(w) = &state.waiting {
            let reason = w.reason.clone().unwrap_or_else(|| "waiting".into());
            return Err(if BACK_OFF.contains(&reason.as_str()) {
                format!(
                    "container {} of pod {name} is in {reason} ({} restarts)",
                    c.name, c.restart_count
                )
            } else {
                format!("container {} of pod {name} is waiting: {reason}", c.name)
            });
        }
        match state.running.and_then(|r| r.started_at) {
            Some(t) => settled = settled.max(to_utc(t.0.as_millisecond())),
            None => return Err(format!("container {} of pod {name} is not running", c.name)),
        }
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready");
    match ready {
        Some(c) if c.status == "True" => {
            if let Some(t) = &c.last_transition_time {
                settled = settled.max(to_utc(t.0.as_millisecond()));
            }
            Ok(settled)
        }
        _ => Err(format!("pod {name} is not Ready")),
    }
}

/// [`super::Expectation::WorkloadHealthy`].
pub(crate) async fn workload_healthy(
    client: &Client,
    w: &ResourceRef,
    replicas: Option<i32>,
    since: DateTime<Utc>,
) -> Finding {
    let obj = match get_workload(client, w).await {
        Ok(o) => o,
        Err(f) => return f,
    };
    let name = describe(w);
    let ResourceRef::Workload { kind, .. } = w else {
        return Finding::Failed(format!("{w} is not a workload"));
    };
    let kind = *kind;
    let desired = if kind == WorkloadKind::DaemonSet {
        int(&obj, "/status/desiredNumberScheduled")
    } else {
        obj.pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    };
    if let Some(want) = replicas
        && desired != i64::from(want)
    {
        return Finding::Pending(format!(
            "{name} is set to {desired} replicas, not the {want} the action set; someone else changed it"
        ));
    }
    let progress = rollout(kind, &name, &obj, desired, since);
    if let Finding::Failed(_) = progress {
        return progress;
    }
    let pods = match pods_of(client, w, &obj).await {
        Ok(p) => p,
        Err(f) => return f,
    };
    if let Finding::Pending(why) = progress {
        // Say what holds the rollout up when the pods show it.
        let stuck: Vec<String> = pods.iter().filter_map(|p| pod_settled(p).err()).collect();
        return Finding::Pending(if stuck.is_empty() {
            why
        } else {
            format!("{why}; {}", stuck.join("; "))
        });
    }
    if (pods.len() as i64) < desired {
        return Finding::Pending(format!("{name} has {} of {desired} pods", pods.len()));
    }
    let mut settled: Option<DateTime<Utc>> = None;
    let mut problems = Vec::new();
    for p in &pods {
        match pod_settled(p) {
            Ok(t) => settled = Some(settled.map_or(t, |s| s.max(t))),
            Err(why) => problems.push(why),
        }
    }
    if !problems.is_empty() {
        return Finding::Pending(problems.join("; "));
    }
    let settled = settled.unwrap_or(since);
    Finding::Met {
        settled_from: Some(settled),
        measured: format!(
            "{name}: {desired} of {desired} replicas updated and available, {} pods Ready with no container backing off since {}",
            pods.len(),
            settled.format("%H:%M:%S")
        ),
    }
}

/// Memory in bytes from Kubernetes notation.
pub(crate) fn memory_bytes(q: &str) -> Option<f64> {
    let q = q.trim();
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
    ];
    for (s, mult) in suffixes {
        if let Some(n) = q.strip_suffix(s) {
            return n.parse::<f64>().ok().map(|n| n * mult);
        }
    }
    q.parse::<f64>().ok()
}

/// [`super::Expectation::NoOomKillAfterChange`].
pub(crate) async fn no_oom_kill_after(
    client: &Client,
    w: &ResourceRef,
    container: &str,
    memory_limit: Option<&str>,
    since: DateTime<Utc>,
) -> Finding {
    let obj = match get_workload(client, w).await {
        Ok(o) => o,
        Err(f) => return f,
    };
    let pods = match pods_of(client, w, &obj).await {
        Ok(p) => p,
        Err(f) => return f,
    };
    let want = memory_limit.and_then(memory_bytes);
    for p in &pods {
        let spec_limit = p
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .find(|c| c.name == container)
            .and_then(|c| c.resources.as_ref())
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("memory"))
            .and_then(|q| memory_bytes(&q.0));
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| to_utc(t.0.as_millisecond()));
        let new = match want {
            Some(want) => spec_limit.is_some_and(|l| (l - want).abs() < 1.0),
            None => created.is_some_and(|t| t >= since),
        };
        if !new {
            continue;
        }
        for c in p
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
            .filter(|c| c.name == container)
        {
            let terminated = [c.state.as_ref(), c.last_state.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|s| s.terminated.as_ref());
            for t in terminated {
                let at = t.finished_at.as_ref().map(|t| to_utc(t.0.as_millisecond()));
                if t.reason.as_deref() == Some("OOMKilled") && at.is_some_and(|at| at >= since) {
                    return Finding::Failed(format!(
                        "container {container} of pod {} was OOMKilled at {} after the change{}",
                        pod_name(p),
                        at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                        memory_limit
                            .map(|l| format!(" (memory limit {l})"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
    }
    Finding::Met {
        settled_from: None,
        measured: format!(
            "no container {container} of {} OOMKilled since the change ({} pods checked)",
            describe(w),
            pods.len()
        ),
    }
}

/// [`super::Expectation::PodReplaced`].
pub(crate) async fn pod_replaced(
    client: &Client,
    namespace: &str,
    pod: &str,
    uid: Option<&str>,
    since: DateTime<Utc>,
) -> Finding {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let p = match api.get_opt(pod).await {
        Ok(p) => p,
        Err(e) => return Finding::Pending(format!("unable to get pod {namespace}/{pod}: {e}")),
    };
    let Some(p) = p else {
        return Finding::Met {
            settled_from: None,
            measured: format!("pod {namespace}/{pod} is gone"),
        };
    };
    let created = p
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| to_utc(t.0.as_millisecond()));
    let replacement = match uid {
        Some(uid) => p.metadata.uid.as_deref() != Some(uid),
        None => created.is_some_and(|t| t >= since),
    };
    if !replacement {
        return Finding::Pending(if p.metadata.deletion_timestamp.is_some() {
            format!("pod {namespace}/{pod} is terminating")
        } else {
            format!("pod {namespace}/{pod} has not been replaced yet")
        });
    }
    // Same name, new uid: a StatefulSet's replacement, which must be Ready itself.
    match pod_settled(&p) {
        Ok(t) => Finding::Met {
            settled_from: Some(t),
            measured: format!(
                "pod {namespace}/{pod} replaced (new uid) and Ready since {}",
                t.format("%H:%M:%S")
            ),
        },
        Err(why) => Finding::Pending(why),
    }
}

async fn get_node(client: &Client, node: &str) -> Result<Node, Finding> {
    let api: Api<Node> = Api::all(client.clone());
    match api.get_opt(node).await {
        Ok(Some(n)) => Ok(n),
        Ok(None) => Err(Finding::Failed(format!("node {node} no longer exists"))),
        Err(e) => Err(Finding::Pending(format!("unable to get node {node}: {e}"))),
    }
}

/// [`super::Expectation::NodeSchedulable`].
pub(crate) async fn node_schedulable(client: &Client, node: &str, schedulable: bool) -> Finding {
    let n = match get_node(client, node).await {
        Ok(n) => n,
        Err(f) => return f,
    };
    let unschedulable = n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    if unschedulable == schedulable {
        return Finding::Pending(format!(
            "node {node} is still {}",
            if unschedulable {
                "cordoned"
            } else {
                "schedulable"
            }
        ));
    }
    if schedulable {
        let ready = n
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status.clone());
        if ready.as_deref() != Some("True") {
            return Finding::Pending(format!(
                "node {node} is uncordoned but not Ready (Ready={})",
                ready.unwrap_or_else(|| "absent".into())
            ));
        }
    }
    Finding::Met {
        settled_from: None,
        measured: format!(
            "node {node} is {}",
            if schedulable {
                "schedulable and Ready"
            } else {
                "cordoned"
            }
        ),
    }
}

/// [`super::Expectation::NodeDrained`].
pub(crate) async fn node_drained(client: &Client, node: &str) -> Finding {
    if let Err(f) = get_node(client, node).await {
        return f;
    }
    let api: Api<Pod> = Api::all(client.clone());
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let pods = match api.list(&lp).await {
        Ok(l) => l.items,
        Err(e) => return Finding::Pending(format!("unable to list the pods on node {node}: {e}")),
    };
    let left: Vec<String> = pods.iter().filter(|p| evictable(p)).map(pod_name).collect();
    if left.is_empty() {
        Finding::Met {
            settled_from: None,
            measured: format!("no evictable pods left on node {node}"),
        }
    } else {
        Finding::Pending(format!(
            "{} evictable pod{} still on node {node}: {}",
            left.len(),
            if left.len() == 1 { "" } else { "s" },
            left.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::memory_bytes;

    #[test]
    fn memory_quantities() {
        assert_eq!(memory_bytes("512Mi"), Some(536_870_912.0));
        assert_eq!(memory_bytes("0.5Gi"), Some(536_870_912.0));
        assert_eq!(memory_bytes("1G"), Some(1e9));
        assert_eq!(memory_bytes("1048576"), Some(1_048_576.0));
        assert_eq!(memory_bytes("lots"), None);
    }
}
