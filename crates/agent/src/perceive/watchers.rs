//! The agent's own detectors, so it works where no Prometheus is set up: pure functions from
//! Kubernetes objects to detections, and a task that runs them over reflector caches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use nightshift_core::{ResourceRef, Signal, SignalSource, SignalStatus};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::redact::{redact, redact_values};

/// How long a condition must hold before it is worth an incident.
#[derive(Debug, Clone)]
pub struct Grace {
    /// Pods Pending and unschedulable.
    pub unschedulable: Duration,
    /// Pods running but not Ready.
    pub not_ready: Duration,
    /// Deployments with unavailable replicas.
    pub unavailable: Duration,
    /// An OOMKilled termination counts while it is this recent.
    pub oom_recent: Duration,
}

impl Default for Grace {
    fn default() -> Self {
        Grace {
            unschedulable: Duration::from_secs(60),
            not_ready: Duration::from_secs(120),
            unavailable: Duration::from_secs(300),
            oom_recent: Duration::from_secs(600),
        }
    }
}

/// One condition a detector found.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Reason (`CrashLoopBackOff`, `OOMKilled`, `NodeNotReady`, ...).
    pub reason: &'static str,
    /// What it is about.
    pub resource: ResourceRef,
    /// Since when it holds.
    pub since: DateTime<Utc>,
    /// Human summary.
    pub summary: String,
    /// Extra labels (container, condition).
    pub labels: BTreeMap<String, String>,
}

impl Detection {
    /// The signal for this detection; the fingerprint is stable for the same condition on the
    /// same resource, so repeats deduplicate.
    pub fn signal(&self, status: SignalStatus, now: DateTime<Utc>) -> Signal {
        let mut labels = self.labels.clone();
        labels.insert("reason".into(), self.reason.into());
        match &self.resource {
            ResourceRef::Pod { namespace, name } => {
                labels.insert("namespace".into(), namespace.clone());
                labels.insert("pod".into(), name.clone());
            }
            ResourceRef::Workload {
                kind,
                namespace,
                name,
            } => {
                labels.insert("namespace".into(), namespace.clone());
                labels.insert(kind.as_str().to_lowercase(), name.clone());
            }
            ResourceRef::Node { name } => {
                labels.insert("node".into(), name.clone());
            }
            ResourceRef::Service { namespace, name } => {
                labels.insert("namespace".into(), namespace.clone());
                labels.insert("service".into(), name.clone());
            }
            ResourceRef::External { host_port } => {
                labels.insert("host".into(), host_port.clone());
            }
            ResourceRef::Object {
                kind,
                namespace,
                name,
            } => {
                labels.insert("namespace".into(), namespace.clone());
                labels.insert(kind.to_lowercase(), name.clone());
            }
            // The watchers detect on real objects; a storm is the engine's grouping.
            ResourceRef::Storm { .. } => {}
        }
        let fingerprint = format!(
            "watch:{}",
            crate::perceive::alertmanager::label_fingerprint(&labels)
        );
        // Summaries quote container and condition messages, which can carry what a failing
        // process printed; everything is redacted before the signal reaches the store.
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".into(), redact(&self.summary));
        Signal {
            fingerprint,
            source: SignalSource::Watcher,
            status,
            name: self.reason.to_string(),
            labels: redact_values(labels),
            annotations,
            starts_at: self.since,
            ends_at: (status == SignalStatus::Resolved).then_some(now),
            resource: Some(self.resource.clone()),
        }
    }
}

fn ts(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.0.as_millisecond()).unwrap_or_default()
}

