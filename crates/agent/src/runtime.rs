//! Wiring: starting everything (caches, detectors, the engine, the HTTP API) against a
//! Kubernetes client. The configuration file that says how lives with the binary that reads it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::Client;
use nightshift_core::Analyzer;
use nightshift_core::policy::Policy;
use nightshift_store::Store;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::engine::{Engine, EngineConfig, Parts};
use crate::http::{ApiState, Auth, HttpLimits, router};
use crate::perceive::watchers::{Grace, run_detectors, start_caches};
use crate::verify::{ClusterClock, Verifier};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
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
    /// Leader election.
    #[error(transparent)]
    Election(#[from] crate::lead::ElectionError),
    /// An API beyond loopback with no authentication that the configuration did not ask for.
    #[error(
        "refusing to serve the API on {0} without authentication: configure tokens (`tokens:` or `token_env:`), or say `auth: none` to serve it open on purpose"
    )]
    OpenApi(SocketAddr),
}

/// Options of [`start`].
pub struct StartOptions {
    /// HTTP listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// API credentials.
    pub auth: Auth,
    /// HTTP sizes, timeouts and rates.
    pub limits: HttpLimits,
    /// Notification destinations and routes; `None` sends none.
    pub notify: Option<NotifySetup>,
    /// Engine settings.
    pub engine: EngineConfig,
    /// Run the detectors.
    pub watchers: bool,
    /// Detector interval (agent clock).
    pub watch_interval: Duration,
    /// Where verification takes "now" from.
    pub cluster_clock: ClusterClock,
    /// Leader election among replicas; `None` runs the engine alone.
    pub election: Option<crate::lead::ElectionSettings>,
    /// The policy's file, read again when it changes (a ConfigMap update); `None` keeps the
    /// policy given at start.
    pub policy_file: Option<std::path::PathBuf>,
}

/// Where notifications go (see [`crate::notify`]).
#[derive(Debug)]
pub struct NotifySetup {
    /// The destinations.
    pub destinations: Vec<crate::notify::Destination>,
    /// Which destination hears of what.
    pub routing: crate::notify::Routing,
    /// Retries and timeouts.
    pub settings: crate::notify::OutboxSettings,
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
    /// This replica's part in the leader election, when there is one.
    pub election: Option<crate::lead::Election>,
}

impl<A: Analyzer + 'static> RunningAgent<A> {
    /// Stops the background tasks.
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Shuts down between steps: the engine finishes the steps under way (at most
    /// `timeout`), then the Lease is released so that another replica takes over at once,
    /// then everything stops.
    pub async fn shutdown(mut self, timeout: Duration) {
        self.engine.drain(timeout).await;
        if let Some(election) = self.election.take() {
            election.resign().await;
        }
        self.stop();
    }
}

/// Where a pod's service account credentials are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Overrides [`SERVICE_ACCOUNT_DIR`] (a mount elsewhere, or a test's token directory).
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "NIGHTSHIFT_SERVICE_ACCOUNT_DIR";

/// A Kubernetes client configuration: from a kubeconfig path when given; in a pod (the
/// `KUBERNETES_SERVICE_HOST` variable set), from its service account; else kube's inference
/// (`KUBECONFIG`, `~/.kube/config`).
pub async fn kube_config(kubeconfig: Option<&Path>) -> Result<kube::Config, StartError> {
    if let Some(p) = kubeconfig {
        let kc = kube::config::Kubeconfig::read_from(p)
            .map_err(|e| StartError::Kube(format!("{}: {e}", p.display())))?;
        return kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| StartError::Kube(e.to_string()));
    }
    if let Some(host) = std::env::var("KUBERNETES_SERVICE_HOST")
        .ok()
        .filter(|h| !h.is_empty())
    {
        let port = std::env::var("KUBERNETES_SERVICE_PORT")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "443".into());
        let dir = std::env::var(SERVICE_ACCOUNT_DIR_ENV)
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| SERVICE_ACCOUNT_DIR.into());
        return in_cluster(&host, &port, Path::new(&dir)).await;
    }
    kube::Config::infer()
        .await
        .map_err(|e| StartError::Kube(e.to_string()))
}

