//! Runs a simulation in real time (times `speed`) behind the API server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::Simulation;
use crate::api::auth::{Access, ServiceAccountRef};
use crate::api::fields::FieldValidation;
use crate::api::{ApiState, router, tls};
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
    /// What happens to fields a type does not declare when a request names no
    /// `fieldValidation`: `Warn` as kube-apiserver does, `Strict` to refuse them.
    pub field_validation: FieldValidation,
}

/// Who may do what on the served cluster. The default enforces nothing: every request is
/// the cluster administrator's, as the simulated cluster has always served.
#[derive(Debug, Clone, Default)]
pub struct AccessOptions {
    /// Authenticate bearer tokens and authorize every request with RBAC. The server then
    /// speaks HTTPS (kubectl sends tokens over nothing else) with the simulator's test
    /// certificate authority ([`tls::CA_PEM`]); the kubeconfig carries that authority and the
    /// admin token; a request without a token is `system:anonymous`.
    pub rbac: bool,
    /// Where to write a token per service account of `service_accounts`, as a pod would mount
    /// it: `<dir>/<namespace>/<name>/` holding `token`, `namespace` and `ca.crt`.
    pub token_dir: Option<PathBuf>,
    /// The service accounts to write tokens for.
    pub service_accounts: Vec<ServiceAccountRef>,
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
    /// A service account token could not be written.
    #[error("unable to write the token of service account {namespace}/{name} under {dir}")]
    Token {
        /// Namespace of the service account.
        namespace: String,
        /// Name of the service account.
        name: String,
        /// The token directory.
        dir: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The bootstrap RBAC policy could not be stored.
    #[error("unable to store the bootstrap RBAC policy")]
    Bootstrap(#[source] crate::store::StoreError),
    /// The HTTP server failed.
    #[error("the API server stopped")]
    Serve(#[source] std::io::Error),
}

/// A kubeconfig for a plain-HTTP server at `url`.
pub fn kubeconfig(url: &str, name: &str) -> String {
    kubeconfig_with(url, name, None, None)
}

/// A kubeconfig for the server at `url` whose user presents `token`, if any, trusting the
/// certificate authority `ca_pem` for an `https://` server.
pub fn kubeconfig_with(url: &str, name: &str, token: Option<&str>, ca_pem: Option<&str>) -> String {
    let user = match token {
        Some(t) => format!("\n    token: {t}"),
        None => " {}".to_string(),
    };
    let ca = ca_pem.map_or_else(String::new, |pem| {
        format!(
            "\n    certificate-authority-data: {}",
            tls::base64(pem.as_bytes())
        )
    });
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {url}{ca}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: default\ncurrent-context: {name}\nusers:\n- name: {name}\n  user:{user}\npreferences: {{}}\n"
    )
}

/// Writes [`kubeconfig`] to `path`.
pub fn write_kubeconfig(path: &Path, url: &str, name: &str) -> Result<(), ServeError> {
    write_file(path, &kubeconfig(url, name))
}

fn write_file(path: &Path, text: &str) -> Result<(), ServeError> {
    std::fs::write(path, text).map_err(|source| ServeError::Kubeconfig {
        path: path.to_path_buf(),
        source,
    })
}

/// The `https://` URL of a server listening on `addr`; a wildcard address is reached on the
/// loopback one, which the certificate names.
pub fn https_url(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    format!("https://{host}:{}", addr.port())
}

/// A server bound and running in the background.
pub struct Running {
    /// The address it listens on (HTTPS when access is enforced, HTTP otherwise).
    pub addr: SocketAddr,
    /// The simulation.
    pub sim: Arc<Simulation>,
    /// The clock task; finishes at the horizon when asked to stop there.
    pub clock: tokio::task::JoinHandle<()>,
    /// The HTTP server task.
    pub server: tokio::task::JoinHandle<Result<(), ServeError>>,
    /// Whether requests are authenticated and authorized; mints service account tokens.
    pub access: Arc<Access>,
}

/// Binds the API server and starts the clock, enforcing nothing.
pub async fn start(sim: Arc<Simulation>, opts: &ServeOptions) -> Result<Running, ServeError> {
    start_with_access(sim, opts, &AccessOptions::default()).await
}

/// Binds the API server with authentication and authorization as `access` says, writes the
/// service account tokens it asks for, and starts the clock.
pub async fn start_with_access(
    sim: Arc<Simulation>,
    opts: &ServeOptions,
    access: &AccessOptions,
) -> Result<Running, ServeError> {
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
    let rules = Arc::new(if access.rbac {
        Access::rbac()
    } else {
        Access::open()
    });
    let mut state = ApiState::new(sim.store().clone(), sim.clone());
    state.field_validation = opts.field_validation;
    state
        .set_access(rules.clone())
        .map_err(ServeError::Bootstrap)?;
    if let Some(dir) = &access.token_dir {
        for sa in &access.service_accounts {
            rules
                .write_service_account_token(dir, sa)
                .map_err(|source| ServeError::Token {
                    namespace: sa.namespace.clone(),
                    name: sa.name.clone(),
                    dir: dir.clone(),
                    source,
                })?;
        }
    }
    if let Some(path) = &opts.kubeconfig_out {
        let text = if rules.enforcing() {
            kubeconfig_with(
                &https_url(addr),
                "nightshift-sim",
                Some(rules.admin_token()),
                Some(tls::CA_PEM),
            )
        } else {
            kubeconfig(&format!("http://{addr}"), "nightshift-sim")
        };
        write_file(path, &text)?;
    }
    let app = router(state);
    let server = if rules.enforcing() {
        let listener = tls::TlsListener::new(listener);
        tokio::spawn(async move { axum::serve(listener, app).await.map_err(ServeError::Serve) })
    } else {
        tokio::spawn(async move { axum::serve(listener, app).await.map_err(ServeError::Serve) })
    };
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
        access: rules,
    })
}
