//! `nightshift run`: the agent against a real cluster.

use std::process::ExitCode;
use std::sync::Arc;

use nightshift_agent::clock::SystemClock;
use nightshift_agent::notify::Notifier;
use nightshift_agent::runtime::{AgentConfig, StartOptions, kube_config, start};
use nightshift_agent::verify::ClusterClock;
use nightshift_core::RuleAnalyzer;
use nightshift_core::policy::Policy;
use nightshift_store::Store;

use crate::cli::RunArgs;

/// Runs until interrupted.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(p) => match AgentConfig::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
            }
        },
        None => AgentConfig::default(),
    };
    let policy = match &config.policy {
        Some(p) => match Policy::load(p) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
            }
        },
        None => Policy::default(),
    };
    super::runtime()?.block_on(async move {
        let client = kube_config(config.kubeconfig.as_deref()).await?;
        let store = Store::open(&config.store).await?;
        let agent = start(
            client,
            Arc::new(SystemClock),
            RuleAnalyzer::new(),
            policy,
            store,
            StartOptions {
                listen: config.listen,
                auth: config.auth(),
                notifier: config.notify_webhook.clone().map(Notifier::new),
                engine: config.engine(),
                watchers: config.watchers,
                watch_interval: nightshift_scenario::units::parse_duration(&config.watch_interval)
                    .unwrap_or(std::time::Duration::from_secs(15)),
                cluster_clock: ClusterClock::default(),
            },
        )
        .await?;
        eprintln!(
            "nightshift: agent listening on http://{} (store {})",
            agent.addr, config.store
        );
        tokio::signal::ctrl_c().await.ok();
        agent.stop();
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
