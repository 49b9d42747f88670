//! Wiring: the agent's configuration file, and starting everything (caches, detectors, the
//! engine, the HTTP API) against a Kubernetes client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::Client;
use nightshift_core::Analyzer;
use nightshift_core::policy::Policy;
use nightshift_store::Store;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::engine::{Engine, EngineConfig, Parts};
use crate::http::{ApiState, Auth, router};
use crate::notify::Notifier;
use crate::perceive::watchers::{Grace, run_detectors, start_caches};
use crate::prometheus::PrometheusConfig;
use crate::verify::{ClusterClock, Verifier};

/// The agent's configuration file (YAML). Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Store URL: `sqlite://PATH`, a file path, or `postgres://...`.
    pub store: String,
    /// Policy file; without one the policy is the safe default (observe).
    pub policy: Option<PathBuf>,
    /// Kubeconfig file; without one: `KUBECONFIG`, `~/.kube/config`, or in-cluster config.
    pub kubeconfig: Option<PathBuf>,
    /// Environment variable holding the bearer token the API requires (unset: no auth).
    pub token_env: Option<String>,
    /// Basic auth user for the Alertmanager receiver.
    pub basic_user: Option<String>,
    /// Environment variable holding the basic auth password.
    pub basic_password_env: Option<String>,
    /// Generic outgoing webhook for notifications.
    pub notify_webhook: Option<String>,
    /// Run the agent's own Kubernetes detectors.
    pub watchers: bool,
    /// How often the detectors scan, e.g. `15s`.
    pub watch_interval: String,
    /// Remediation attempts before escalating.
    pub max_attempts: u32,
    /// Stabilization window, e.g. `2m`.
    pub stabilization: String,
    /// How long to wait for recovery, e.g. `10m`.
    pub verify_deadline: String,
    /// Wait after an incident opens before collecting evidence, so that signals firing
    /// together are analyzed together, e.g. `30s`.
    pub settle: String,
    /// How often an incident waiting for approval or recovery looks again, e.g. `5s`.
    pub poll: String,
    /// The model analyzer (`llm:`, see docs/llm.md); without it the rules analyze alone.
    pub llm: Option<nightshift_llm::LlmConfig>,
    /// A Prometheus to add PromQL ranges of the incident's workload to the evidence.
    pub prometheus: Option<PrometheusSettings>,
}

/// The `prometheus` section of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSettings {
    /// Base URL of its HTTP API, e.g. `http://prometheus.monitoring:9090`.
    pub url: String,
    /// How far back the ranges go, e.g. `30m`.
    #[serde(default = "PrometheusSettings::default_window")]
    pub window: String,
    /// Their resolution, e.g. `30s`.
    #[serde(default = "PrometheusSettings::default_step")]
    pub step: String,
    /// Time allowed for each query, e.g. `5s`.
    #[serde(default = "PrometheusSettings::default_timeout")]
    pub timeout: String,
}

impl PrometheusSettings {
    fn default_window() -> String {
        "30m".into()
    }

    fn default_step() -> String {
        "30s".into()
    }

    fn default_timeout() -> String {
        "5s".into()
    }

