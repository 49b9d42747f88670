//! One running simulated cluster per test, and the three clients that drive it: kube-rs,
//! real kubectl and the official Python client (`scripts/python-client` installs it into
//! `target/tools/python-client`; the harness runs that script when the environment is
//! missing, so a single test run on a new machine sets it up).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nightshift_sim::Simulation;
use nightshift_sim::server::{Running, ServeOptions, start, write_kubeconfig};
use serde_json::Value;

/// The cluster every conformance test starts from: two nodes, one Deployment with a
/// Service in `shop`, a DaemonSet in `kube-system`.
const SCENARIO: &str = r#"
name: conformance
horizon: 4h
cluster:
  nodes:
    - {name: node-a, cpu: "4", memory: 8Gi}
    - {name: node-b, cpu: "4", memory: 8Gi}
  workloads:
    - kind: Deployment
      namespace: shop
      name: web
      replicas: 2
      image: registry.local/shop/web:1.0.0
      resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 500m, memory: 256Mi}}
      logs:
        every: 2s
        lines: ["INFO GET /index status=200 duration_ms={int:1..9}"]
    - {kind: DaemonSet, namespace: kube-system, name: node-agent, image: registry.local/node-agent:1.0.0, service: false}
expect:
  detect: false
"#;

/// A running simulated cluster with a kubeconfig for it.
pub struct Cluster {
    /// The simulation behind the API server.
    pub sim: Arc<Simulation>,
    /// The API server and clock.
    pub running: Running,
    /// The kubeconfig file pointing at the server.
    pub kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

/// What a client printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    /// Whether the process exited with 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Ran {
    fn from(out: Output) -> Self {
        Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The last line of standard output, parsed as JSON (the Python snippets print one).
    pub fn json(&self) -> Value {
        let line = self.stdout.lines().last().unwrap_or("");
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {line:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Cluster {
    /// Starts the conformance scenario at 20x speed, an hour in the past so object ages are
    /// positive. `None` (with a message) when kubectl is missing outside CI.
    pub async fn start() -> Option<Cluster> {
        Cluster::start_scenario(SCENARIO, "conformance.yaml", 20.0).await
    }

    /// Starts the scenario `yaml` (named `file` in errors) at `speed`, an hour in the past.
    pub async fn start_scenario(yaml: &str, file: &str, speed: f64) -> Option<Cluster> {
        if !kubectl_available() {
            eprintln!("kubectl is not installed: skipping");
            return None;
        }
        let scenario = nightshift_scenario::parse_str(yaml, file).unwrap();
        let start_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
        let sim = Simulation::new(&scenario, start_ms);
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let running = start(
            sim.clone(),
            &ServeOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                speed,
                alert_webhook: None,
                kubeconfig_out: None,
                stop_at_horizon: false,
                field_validation: Default::default(),
            },
        )
        .await
        .unwrap();
        write_kubeconfig(&kubeconfig, &self::url(&running), "sim").unwrap();
        Some(Cluster {
            sim,
            running,
            kubeconfig,
            dir,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        url(&self.running)
    }

    /// A kube-rs client for the cluster.
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// Runs kubectl with `args`.
    pub async fn kubectl(&self, args: &[&str]) -> Ran {
        self.kubectl_with_stdin(args, None).await
    }

    /// Runs kubectl with `args`, feeding `stdin` (for `-f -`).
    pub async fn kubectl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Ran {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", self.dir.path().join("cache"));
        run(cmd, stdin.map(str::to_string)).await
    }

    /// Runs kubectl and asserts it succeeded; its standard output.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let ran = self.kubectl(args).await;
        assert!(
            ran.ok,
            "kubectl {args:?} failed:\n{}{}",
            ran.stdout, ran.stderr
        );
        ran.stdout
    }

    /// Runs `script` with the official Python client, configured from the kubeconfig:
    /// `client`, `config`, `ApiException`, `json` and `sys` are imported, and
    /// `api = client.ApiClient()` is ready.
    pub async fn python(&self, script: &str) -> Ran {
        let python = python_client();
        let path = self.dir.path().join("snippet.py");
        let text = format!(
            "import json, sys\nfrom kubernetes import client, config\nfrom kubernetes.client.rest import ApiException\nconfig.load_kube_config(config_file={:?})\napi = client.ApiClient()\n{script}\n",
            self.kubeconfig.display().to_string()
        );
        std::fs::write(&path, text).unwrap();
        let mut cmd = Command::new(python);
        cmd.arg(&path);
        run(cmd, None).await
    }

    /// A raw request: status code, content type and body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String, Vec<u8>) {
        let client = nightshift_net::client(&Default::default())
            .unwrap()
            .build()
            .unwrap();
        let mut req = client.request(method.parse().unwrap(), format!("{}{path}", self.url()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body).send().await.unwrap();
        let code = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (code, ct, resp.bytes().await.unwrap().to_vec())
    }

    /// A raw JSON request: status code and the body as JSON.
    pub async fn raw_json(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let (code, _, body) = self.raw(method, path, &headers, bytes).await;
        (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Waits (up to 30 s of real time) until `f` holds on the simulation.
    pub async fn until(&self, what: &str, f: impl Fn(&Simulation) -> bool) {
        for _ in 0..600 {
            if f(&self.sim) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Waits until a pod of `namespace` is bound to a node; its name.
    pub async fn scheduled_pod(&self, namespace: &str) -> String {
        let bound = |s: &Simulation| {
            s.store()
                .list_typed::<k8s_openapi::api::core::v1::Pod>(Some(namespace))
                .iter()
                .find(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
                .and_then(|p| p.metadata.name.clone())
        };
        self.until("a pod bound to a node", |s| bound(s).is_some())
            .await;
        bound(&self.sim).expect("waited for it")
    }

    /// A scratch directory that lives as long as the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.running.server.abort();
        self.running.clock.abort();
    }
}

fn url(running: &Running) -> String {
    format!("http://{}", running.addr)
}

async fn run(mut cmd: Command, stdin: Option<String>) -> Ran {
    tokio::task::spawn_blocking(move || {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the client starts");
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        Ran::from(child.wait_with_output().unwrap())
    })
    .await
    .unwrap()
}

/// Whether kubectl can run; in CI it must.
pub fn kubectl_available() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "kubectl is not installed but CI is set"
    );
    ok
}

/// The virtual environment's Python with the official client, set up once per test run.
fn python_client() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = Command::new(root.join("scripts/python-client"))
            .status()
            .expect("scripts/python-client runs");
        assert!(status.success(), "scripts/python-client failed");
        root.join("target/tools/python-client/bin/python")
    })
}
