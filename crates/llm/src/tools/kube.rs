//! The investigation tools against a real cluster, through kube-rs (read verbs only: get,
//! list, logs) and a Prometheus HTTP API for range queries.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client, Resource};
use nightshift_net::TlsSettings;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Investigator, ObjectRef, PodLogs, PromRange, Tool, ToolFuture};
use crate::compress::{fold_lines, render_templates};

/// Why an investigator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InvestigatorError {
    /// The CA file for Prometheus does not load.
    #[error("the Prometheus client: {0}")]
    Tls(#[from] nightshift_net::NetError),
    /// reqwest refused the client.
    #[error("unable to build the Prometheus client: {0}")]
    Client(String),
}

/// Lines read from a log before filtering.
const LOG_TAIL: i64 = 500;

/// Answers tool calls through the Kubernetes API.
#[derive(Clone)]
pub struct KubeInvestigator {
    client: Client,
    http: reqwest::Client,
    prometheus: Option<String>,
}

impl KubeInvestigator {
    /// An investigator with a Kubernetes client and, optionally, a Prometheus base URL
    /// reached with `tls`; a CA file that does not load is an error naming it.
    pub fn new(
        client: Client,
        prometheus: Option<String>,
        tls: &TlsSettings,
    ) -> Result<Self, InvestigatorError> {
        let http = nightshift_net::client(tls)?
            .build()
            .map_err(|e| InvestigatorError::Client(nightshift_net::explain(&e)))?;
        Ok(KubeInvestigator {
            client,
            http,
            prometheus: prometheus.map(|p| p.trim_end_matches('/').to_string()),
        })
    }

