//! A simulated cluster behind a real HTTP API server for the act and verify tests, with a
//! kube-rs client, and scenario fixtures.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use nightshift_agent::act::Actuator;
use nightshift_agent::verify::{RecoveryCriteria, Verifier, VerifyStatus};
use nightshift_sim::Simulation;
use nightshift_sim::server::{Running, ServeOptions, start};
use serde_json::json;

/// 2026-01-01T00:00:00Z.
pub const START_MS: i64 = 1_767_225_600_000;

/// The expect block every fixture shares (the tests do not score anything).
const EXPECT: &str = "expect:\n  detect: false\n  diagnosis: [none]\n  locate: shop/checkout\n  actions: {acceptable: [none], harmful: []}\n  resolved: true\n";

/// Two nodes and `shop/checkout` (3 replicas, 256Mi limit, 120Mi working set), plus `extra`
/// workloads (YAML list items indented by four spaces) and `faults` (list items indented by
/// two spaces; a late no-op when empty).
pub fn scenario(extra: &str, faults: &str) -> String {
    let faults = if faults.trim().is_empty() {
        "  - {at: 5h, type: noop, target: shop/checkout}\n"
    } else {
        faults
    };
    format!(
        r#"name: act-test
horizon: 6h
cluster:
  nodes:
    - {{name: node-a, cpu: "8", memory: 16Gi}}
    - {{name: node-b, cpu: "8", memory: 16Gi}}
  workloads:
    - kind: Deployment
      namespace: shop
      name: checkout
      replicas: 3
      image: registry.local/shop/checkout:2.3.1
      resources:
        requests: {{cpu: 100m, memory: 128Mi}}
        limits: {{cpu: 500m, memory: 256Mi}}
      behavior: {{memory: 120Mi, cpu: 80m, rps: 60, startup: 3s}}
{extra}faults:
{faults}{EXPECT}"#
    )
}

/// A running simulated cluster.
pub struct Cluster {
    /// The simulation.
    pub sim: Arc<Simulation>,
    /// Where the API server listens.
    pub addr: SocketAddr,
    /// A client for it.
    pub client: Client,
    running: Running,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.running.clock.abort();
        self.running.server.abort();
    }
}

impl Cluster {
    /// A cluster whose clock the test advances with [`Cluster::advance`].
    pub async fn manual(yaml: &str) -> Self {
        Self::start(yaml, 0.001).await
    }

    /// A cluster whose clock runs at `speed` simulated seconds per real second.
    pub async fn running(yaml: &str, speed: f64) -> Self {
        Self::start(yaml, speed).await
    }

    async fn start(yaml: &str, speed: f64) -> Self {
        let scenario =
            nightshift_scenario::parse_str(yaml, "act-test.yaml").unwrap_or_else(|e| panic!("{e}"));
        let sim = Simulation::new(&scenario, START_MS);
        let opts = ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            speed,
            alert_webhook: None,
            kubeconfig_out: None,
            stop_at_horizon: false,
            field_validation: nightshift_sim::api::fields::FieldValidation::Strict,
        };
        let running = start(sim.clone(), &opts).await.expect("server starts");
        let addr = running.addr;
        let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
        let client = Client::try_from(config).expect("client");
        Cluster {
            sim,
            addr,
            client,
            running,
        }
    }

    /// Advances the simulation by `seconds` simulated seconds.
    pub async fn advance(&self, seconds: u32) {
        let sim = self.sim.clone();
        tokio::task::spawn_blocking(move || {
            for _ in 0..seconds {
                sim.step();
            }
        })
        .await
        .unwrap();
    }

    /// A client configuration for the API server.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(format!("http://{}", self.addr).parse().unwrap())
    }

    /// An actuator with the default settings (evictions without kube-rs's own 429 retries).
    pub fn actuator(&self) -> Actuator {
        Actuator::from_config(self.config()).expect("actuator")
    }

    /// A verifier on the API server's clock.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.client.clone())
    }

    /// A Deployment.
    pub async fn deployment(&self, ns: &str, name: &str) -> Deployment {
        Api::<Deployment>::namespaced(self.client.clone(), ns)
            .get(name)
            .await
            .unwrap()
    }

    /// The pods matching a label selector, terminating ones included.
    pub async fn pods(&self, ns: &str, labels: &str) -> Vec<Pod> {
        Api::<Pod>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default().labels(labels))
            .await
            .unwrap()
            .items
    }

    /// The pods matching a selector that are not terminating.
    pub async fn live_pods(&self, ns: &str, labels: &str) -> Vec<Pod> {
        self.pods(ns, labels)
            .await
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    /// The ReplicaSets of a namespace.
    pub async fn replica_sets(&self, ns: &str) -> Vec<ReplicaSet> {
        Api::<ReplicaSet>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    }

    /// A node.
    pub async fn node(&self, name: &str) -> Node {
        Api::<Node>::all(self.client.clone())
            .get(name)
            .await
            .unwrap()
    }

    /// Creates a PodDisruptionBudget over `app=<app>` with `spec` fields (minAvailable or
    /// maxUnavailable).
    pub async fn pdb(&self, ns: &str, app: &str, spec: serde_json::Value) {
        let mut body = json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": app, "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": app}}},
        });
        for (k, v) in spec.as_object().unwrap() {
            body["spec"][k] = v.clone();
        }
        let pdb: PodDisruptionBudget = serde_json::from_value(body).unwrap();
        Api::<PodDisruptionBudget>::namespaced(self.client.clone(), ns)
            .create(&PostParams::default(), &pdb)
            .await
            .unwrap();
    }

    /// Steps the manual clock `step` seconds at a time, checking after each, until the
    /// verdict is final or `limit` simulated seconds have passed.
    pub async fn verify_until_final(
        &self,
        verifier: &Verifier,
        criteria: &RecoveryCriteria,
        since: chrono::DateTime<chrono::Utc>,
        step: u32,
        limit: u32,
    ) -> (VerifyStatus, Vec<VerifyStatus>) {
        let mut seen = Vec::new();
        let mut waited = 0;
        loop {
            let status = verifier.check(criteria, since).await;
            seen.push(status.clone());
            if status.is_final() || waited >= limit {
                return (status, seen);
            }
            self.advance(step).await;
            waited += step;
        }
    }
}

/// The image of the first container of a pod.
pub fn image(p: &Pod) -> String {
    p.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

/// Whether a pod is Ready.
pub fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waiting and last-terminated reasons of a pod's containers.
pub fn reasons(p: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    for c in p
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
    {
        if let Some(r) = c
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
        {
            out.push(r);
        }
        if let Some(r) = c
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.reason.clone())
        {
            out.push(r);
        }
    }
    out
}

/// A real-time pause (for clusters whose clock runs by itself).
pub async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