/// The in-cluster configuration, as a pod's client builds it: `https://HOST:PORT`, the
/// cluster's CA from `DIR/ca.crt`, the token from `DIR/token` (read again as it rotates) and
/// the namespace from `DIR/namespace`.
///
/// Written out rather than `kube::Config::incluster()`, which reads only the standard mount
/// path: a mount elsewhere (and the tests' token directories) must work as well.
async fn in_cluster(host: &str, port: &str, dir: &Path) -> Result<kube::Config, StartError> {
    use kube::config::{
        AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
        NamedContext,
    };
    let token = dir.join("token");
    let ca = dir.join("ca.crt");
    for f in [&token, &ca] {
        if !f.is_file() {
            return Err(StartError::Kube(format!(
                "in-cluster configuration (KUBERNETES_SERVICE_HOST is set): {} does not exist; mount the service account token there, set {SERVICE_ACCOUNT_DIR_ENV}, or give a kubeconfig",
                f.display()
            )));
        }
    }
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    // An IPv6 address goes in brackets in a URL.
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let kc = Kubeconfig {
        clusters: vec![NamedCluster {
            name: "in-cluster".into(),
            cluster: Some(Cluster {
                server: Some(format!("https://{host}:{port}")),
                certificate_authority: Some(ca.display().to_string()),
                ..Cluster::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: "service-account".into(),
            auth_info: Some(AuthInfo {
                token_file: Some(token.display().to_string()),
                ..AuthInfo::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: "in-cluster".into(),
            context: Some(Context {
                cluster: "in-cluster".into(),
                user: Some("service-account".into()),
                namespace,
                ..Context::default()
            }),
            other: Default::default(),
        }],
        current_context: Some("in-cluster".into()),
        ..Kubeconfig::default()
    };
    kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| StartError::Kube(format!("in-cluster configuration: {e}")))
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
    let mut warnings = vec![];
    if !opts.auth.required() && !opts.listen.ip().is_loopback() {
        if !opts.auth.explicitly_open() {
            return Err(StartError::OpenApi(opts.listen));
        }
        let w = format!(
            "the API on {} serves every caller without authentication (auth: none), approvals included",
            opts.listen
        );
        tracing::warn!("{w}");
        warnings.push(w);
    }
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
    let _ = caches.replicasets.wait_until_ready().await;
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
        config: opts.engine,
    });
    let outbox = match opts.notify {
        Some(n) => {
            let e = engine.clone();
            Some(
                crate::notify::Outbox::new(
                    engine.store().clone(),
                    clock.clone(),
                    n.destinations,
                    n.routing,
                    Arc::new(move || e.policy()),
                    n.settings,
                )
                .await?,
            )
        }
        None => None,
    };
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
    let mut api = ApiState::new(engine.clone(), opts.auth, opts.limits.clone());
    api.warnings = warnings;
    api.outbox = outbox.clone();
    let state = Arc::new(api);
    let app = router(state.clone());
    tasks.extend(crate::http::slack::socket_mode(&state));
    tasks.push(tokio::spawn(crate::http::serve(
        listener,
        app,
        opts.limits,
        state.server.clone(),
    )));
    let election = match &opts.election {
        Some(settings) => {
            let election = crate::lead::Election::join(
                client.clone(),
                engine.store().clone(),
                clock.clone(),
                settings,
            )
            .await?;
            engine.set_lead(election.lead());
            Some(election)
        }
        None => None,
    };
    tasks.extend(engine.start_workers());
    if let Some(outbox) = &outbox {
        let e = engine.clone();
        tasks.extend(outbox.start(engine.lead(), move || e.subscribe()));
    }
    if election.is_some() {
        // Resumes what is in flight each time this replica comes to lead.
        tasks.push(tokio::spawn(engine.clone().steward()));
    } else {
        let resumed = engine.resume().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed in-flight incidents");
        }
    }
    if let Some(path) = opts.policy_file.clone() {
        tasks.push(tokio::spawn(watch_policy(engine.clone(), path)));
    }
    if opts.watchers {
        let (tx, mut rx) = mpsc::channel(64);
        // What the detectors had firing before a restart, so that what ended meanwhile is
        // resolved.
        let carried = engine
            .store()
            .firing_signals(nightshift_core::SignalSource::Watcher, 10_000)
            .await?;
        tasks.push(tokio::spawn(run_detectors(
            caches,
            clock,
            Grace::default(),
            opts.watch_interval,
            carried,
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
        election,
    })
}

/// How often the policy file is looked at.
const POLICY_CHECK: Duration = Duration::from_secs(2);

/// Puts the policy file's new content in force when it changes; a content that does not load
/// leaves the previous policy in force, and says why in the log and on `/readyz` until the
/// file loads again.
async fn watch_policy<A: Analyzer + 'static>(engine: Arc<Engine<A>>, path: std::path::PathBuf) {
    let mut last = std::fs::read(&path).ok();
    loop {
        tokio::time::sleep(POLICY_CHECK).await;
        // A ConfigMap volume swaps a symlink: read the content, not the modification time.
        let now = std::fs::read(&path).ok();
        if now == last {
            continue;
        }
        last = now;
        match Policy::load(&path) {
            Ok(policy) => {
                tracing::info!(path = %path.display(), mode = ?policy.mode, "policy reloaded");
                engine.replace_policy(policy);
            }
            Err(e) => {
                let problem = format!(
                    "the policy file changed and does not load, so the previous policy stays in force: {e}"
                );
                tracing::error!(path = %path.display(), "{problem}");
                engine.set_policy_problem(Some(problem));
            }
        }
    }
}