    async fn logs(&self, q: &PodLogs) -> Result<String, String> {
        let lp = LogParams {
            container: q.container.clone(),
            previous: q.previous.unwrap_or(false),
            tail_lines: Some(LOG_TAIL),
            ..Default::default()
        };
        let text = Api::<Pod>::namespaced(self.client.clone(), &q.namespace)
            .logs(&q.pod, &lp)
            .await
            .map_err(|e| format!("unable to read logs of {}/{}: {e}", q.namespace, q.pod))?;
        let filter = match q.pattern.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => Some(
                regex::RegexBuilder::new(p)
                    .size_limit(1 << 16)
                    .build()
                    .map_err(|e| format!("invalid pattern {p:?}: {e}"))?,
            ),
            None => None,
        };
        let all: Vec<&str> = text.lines().collect();
        let kept: Vec<&str> = all
            .iter()
            .copied()
            .filter(|l| filter.as_ref().is_none_or(|re| re.is_match(l)))
            .collect();
        let templates = fold_lines(&kept);
        Ok(format!(
            "{} lines read, {} kept, {} templates:\n{}",
            all.len(),
            kept.len(),
            templates.len(),
            render_templates(&templates, 20, 200)
        ))
    }

    async fn events(&self, q: &ObjectRef) -> Result<String, String> {
        let api: Api<Event> = match &q.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let mut fields = format!("involvedObject.name={}", q.name);
        if !q.kind.is_empty() {
            let _ = write!(fields, ",involvedObject.kind={}", canonical_kind(&q.kind));
        }
        let list = api
            .list(&ListParams::default().fields(&fields))
            .await
            .map_err(|e| format!("unable to list events of {}: {e}", q.name))?;
        let mut groups: BTreeMap<(String, String, String), i32> = BTreeMap::new();
        for ev in list.items {
            let key = (
                ev.type_.unwrap_or_default(),
                ev.reason.unwrap_or_default(),
                ev.message.unwrap_or_default(),
            );
            *groups.entry(key).or_default() += ev.count.unwrap_or(1).max(1);
        }
        if groups.is_empty() {
            return Ok(format!("no events about {} {}", q.kind, q.name));
        }
        let mut out = String::new();
        for ((ty, reason, message), n) in groups {
            let _ = writeln!(out, "{ty} {reason} x{n}: {message}");
        }
        Ok(out)
    }

    async fn object(&self, q: &ObjectRef) -> Result<String, String> {
        let ns = q.namespace.clone().unwrap_or_default();
        let c = self.client.clone();
        let v = match canonical_kind(&q.kind).as_str() {
            "Pod" => get(Api::<Pod>::namespaced(c, &ns), &q.name).await?,
            "Deployment" => get(Api::<Deployment>::namespaced(c, &ns), &q.name).await?,
            "StatefulSet" => get(Api::<StatefulSet>::namespaced(c, &ns), &q.name).await?,
            "DaemonSet" => get(Api::<DaemonSet>::namespaced(c, &ns), &q.name).await?,
            "ReplicaSet" => get(Api::<ReplicaSet>::namespaced(c, &ns), &q.name).await?,
            "Service" => get(Api::<Service>::namespaced(c, &ns), &q.name).await?,
            "Node" => get(Api::<Node>::all(c), &q.name).await?,
            other => {
                return Err(format!(
                    "kind {other:?} is not readable here; use Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Service or Node"
                ));
            }
        };
        Ok(scrub(v).to_string())
    }

    async fn workload_pods(&self, q: &ObjectRef) -> Result<String, String> {
        let ns = q.namespace.clone().unwrap_or_default();
        let c = self.client.clone();
        let selector = match canonical_kind(&q.kind).as_str() {
            "Deployment" => get(Api::<Deployment>::namespaced(c.clone(), &ns), &q.name).await?,
            "StatefulSet" => get(Api::<StatefulSet>::namespaced(c.clone(), &ns), &q.name).await?,
            "DaemonSet" => get(Api::<DaemonSet>::namespaced(c.clone(), &ns), &q.name).await?,
            other => return Err(format!("{other:?} is not a workload kind")),
        };
        let labels: Vec<String> = selector
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        if labels.is_empty() {
            return Err(format!("{} {} has no label selector", q.kind, q.name));
        }
        let pods = Api::<Pod>::namespaced(c, &ns)
            .list(&ListParams::default().labels(&labels.join(",")))
            .await
            .map_err(|e| format!("unable to list pods of {}: {e}", q.name))?;
        let mut out = String::new();
        for p in pods.items {
            let name = p.metadata.name.clone().unwrap_or_default();
            let status = p.status.unwrap_or_default();
            let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
            let mut restarts = 0;
            let mut ready = 0;
            let mut reasons = Vec::new();
            let statuses = status.container_statuses.unwrap_or_default();
            for cs in &statuses {
                restarts += cs.restart_count;
                ready += i32::from(cs.ready);
                if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                    reasons.extend(w.reason.clone());
                }
                if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                    reasons.push(format!(
                        "last {} exit {}",
                        t.reason.clone().unwrap_or_default(),
                        t.exit_code
                    ));
                }
            }
            let _ = writeln!(
                out,
                "{name} {} ready {ready}/{} restarts {restarts} node {node} {}{}",
                status.phase.unwrap_or_default(),
                statuses.len(),
                status.reason.unwrap_or_default(),
                reasons.join(", ")
            );
        }
        if out.is_empty() {
            out.push_str("no pods\n");
        }
        Ok(out)
    }

    async fn prom_range(&self, q: &PromRange) -> Result<String, String> {
        let base = self
            .prometheus
            .as_ref()
            .ok_or("no Prometheus is configured")?;
        let minutes = q.minutes.unwrap_or(30).clamp(1, 360);
        let step = q.step_seconds.unwrap_or(60).clamp(5, 3600);
        let end = chrono::Utc::now().timestamp();
        let start = end - i64::from(minutes) * 60;
        let url = reqwest::Url::parse_with_params(
            &format!("{base}/api/v1/query_range"),
            &[
                ("query", q.query.clone()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", step.to_string()),
            ],
        )
        .map_err(|e| format!("bad Prometheus URL: {e}"))?;
        let v: Value = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("Prometheus unreachable: {}", nightshift_net::explain(&e)))?
            .json()
            .await
            .map_err(|e| format!("unreadable Prometheus answer: {e}"))?;
        if v.get("status").and_then(Value::as_str) != Some("success") {
            return Err(format!(
                "Prometheus refused the query: {}",
                v.get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
            ));
        }
        Ok(summarise_matrix(&v))
    }
}

