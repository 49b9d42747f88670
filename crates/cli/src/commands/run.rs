//! `nightshift run`: the agent against a real cluster.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use nightshift::config::AgentConfig;
use nightshift_agent::clock::SystemClock;
use nightshift_agent::console::oidc::Oidc;
use nightshift_agent::http::{Auth, MetricsHook};
use nightshift_agent::runtime::{StartOptions, kube_config, start};
use nightshift_agent::verify::ClusterClock;
use nightshift_core::policy::Policy;
use nightshift_core::{Analyzer, RuleAnalyzer};
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::tools::kube::KubeInvestigator;
use nightshift_store::Store;

use crate::cli::RunArgs;

/// Runs until interrupted.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (mut config, policy) = match load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    if let Some(store) = args.store.clone().filter(|s| !s.is_empty()) {
        config.store = store;
    }
    let file = args
        .config
        .as_deref()
        .map_or("configuration".into(), |p| p.display().to_string());
    if let Err(e) = config.check_replicas() {
        eprintln!("error: {file}: {e}");
        return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
    }
    // Credentials are read before anything starts: a variable that is named but unset stops
    // here, with its name, rather than leaving the API open.
    let auth = match config.auth() {
        Ok(auth) => auth,
        Err(e) => {
            eprintln!("error: {file}: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    let runbooks = match config.runbooks() {
        Ok(runbooks) => runbooks,
        Err(e) => {
            eprintln!("error: {file}: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    let embeddings = match config.embeddings() {
        Ok(embeddings) => embeddings,
        Err(e) => {
            eprintln!("error: {file}: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    let engine = nightshift_agent::engine::EngineConfig {
        runbooks: runbooks.clone(),
        embeddings,
        ..config.engine()
    };
    let oidc = match config.console.oidc(&config.tls, |v| std::env::var(v).ok()) {
        Ok(oidc) => oidc,
        Err(e) => {
            eprintln!("error: {file}: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    if !auth.required() && !config.listen.ip().is_loopback() && !auth.explicitly_open() {
        eprintln!(
            "error: {}",
            nightshift_agent::runtime::StartError::OpenApi(config.listen)
        );
        return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
    }
    super::runtime()?.block_on(async move {
        let kube = kube_config(config.kubeconfig.as_deref()).await?;
        match config.llm.clone() {
            Some(llm) => {
                let investigator = KubeInvestigator::new(
                    kube::Client::try_from(kube.clone())?,
                    llm.prometheus_url.clone(),
                    &config.tls,
                )?;
                let analyzer = LlmAnalyzer::from_config(&llm)?
                    .with_policy(policy.clone())
                    .with_runbooks(&runbooks)
                    .with_investigator(Arc::new(investigator));
                let metrics = analyzer.metrics().clone();
                let hook: MetricsHook = Arc::new(move |reg| metrics.register(reg));
                serve(
                    &config,
                    auth,
                    oidc,
                    kube,
                    analyzer,
                    policy,
                    Some(hook),
                    engine,
                )
                .await
            }
            None => {
                serve(
                    &config,
                    auth,
                    oidc,
                    kube,
                    RuleAnalyzer::new(),
                    policy,
                    None,
                    engine,
                )
                .await
            }
        }
    })
}

/// The agent's configuration and policy from `path` (defaults without one); a file that does
/// not load is reported and becomes the exit code.
pub(super) fn load(path: Option<&Path>) -> Result<(AgentConfig, Policy), ExitCode> {
    let bad = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::from(super::EXIT_BAD_INPUT)
    };
    let config = match path {
        Some(p) => AgentConfig::load(p).map_err(|e| bad(&e))?,
        None => AgentConfig::default(),
    };
    // Installed process-wide before anything reads a log line or builds a prompt.
    nightshift_core::redact::add_patterns(&config.redact.patterns).map_err(|e| bad(&e))?;
    let policy = match &config.policy {
        Some(p) => Policy::load(p).map_err(|e| bad(&e))?,
        None => Policy::default(),
    };
    Ok((config, policy))
}

/// Starts the agent with `analyzer` and serves until interrupted.
async fn serve<A: Analyzer + 'static>(
    config: &AgentConfig,
    auth: Auth,
    oidc: Option<Oidc>,
    kube: kube::Config,
    analyzer: A,
    policy: Policy,
    metrics: Option<MetricsHook>,
    engine: nightshift_agent::engine::EngineConfig,
) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.store).await?;
    let name = analyzer.name().to_string();
    let agent = start(
        kube,
        Arc::new(SystemClock),
        analyzer,
        policy,
        store,
        StartOptions {
            listen: config.listen,
            auth,
            limits: config.http.limits(),
            notify: config
                .notify
                .setup(config.notify_webhook.as_deref(), &config.tls)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            engine,
            watchers: config.watchers,
            watch_interval: config.watch_interval(),
            // The API server's clock through a dry-run ConfigMap in the agent's own
            // namespace (in a pod, where its Role allows it), else in `default`.
            cluster_clock: std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|n| !n.is_empty())
                .map_or_else(ClusterClock::default, |namespace| ClusterClock::Server {
                    namespace,
                }),
            election: config.leader_election.as_ref().map(|le| le.settings()),
            policy_file: config.policy.clone(),
        },
    )
    .await?;
    if let Some(hook) = metrics {
        let _ = agent.api.extra_metrics.set(hook);
    }
    if let Some(oidc) = oidc {
        eprintln!(
            "nightshift: the console signs in through {} too",
            oidc.display_name()
        );
        let _ = agent.api.oidc.set(oidc);
    }
    eprintln!(
        "nightshift: agent listening on http://{} (store {}, analyzer {}{})",
        agent.addr,
        nightshift_core::redact::redact(&config.store),
        name,
        if agent.election.is_some() {
            ", leader election on"
        } else {
            ""
        }
    );
    stopped().await;
    // Between steps: the steps under way finish, then the Lease is released so that another
    // replica takes over at once rather than when it expires.
    agent.shutdown(std::time::Duration::from_secs(20)).await;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends a pod it stops).
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                tokio::signal::ctrl_c().await.ok();
            }
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.ok();
}
