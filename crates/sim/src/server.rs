//! Runs a simulation in real time (times `speed`) behind the API server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::Simulation;
use crate::api::{ApiState, router};
use crate::monitoring::Monitoring;

/// How to serve a simulation.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Where simulated Alertmanager posts its webhooks.
    pub alert_webhook: Option<String>,
    /// Where to write a kubeconfig pointing at the server.
    pub kubeconfig_out: Option<PathBuf>,
    /// Stop at the scenario's horizon instead of running on.
    pub stop_at_horizon: bool,
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("unable to listen on {addr}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("unable to write kubeconfig {path}")]
    Kubeconfig {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("the API server stopped")]
    Serve(#[source] std::io::Error),
}

/// A kubeconfig for a plain-HTTP server at `url`.
pub fn kubeconfig(url: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {url}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: default\ncurrent-context: {name}\nusers:\n- name: {name}\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// Writes [`kubeconfig`] to `path`.
pub fn write_kubeconfig(path: &Path, url: &str, name: &str) -> Result<(), ServeError> {
    std::fs::write(path, kubeconfig(url, name)).map_err(|source| ServeError::Kubeconfig {
        path: path.to_path_buf(),
        source,
    })
}

/// A server bound and running in the background.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The simulation.
    pub sim: Arc<Simulation>,
    /// The clock task; finishes at the horizon when asked to stop there.
    pub clock: tokio::task::JoinHandle<()>,
    /// The HTTP server task.
    pub server: tokio::task::JoinHandle<Result<(), ServeError>>,
}

/// Binds the API server and starts the clock.
pub async fn start(sim: Arc<Simulation>, opts: &ServeOptions) -> Result<Running, ServeError> {
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: opts.listen,
        source,
    })?;
    if let Some(path) = &opts.kubeconfig_out {
        write_kubeconfig(path, &format!("http://{addr}"), "nightshift-sim")?;
    }
    let app = router(ApiState::new(sim.store().clone(), sim.clone()));
    let server =
        tokio::spawn(async move { axum::serve(listener, app).await.map_err(ServeError::Serve) });
    let clock_sim = sim.clone();
    let speed = opts.speed.max(0.001);
    let webhook = opts.alert_webhook.clone();
    let stop = opts.stop_at_horizon;
    let clock = tokio::spawn(async move {
        let mut monitoring = Monitoring::new(webhook, &clock_sim);
        let tick = Duration::from_secs_f64(1.0 / speed);
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        loop {
            interval.tick().await;
            if stop && clock_sim.finished() {
                break;
            }
            let s = clock_sim.clone();
            // The step is CPU work; keep it off the reactor threads serving the API.
            let _ = tokio::task::spawn_blocking(move || s.step()).await;
            monitoring.after_step(&clock_sim).await;
        }
        monitoring.flush().await;
    });
    Ok(Running {
        addr,
        sim,
        clock,
        server,
    })
}