/// Each series of a Prometheus matrix as `labels: last, min, max, trend per minute`.
pub fn summarise_matrix(v: &Value) -> String {
    let mut out = String::new();
    let series = v
        .pointer("/data/result")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in series.iter().take(20) {
        let labels = s
            .get("metric")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let points: Vec<(f64, f64)> = s
            .get("values")
            .and_then(Value::as_array)
            .map(|vals| {
                vals.iter()
                    .filter_map(|p| {
                        let t = p.get(0)?.as_f64()?;
                        let x = p.get(1)?.as_str()?.parse::<f64>().ok()?;
                        Some((t, x))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        let min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let minutes = ((last.0 - first.0) / 60.0).max(1.0 / 60.0);
        let _ = writeln!(
            out,
            "{{{labels}}}: last {:.4}, min {min:.4}, max {max:.4}, trend {:+.4}/min over {} points",
            last.1,
            (last.1 - first.1) / minutes,
            points.len()
        );
    }
    if series.len() > 20 {
        let _ = writeln!(out, "(+{} more series)", series.len() - 20);
    }
    if out.is_empty() {
        out.push_str("no data\n");
    }
    out
}

fn canonical_kind(kind: &str) -> String {
    match kind.to_lowercase().as_str() {
        "pod" | "pods" | "po" => "Pod",
        "deployment" | "deployments" | "deploy" => "Deployment",
        "statefulset" | "statefulsets" | "sts" => "StatefulSet",
        "daemonset" | "daemonsets" | "ds" => "DaemonSet",
        "replicaset" | "replicasets" | "rs" => "ReplicaSet",
        "service" | "services" | "svc" => "Service",
        "node" | "nodes" | "no" => "Node",
        _ => kind,
    }
    .to_string()
}

async fn get<K>(api: Api<K>, name: &str) -> Result<Value, String>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let obj = api
        .get(name)
        .await
        .map_err(|e| format!("unable to read {name}: {e}"))?;
    serde_json::to_value(&obj).map_err(|e| e.to_string())
}

/// An object without what the model must not see or does not need: managed fields, the
/// last-applied annotation, and the values of environment variables (they hold secrets).
pub fn scrub(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(env)) = map.get_mut("env") {
                    for e in env.iter_mut() {
                        if let Some(o) = e.as_object_mut()
                            && o.contains_key("value")
                        {
                            o.insert("value".into(), Value::String("[omitted]".into()));
                        }
                    }
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

impl Investigator for KubeInvestigator {
    fn run<'a>(&'a self, tool: &'a Tool) -> ToolFuture<'a> {
        Box::pin(async move {
            match tool {
                Tool::PodLogs(q) => self.logs(q).await,
                Tool::Events(q) => self.events(q).await,
                Tool::Object(q) => self.object(q).await,
                Tool::WorkloadPods(q) => self.workload_pods(q).await,
                Tool::PromRange(q) => self.prom_range(q).await,
                Tool::SimilarIncidents(_) => Err("answered from the evidence bundle".into()),
            }
        })
    }

    fn has_prometheus(&self) -> bool {
        self.prometheus.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_env_values_and_managed_fields() {
        let v = serde_json::json!({
            "metadata": {"name": "p", "managedFields": [{}], "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "a": "b"}},
            "spec": {"containers": [{"name": "c", "env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}
        });
        let s = scrub(v).to_string();
        assert!(
            !s.contains("hunter2") && !s.contains("managedFields") && !s.contains("last-applied")
        );
        assert!(s.contains("DB_PASSWORD") && s.contains("secretKeyRef"));
    }

    #[test]
    fn summarises_a_matrix() {
        let v = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"pod": "a"}, "values": [[0, "1"], [60, "2"], [120, "5"]]}
        ]}});
        let s = summarise_matrix(&v);
        assert!(
            s.contains("{pod=a}: last 5.0000, min 1.0000, max 5.0000, trend +2.0000/min"),
            "{s}"
        );
        assert_eq!(canonical_kind("deployments"), "Deployment");
        assert_eq!(canonical_kind("Node"), "Node");
    }
}