    /// The client settings; durations that do not parse keep their defaults (`load` has
    /// already refused them).
    pub fn config(&self) -> PrometheusConfig {
        let mut c = PrometheusConfig::new(self.url.clone());
        let parse = nightshift_scenario::units::parse_duration;
        c.window = parse(&self.window).unwrap_or(c.window);
        c.step = parse(&self.step).unwrap_or(c.step);
        c.timeout = parse(&self.timeout).unwrap_or(c.timeout);
        c
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            listen: "127.0.0.1:8080".parse().expect("valid"),
            store: "sqlite://nightshift.db".into(),
            policy: None,
            kubeconfig: None,
            token_env: None,
            basic_user: None,
            basic_password_env: None,
            notify_webhook: None,
            watchers: true,
            watch_interval: "15s".into(),
            max_attempts: 2,
            stabilization: "2m".into(),
            verify_deadline: "10m".into(),
            settle: "30s".into(),
            poll: "5s".into(),
            llm: None,
            prometheus: None,
        }
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config file.
    #[error("{path}: {message}")]
    Config {
        /// File.
        path: String,
        /// What is wrong (with the line, when the parser knows it).
        message: String,
    },
    /// The policy file.
    #[error(transparent)]
    Policy(#[from] nightshift_core::policy::PolicyError),
    /// The store.
    #[error(transparent)]
    Store(#[from] nightshift_store::StoreError),
    /// The Kubernetes client.
    #[error("unable to build a Kubernetes client: {0}")]
    Kube(String),
    /// The listen address.
    #[error("unable to listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The engine.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

impl AgentConfig {
    /// Reads a config file; unknown keys and bad values name the file and the line.
    pub fn load(path: &Path) -> Result<Self, StartError> {
        let text = std::fs::read_to_string(path).map_err(|e| StartError::Config {
            path: path.display().to_string(),
            message: format!("unable to read: {e}"),
        })?;
        let cfg: AgentConfig = serde_saphyr::from_str(&text).map_err(|e| StartError::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut durations = vec![
            ("watch_interval", &cfg.watch_interval),
            ("stabilization", &cfg.stabilization),
            ("verify_deadline", &cfg.verify_deadline),
            ("settle", &cfg.settle),
            ("poll", &cfg.poll),
        ];
        if let Some(p) = &cfg.prometheus {
            durations.extend([
                ("prometheus.window", &p.window),
                ("prometheus.step", &p.step),
                ("prometheus.timeout", &p.timeout),
            ]);
        }
        for (key, v) in durations {
            nightshift_scenario::units::parse_duration(v).map_err(|e| StartError::Config {
                path: path.display().to_string(),
                message: format!("{key}: {e}"),
            })?;
        }
        if let Some(llm) = &cfg.llm {
            llm.validate(&path.display().to_string())
                .map_err(|e| StartError::Config {
                    path: path.display().to_string(),
                    message: format!("llm.{}: {}", e.key, e.message),
                })?;
        }
        Ok(cfg)
    }

    /// The engine settings of this config.
    pub fn engine(&self) -> EngineConfig {
        let d = |s: &str, default: u64| {
            nightshift_scenario::units::parse_duration(s).unwrap_or(Duration::from_secs(default))
        };
        EngineConfig {
            max_attempts: self.max_attempts.max(1),
            stabilization: d(&self.stabilization, 120),
            verify_deadline: d(&self.verify_deadline, 600),
            settle: d(&self.settle, 30),
            // A poll of zero would spin.
            poll: d(&self.poll, 5).max(Duration::from_millis(10)),
            prometheus: self.prometheus.as_ref().map(PrometheusSettings::config),
            ..EngineConfig::default()
        }
    }

    /// The credentials the API requires, read from the environment.
    pub fn auth(&self) -> Auth {
        Auth {
            bearer_token: self
                .token_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok())
                .filter(|t| !t.is_empty()),
            basic: match (
                &self.basic_user,
                self.basic_password_env
                    .as_ref()
                    .and_then(|v| std::env::var(v).ok()),
            ) {
                (Some(u), Some(p)) => Some((u.clone(), p)),
                _ => None,
            },
        }
    }
}

/// Options of [`start`].
pub struct StartOptions {
    /// HTTP listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// API credentials.
    pub auth: Auth,
    /// Notifications.
    pub notifier: Option<Notifier>,
    /// Engine settings.
    pub engine: EngineConfig,
    /// Run the detectors.
    pub watchers: bool,
    /// Detector interval (agent clock).
    pub watch_interval: Duration,
    /// Where verification takes "now" from.
    pub cluster_clock: ClusterClock,
}

/// A started agent.
pub struct RunningAgent<A: Analyzer> {
    /// The loop.
    pub engine: Arc<Engine<A>>,
    /// Where the API listens.
    pub addr: SocketAddr,
    /// The HTTP API's state (to add metrics to `/metrics`).
    pub api: Arc<crate::http::ApiState<A>>,
    /// Background tasks (HTTP, reflectors, detectors).
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl<A: Analyzer> RunningAgent<A> {
    /// Stops the background tasks.
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A Kubernetes client configuration from a kubeconfig path or the default inference.
pub async fn kube_config(kubeconfig: Option<&Path>) -> Result<kube::Config, StartError> {
    Ok(match kubeconfig {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .map_err(|e| StartError::Kube(format!("{}: {e}", p.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| StartError::Kube(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| StartError::Kube(e.to_string()))?,
    })
}

/// Starts caches, detectors, the engine (resuming in-flight incidents) and the HTTP API.
pub async fn start<A: Analyzer + 'static>(
    config: kube::Config,
    clock: Arc<dyn Clock>,
    analyzer: A,
    policy: Policy,
    store: Store,
    opts: StartOptions,
) -> Result<RunningAgent<A>, StartError> {
    let client = Client::try_from(config.clone()).map_err(|e| StartError::Kube(e.to_string()))?;
    // Evictions go through a client that does not retry 429s for minutes by itself.
    let actuator =
        crate::act::Actuator::from_config(config).map_err(|e| StartError::Kube(e.to_string()))?;
    let (caches, mut tasks) = start_caches(client.clone());
    // Wait for the first lists so correlation sees the topology.
    for _ in 0..100 {
        if caches.pods.wait_until_ready().await.is_ok()
            && caches.nodes.wait_until_ready().await.is_ok()
        {
            break;
        }
    }
    let _ = caches.deployments.wait_until_ready().await;
    let _ = caches.services.wait_until_ready().await;
    let verifier = Verifier::new(client.clone()).with_clock(opts.cluster_clock);
    let engine = Engine::new(Parts {
        store,
        clock: clock.clone(),
        analyzer,
        policy,
        client: client.clone(),
        actuator,
        caches: caches.clone(),
        verifier,
        notifier: opts.notifier,
        config: opts.engine,
    });
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: opts.listen,
        source,
    })?;
    let state = Arc::new(ApiState {
        engine: engine.clone(),
        auth: opts.auth,
        ready: AtomicBool::new(false),
        extra_metrics: std::sync::OnceLock::new(),
    });
    let app = router(state.clone());
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the HTTP API stopped");
        }
    }));
    let resumed = engine.resume().await?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed in-flight incidents");
    }
    if opts.watchers {
        let (tx, mut rx) = mpsc::channel(64);
        tasks.push(tokio::spawn(run_detectors(
            caches,
            clock,
            Grace::default(),
            opts.watch_interval,
            tx,
        )));
        let e = engine.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                if let Err(err) = e.ingest(batch).await {
                    tracing::error!(error = %err, "detections not recorded");
                }
            }
        }));
    }
    state.ready.store(true, Ordering::Release);
    Ok(RunningAgent {
        engine,
        addr,
        tasks,
        api: state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<AgentConfig, StartError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nightshift.yaml");
        std::fs::write(&path, text).unwrap();
        AgentConfig::load(&path)
    }

    #[test]
    fn reads_a_config_and_names_what_is_wrong() {
        let c = load("listen: 127.0.0.1:9000\nstore: sqlite:///tmp/x.db\nmax_attempts: 3\nstabilization: 90s\nsettle: 0s\npoll: 500ms\n").unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.engine().max_attempts, 3);
        assert_eq!(c.engine().stabilization, Duration::from_secs(90));
        assert_eq!(c.engine().settle, Duration::ZERO);
        assert_eq!(c.engine().poll, Duration::from_millis(500));
        assert_eq!(
            AgentConfig::default().engine().settle,
            Duration::from_secs(30)
        );
        let e = load("listen: 127.0.0.1:9000\nstorr: x\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nightshift.yaml") && e.contains("storr") && e.contains("line 2"),
            "{e}"
        );
        let c = load("prometheus:\n  url: http://127.0.0.1:9090\n  window: 10m\n").unwrap();
        let p = c.engine().prometheus.unwrap();
        assert_eq!(p.url, "http://127.0.0.1:9090");
        assert_eq!(p.window, Duration::from_secs(600));
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert_eq!(AgentConfig::default().engine().prometheus, None);
        let e = load("prometheus:\n  url: http://x\n  timeout: soon\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("prometheus.timeout"), "{e}");
        let e = load("stabilization: soon\n").unwrap_err().to_string();
        assert!(
            e.contains("nightshift.yaml") && e.contains("stabilization"),
            "{e}"
        );
        let e = AgentConfig::load(Path::new("/nonexistent/nightshift.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/nightshift.yaml") && e.contains("unable to read"),
            "{e}"
        );
    }

    #[test]
    fn reads_the_llm_section_and_names_what_is_wrong() {
        let c = load("llm:\n  provider: anthropic\n  model: claude-sonnet-4-5\n  api_key_env: ANTHROPIC_API_KEY\n").unwrap();
        let llm = c.llm.expect("an llm section");
        assert_eq!(llm.provider, nightshift_llm::ProviderKind::Anthropic);
        assert!(load("listen: 127.0.0.1:9000\n").unwrap().llm.is_none());
        let e = load("llm:\n  model: m\n  timeout: soon\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nightshift.yaml") && e.contains("llm.timeout"),
            "{e}"
        );
        let e = load("llm:\n  model: m\n  modle: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nightshift.yaml") && e.contains("modle"), "{e}");
    }
}