/// What is wrong with a pod right now.
pub fn detect_pod(pod: &Pod, now: DateTime<Utc>, grace: &Grace) -> Vec<Detection> {
    let mut out = Vec::new();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        return out;
    }
    let resource = ResourceRef::Pod {
        namespace: ns.clone(),
        name: name.clone(),
    };
    let created = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(ts)
        .unwrap_or(now);
    let Some(status) = pod.status.as_ref() else {
        return out;
    };
    let container = |c: &str| BTreeMap::from([("container".to_string(), c.to_string())]);
    for cs in status.container_statuses.iter().flatten() {
        let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
        let reason = waiting.and_then(|w| w.reason.as_deref()).unwrap_or("");
        let found: Option<&'static str> = match reason {
            "CrashLoopBackOff" => Some("CrashLoopBackOff"),
            "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" => Some("ImagePullBackOff"),
            "CreateContainerConfigError" | "CreateContainerError" => {
                Some("CreateContainerConfigError")
            }
            _ => None,
        };
        if let Some(r) = found {
            let msg = waiting.and_then(|w| w.message.clone()).unwrap_or_default();
            out.push(Detection {
                reason: r,
                resource: resource.clone(),
                since: created,
                summary: format!(
                    "pod {ns}/{name} container {} is waiting: {reason} {msg}",
                    cs.name
                )
                .trim_end()
                .to_string(),
                labels: container(&cs.name),
            });
        }
        if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref())
            && t.reason.as_deref() == Some("OOMKilled")
        {
            let at = t.finished_at.as_ref().map(ts).unwrap_or(now);
            if now.signed_duration_since(at).to_std().unwrap_or_default() <= grace.oom_recent {
                out.push(Detection {
                    reason: "OOMKilled",
                    resource: resource.clone(),
                    since: at,
                    summary: format!(
                        "pod {ns}/{name} container {} was OOMKilled (exit 137), {} restarts",
                        cs.name, cs.restart_count
                    ),
                    labels: container(&cs.name),
                });
            }
        }
    }
    let cond = |t: &str| status.conditions.iter().flatten().find(|c| c.type_ == t);
    let held = |since: DateTime<Utc>, g: Duration| {
        now.signed_duration_since(since)
            .to_std()
            .unwrap_or_default()
            >= g
    };
    if let Some(c) = cond("PodScheduled")
        && c.status == "False"
        && c.reason.as_deref() == Some("Unschedulable")
    {
        let since = c.last_transition_time.as_ref().map(ts).unwrap_or(created);
        if held(since, grace.unschedulable) {
            out.push(Detection {
                reason: "Unschedulable",
                resource: resource.clone(),
                since,
                summary: format!(
                    "pod {ns}/{name} cannot be scheduled: {}",
                    c.message.clone().unwrap_or_default()
                ),
                labels: BTreeMap::new(),
            });
        }
    }
    let phase = status.phase.as_deref().unwrap_or("");
    if let Some(c) = cond("Ready")
        && c.status != "True"
        && (phase == "Running" || phase == "Unknown")
        && out.is_empty()
    {
        let since = c.last_transition_time.as_ref().map(ts).unwrap_or(created);
        if held(since, grace.not_ready) {
            out.push(Detection {
                reason: "NotReady",
                resource: resource.clone(),
                since,
                summary: format!("pod {ns}/{name} has not been Ready since {since}"),
                labels: BTreeMap::new(),
            });
        }
    }
    out
}

/// What is wrong with a Deployment right now.
pub fn detect_deployment(d: &Deployment, now: DateTime<Utc>, grace: &Grace) -> Vec<Detection> {
    let mut out = Vec::new();
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let resource = ResourceRef::deployment(&ns, &name);
    let Some(status) = d.status.as_ref() else {
        return out;
    };
    for c in status.conditions.iter().flatten() {
        if c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        {
            out.push(Detection {
                reason: "ProgressDeadlineExceeded",
                resource: resource.clone(),
                since: c.last_transition_time.as_ref().map(ts).unwrap_or(now),
                summary: format!(
                    "deployment {ns}/{name} rollout stalled: {}",
                    c.message.clone().unwrap_or_default()
                ),
                labels: BTreeMap::new(),
            });
        }
        if c.type_ == "Available" && c.status == "False" {
            let since = c.last_transition_time.as_ref().map(ts).unwrap_or(now);
            if now
                .signed_duration_since(since)
                .to_std()
                .unwrap_or_default()
                >= grace.unavailable
            {
                out.push(Detection {
                    reason: "ReplicasUnavailable",
                    resource: resource.clone(),
                    since,
                    summary: format!(
                        "deployment {ns}/{name} has {} unavailable replicas",
                        status.unavailable_replicas.unwrap_or(0)
                    ),
                    labels: BTreeMap::new(),
                });
            }
        }
    }
    out
}

