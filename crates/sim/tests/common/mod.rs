//! Shared helpers for the API tests: a server on a free port over a fresh store, a fake
//! telemetry, object fixtures, a kube-rs client and a kubectl runner.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_sim::api::{ApiState, router};
use nightshift_sim::clock::Clock;
use nightshift_sim::resources;
use nightshift_sim::store::Store;
use nightshift_sim::telemetry::{ContainerUsage, LogError, LogLine, Telemetry};
use serde_json::{Value, json};

/// 2026-01-01T00:00:00Z in milliseconds since the epoch.
pub const START_MS: i64 = 1_767_225_600_000;

/// Namespace, pod, container and `previous` of a canned log.
pub type LogKey = (String, String, String, bool);

/// Logs and usage the tests set by hand.
#[derive(Default)]
pub struct FakeTelemetry {
    /// Lines per (namespace, pod, container, previous).
    pub logs: Mutex<HashMap<LogKey, Vec<LogLine>>>,
    /// Container usage per (namespace, pod).
    pub pods: Mutex<HashMap<(String, String), Vec<ContainerUsage>>>,
    /// (cpu millicores, memory bytes) per node.
    pub nodes: Mutex<HashMap<String, (u64, u64)>>,
}

impl FakeTelemetry {
    /// Appends a log line to a container's current (or previous) instance.
    pub fn log(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
        ts_ms: i64,
        text: &str,
    ) {
        self.logs
            .lock()
            .unwrap()
            .entry((ns.into(), pod.into(), container.into(), previous))
            .or_default()
            .push(LogLine {
                ts_ms,
                text: text.into(),
            });
    }
}

impl Telemetry for FakeTelemetry {
    fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<Vec<LogLine>, LogError> {
        let logs = self.logs.lock().unwrap();
        let containers: Vec<&String> = logs
            .keys()
            .filter(|(n, p, _, _)| n == namespace && p == pod)
            .map(|(_, _, c, _)| c)
            .collect();
        if containers.is_empty() {
            return Err(LogError::PodNotFound(pod.into()));
        }
        let container = match container {
            Some(c) => c.to_string(),
            None => containers[0].clone(),
        };
        if container == "waiting" {
            return Err(LogError::Waiting {
                container,
                pod: pod.into(),
                reason: "ContainerCreating".into(),
            });
        }
        if !containers.contains(&&container) {
            return Err(LogError::BadContainer(format!(
                "container {container} is not valid for pod {pod}"
            )));
        }
        match logs.get(&(namespace.into(), pod.into(), container.clone(), previous)) {
            Some(lines) => Ok(lines.clone()),
            None if previous => Err(LogError::NoPrevious {
                container,
                pod: pod.into(),
            }),
            None => Ok(Vec::new()),
        }
    }

    fn pod_usage(&self, namespace: &str, pod: &str) -> Option<Vec<ContainerUsage>> {
        self.pods
            .lock()
            .unwrap()
            .get(&(namespace.into(), pod.into()))
            .cloned()
    }

    fn node_usage(&self, node: &str) -> Option<(u64, u64)> {
        self.nodes.lock().unwrap().get(node).copied()
    }

    fn prometheus_text(&self) -> String {
        "# TYPE nightshift_up gauge\nnightshift_up 1\n".into()
    }
}

/// A running API server over its own store.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The store behind it.
    pub store: Arc<Store>,
    /// The fake telemetry behind it.
    pub telemetry: Arc<FakeTelemetry>,
    /// The server task.
    pub task: tokio::task::JoinHandle<()>,
    /// Whether it speaks HTTPS (with the simulator's test certificate authority).
    pub tls: bool,
}

