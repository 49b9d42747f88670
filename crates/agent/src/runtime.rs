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
use crate::notify::Notifier;
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
    /// Leader election among replicas; `None` runs the engine alone.
    pub election: Option<crate::lead::ElectionSettings>,
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
    let mut api = ApiState::new(engine.clone(), opts.auth, opts.limits.clone());
    api.warnings = warnings;
    let state = Arc::new(api);
    let app = router(state.clone());
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
    if election.is_some() {
        // Resumes what is in flight each time this replica comes to lead.
        tasks.push(tokio::spawn(engine.clone().steward()));
    } else {
        let resumed = engine.resume().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed in-flight incidents");
        }
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