/// What is wrong with a node right now.
pub fn detect_node(n: &Node, now: DateTime<Utc>) -> Vec<Detection> {
    let mut out = Vec::new();
    let name = n.metadata.name.clone().unwrap_or_default();
    for c in n.status.iter().flat_map(|s| s.conditions.iter().flatten()) {
        let since = c.last_transition_time.as_ref().map(ts).unwrap_or(now);
        let bad = match c.type_.as_str() {
            "Ready" => c.status != "True",
            "DiskPressure" | "MemoryPressure" | "PIDPressure" => c.status == "True",
            _ => false,
        };
        if !bad {
            continue;
        }
        let (reason, summary) = if c.type_ == "Ready" {
            (
                "NodeNotReady",
                format!(
                    "node {name} is not ready: {} ({})",
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                ),
            )
        } else {
            (
                "NodePressure",
                format!(
                    "node {name} has {}: {}",
                    c.type_,
                    c.message.clone().unwrap_or_default()
                ),
            )
        };
        out.push(Detection {
            reason,
            resource: ResourceRef::node(&name),
            since,
            summary,
            labels: BTreeMap::from([("condition".to_string(), c.type_.clone())]),
        });
    }
    out
}

/// A Deployment scaled to zero whose Service still exists (so something calls it).
pub fn detect_scaled_to_zero(
    d: &Deployment,
    has_service: bool,
    now: DateTime<Utc>,
) -> Option<Detection> {
    let replicas = d.spec.as_ref().and_then(|s| s.replicas)?;
    if replicas != 0 || !has_service {
        return None;
    }
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    Some(Detection {
        reason: "ScaledToZero",
        resource: ResourceRef::deployment(&ns, &name),
        since: now,
        summary: format!("deployment {ns}/{name} is scaled to zero while its Service is in use"),
        labels: BTreeMap::new(),
    })
}

/// Reflector caches of the objects the detectors and the correlator read.
#[derive(Clone)]
pub struct Caches {
    /// Pods.
    pub pods: Store<Pod>,
    /// Deployments.
    pub deployments: Store<Deployment>,
    /// ReplicaSets: the link from a Deployment's pods to it (ownerReferences).
    pub replicasets: Store<k8s_openapi::api::apps::v1::ReplicaSet>,
    /// Nodes.
    pub nodes: Store<Node>,
    /// Services.
    pub services: Store<k8s_openapi::api::core::v1::Service>,
}

/// Starts reflectors for the cached types; they run until the client's server goes away.
pub fn start_caches(client: Client) -> (Caches, Vec<tokio::task::JoinHandle<()>>) {
    fn run<K>(api: Api<K>) -> (Store<K>, tokio::task::JoinHandle<()>)
    where
        K: kube::Resource
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        let (reader, writer) = reflector::store();
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default().any_semantic()),
        )
        .default_backoff()
        .applied_objects();
        let handle = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(item) = stream.next().await {
                if let Err(e) = item {
                    tracing::debug!(error = %e, "watch interrupted; retrying");
                }
            }
        });
        (reader, handle)
    }
    let (pods, a) = run(Api::<Pod>::all(client.clone()));
    let (deployments, b) = run(Api::<Deployment>::all(client.clone()));
    let (nodes, c) = run(Api::<Node>::all(client.clone()));
    let (replicasets, e) = run(Api::<k8s_openapi::api::apps::v1::ReplicaSet>::all(
        client.clone(),
    ));
    let (services, d) = run(Api::<k8s_openapi::api::core::v1::Service>::all(client));
    (
        Caches {
            pods,
            deployments,
            replicasets,
            nodes,
            services,
        },
        vec![a, b, c, d, e],
    )
}