impl TestServer {
    /// `http://127.0.0.1:PORT`, or `https://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    fn config(&self) -> kube::Config {
        let mut config = kube::Config::new(self.url().parse().expect("valid url"));
        config.default_retry = false;
        if self.tls {
            config.root_cert = Some(vec![nightshift_sim::api::tls::ca_der()]);
        }
        config
    }

    /// A kube-rs client presenting a bearer token, without retries.
    pub fn client_with_token(&self, token: &str) -> kube::Client {
        let mut config = self.config();
        config.auth_info.token = Some(token.to_string().into());
        kube::Client::try_from(config).expect("kube client")
    }

    /// A kube-rs client for the server, without kube-rs's default retries: it retries 429s
    /// (a refused eviction) up to 15 times with exponential backoff, minutes in all.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).expect("kube client")
    }

    /// Creates an object straight in the store.
    pub fn put(&self, group: &str, version: &str, plural: &str, obj: Value) -> Value {
        let rt = resources::find(group, version, plural).expect("registered type");
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.store
            .create(rt, &ns, obj, false)
            .expect("create in store")
            .value()
            .clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A store with the `default` namespace.
pub fn store() -> Arc<Store> {
    let store = Arc::new(Store::new(Clock::new(START_MS), 7));
    let ns = resources::find("", "v1", "namespaces").unwrap();
    store
        .create(ns, "", json!({"metadata": {"name": "default"}}), false)
        .unwrap();
    store
}

/// Starts the API server on a free port over a new store.
pub async fn start() -> TestServer {
    start_with(store(), |_| {}).await
}

/// Starts the API server over `store`, letting `tune` adjust the state first.
pub async fn start_with(store: Arc<Store>, tune: impl FnOnce(&mut ApiState)) -> TestServer {
    serve(store, tune, false).await
}

/// Starts the API server over `store` speaking HTTPS, as it does when it enforces RBAC.
pub async fn start_tls_with(store: Arc<Store>, tune: impl FnOnce(&mut ApiState)) -> TestServer {
    serve(store, tune, true).await
}

async fn serve(store: Arc<Store>, tune: impl FnOnce(&mut ApiState), tls: bool) -> TestServer {
    let telemetry = Arc::new(FakeTelemetry::default());
    let mut state = ApiState::new(store.clone(), telemetry.clone());
    tune(&mut state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let app = router(state);
    let task = if tls {
        let listener = nightshift_sim::api::tls::TlsListener::new(listener);
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") })
    } else {
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") })
    };
    TestServer {
        addr,
        store,
        telemetry,
        task,
        tls,
    }
}

/// A running pod bound to `node`, Ready, with one container `app` (or the given ones).
pub fn pod(name: &str, labels: Value, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "registry.local/shop/web:1.0"}],
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{
                "name": "app", "ready": true, "restartCount": 0, "image": "registry.local/shop/web:1.0",
                "imageID": "", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
            }],
        },
    })
}

/// A deployment of `replicas` pods labelled `app=<name>`.
pub fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.local/shop/web:1.0"}]},
            },
        },
    })
}

/// A ready node.
pub fn node(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.0.10"}],
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "nodeInfo": {
                "kubeletVersion": "v1.34.0", "osImage": "Nightshift Linux", "kernelVersion": "6.1.0",
                "containerRuntimeVersion": "containerd://1.7.0", "architecture": "amd64",
                "operatingSystem": "linux", "machineID": "", "systemUUID": "", "bootID": "",
                "kubeProxyVersion": ""
            },
        },
    })
}

/// Whether kubectl tests can run: kubectl must exist, and when `CI` is set its absence is a
/// failure rather than a skip.
pub fn kubectl_available() -> bool {
    let present = Path::new(KUBECTL).exists();
    if !present && std::env::var_os("CI").is_some() {
        panic!("{KUBECTL} is missing but CI is set: kubectl tests must run in CI");
    }
    present
}

/// Where kubectl is installed.
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// A kubeconfig for the server, in a temp dir that also holds kubectl's cache.
pub struct Kubeconfig {
    /// The directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The kubeconfig file.
    pub path: PathBuf,
}

impl Kubeconfig {
    /// Writes a kubeconfig for `server` (cluster `http://127.0.0.1:PORT`, no auth,
    /// namespace `default`).
    pub fn new(server: &TestServer) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n    user: sim\n    namespace: default\ncurrent-context: sim\nusers:\n- name: sim\n  user: {{}}\n",
            server.url()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        Kubeconfig { dir, path }
    }

    /// Writes a kubeconfig for `server` whose user presents `token`.
    pub fn with_token(server: &TestServer, token: &str) -> Self {
        let kc = Kubeconfig::new(server);
        let ca = server.tls.then_some(nightshift_sim::api::tls::CA_PEM);
        let text = nightshift_sim::server::kubeconfig_with(&server.url(), "sim", Some(token), ca);
        std::fs::write(&kc.path, text).expect("write kubeconfig");
        kc
    }

    /// Runs kubectl with this kubeconfig (off the async runtime's threads) and returns its
    /// output.
    pub async fn kubectl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(KUBECTL);
        cmd.arg("--kubeconfig")
            .arg(&self.path)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("--request-timeout=20s")
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG");
        tokio::task::spawn_blocking(move || cmd.output().expect("run kubectl"))
            .await
            .expect("kubectl task")
    }

    /// Runs kubectl and returns its stdout, failing the test with stderr if it failed.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {stderr}\nstdout: {stdout}"
        );
        stdout
    }
}

/// Waits up to `timeout` for `f` to hold.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}