/// Scans the caches every `interval` (agent clock) and sends firing and resolved signals.
/// `carried` are the detections the record still holds as firing from before a restart: each
/// one that is not seen again within the hold time is resolved, so a condition that ended
/// while the agent was down does not stay firing in the record for ever.
pub async fn run_detectors(
    caches: Caches,
    clock: Arc<dyn Clock>,
    grace: Grace,
    interval: Duration,
    carried: Vec<Signal>,
    tx: mpsc::Sender<Vec<Signal>>,
) {
    // A detection stays firing until it has not been seen for `hold`: a crash loop alternates
    // between running and back-off, and must not flap between firing and resolved.
    let hold = chrono::Duration::minutes(5);
    let mut active: HashMap<String, (Detection, DateTime<Utc>)> = HashMap::new();
    let started = clock.now();
    let mut carried: HashMap<String, Signal> = carried
        .into_iter()
        .filter(|s| s.status == SignalStatus::Firing)
        .map(|s| (s.fingerprint.clone(), s))
        .collect();
    loop {
        let now = clock.now();
        let mut found: Vec<Detection> = Vec::new();
        for p in caches.pods.state() {
            found.extend(detect_pod(&p, now, &grace));
        }
        let services: std::collections::HashSet<(String, String)> = caches
            .services
            .state()
            .iter()
            .map(|s| {
                (
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default(),
                )
            })
            .collect();
        for d in caches.deployments.state() {
            found.extend(detect_deployment(&d, now, &grace));
            let key = (
                d.metadata.namespace.clone().unwrap_or_default(),
                d.metadata.name.clone().unwrap_or_default(),
            );
            found.extend(detect_scaled_to_zero(&d, services.contains(&key), now));
        }
        for n in caches.nodes.state() {
            found.extend(detect_node(&n, now));
        }
        let mut batch = Vec::new();
        for d in found {
            let s = d.signal(SignalStatus::Firing, now);
            if !active.contains_key(&s.fingerprint) {
                batch.push(s.clone());
            }
            active.insert(s.fingerprint, (d, now));
        }
        carried.retain(|fp, _| !active.contains_key(fp));
        if now - started >= hold {
            for (_, mut s) in carried.drain() {
                s.status = SignalStatus::Resolved;
                s.ends_at = Some(now);
                batch.push(s);
            }
        }
        active.retain(|_, (d, seen)| {
            if now - *seen >= hold {
                batch.push(d.signal(SignalStatus::Resolved, now));
                false
            } else {
                true
            }
        });
        if !batch.is_empty() && tx.send(batch).await.is_err() {
            return;
        }
        clock.sleep(interval).await;
    }
}

#[cfg(test)]
mod carried_tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use kube::runtime::reflector::store::Writer;

    use super::*;
    use crate::clock::ExternalClock;

    fn empty() -> Caches {
        Caches {
            pods: Writer::default().as_reader(),
            deployments: Writer::default().as_reader(),
            replicasets: Writer::default().as_reader(),
            nodes: Writer::default().as_reader(),
            services: Writer::default().as_reader(),
        }
    }

    /// A detection the record held as firing before a restart, and that is not seen again,
    /// is resolved once the hold time has passed.
    #[tokio::test]
    async fn a_detection_carried_over_a_restart_that_ended_meanwhile_is_resolved() {
        let now_ms = Arc::new(AtomicI64::new(1_767_225_600_000));
        let t = now_ms.clone();
        let clock: Arc<dyn Clock> = Arc::new(ExternalClock::new(
            move || t.load(Ordering::SeqCst),
            Duration::from_millis(1),
        ));
        let stale = Detection {
            reason: "CrashLoopBackOff",
            resource: ResourceRef::Pod {
                namespace: "shop".into(),
                name: "checkout-1".into(),
            },
            since: clock.now(),
            summary: "gone".into(),
            labels: BTreeMap::new(),
        }
        .signal(SignalStatus::Firing, clock.now());
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(run_detectors(
            empty(),
            clock,
            Grace::default(),
            Duration::from_millis(10),
            vec![stale.clone()],
            tx,
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            rx.try_recv().is_err(),
            "nothing resolved inside the hold time"
        );
        now_ms.fetch_add(6 * 60 * 1000, Ordering::SeqCst);
        let batch = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a batch")
            .expect("open channel");
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].fingerprint, stale.fingerprint);
        assert_eq!(batch[0].status, SignalStatus::Resolved);
        task.abort();
    }
}
