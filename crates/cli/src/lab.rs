//! The lab: a simulated cluster and the agent in one process, the agent talking to the
//! cluster through its real Kubernetes client over loopback HTTP and receiving the simulated
//! monitoring's Alertmanager webhooks, both on the simulation's clock.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nightshift_agent::clock::{Clock, ExternalClock};
use nightshift_agent::engine::EngineConfig;
use nightshift_agent::http::Auth;
use nightshift_agent::runtime::{RunningAgent, StartOptions, start};
use nightshift_agent::verify::ClusterClock;
use nightshift_core::policy::Policy;
use nightshift_core::{Analyzer, RuleAnalyzer};
use nightshift_scenario::Scenario;
use nightshift_sim::Simulation;
use nightshift_sim::server::{self, AccessOptions, ServeOptions};
use nightshift_store::Store;

use crate::eval::rbac::{RbacManifest, service_account_config};

mod humans;

/// The lab's policy: auto mode, every action low risk on a disposable cluster.
pub const LAB_POLICY: &str = include_str!("../../../deploy/policy.lab.yaml");

/// How to run a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Simulated start time, ms since the epoch.
    pub start_ms: i64,
    /// Store URL.
    pub store: String,
    /// The policy (the lab default is `auto`).
    pub policy: Policy,
    /// Run the agent's own detectors besides the simulated monitoring.
    pub watchers: bool,
    /// Engine settings.
    pub engine: EngineConfig,
    /// Credentials the agent's API requires (none by default: the lab is on loopback).
    pub auth: Auth,
    /// HTTP limits of the agent's API.
    pub limits: nightshift_agent::http::HttpLimits,
    /// Whether the simulated monitoring posts its alerts to the agent.
    pub monitoring: bool,
    /// A URL the agent posts its notifications to (a webhook named `webhook`).
    pub notify_webhook: Option<String>,
    /// Notification destinations and routes, as the configuration's `notify:` says.
    pub notify: crate::notifications::NotifySettings,
    /// What outgoing https trusts beyond the system's roots (the configuration's `tls:`).
    pub tls: nightshift_net::TlsSettings,
    /// Least privilege: the cluster enforces RBAC with these objects applied, and the agent
    /// authenticates as their service account. `None`: an open cluster, the agent its admin.
    pub rbac: Option<Arc<RbacManifest>>,
}

impl LabOptions {
    /// Defaults: auto mode, SQLite at `db`, speed 30.
    pub fn new(db: PathBuf) -> Self {
        LabOptions {
            speed: 30.0,
            start_ms: chrono::Utc::now().timestamp_millis() / 1000 * 1000,
            store: format!("sqlite://{}?mode=rwc", db.display()),
            policy: Policy::parse(LAB_POLICY, "deploy/policy.lab.yaml")
                .expect("the lab policy parses"),
            watchers: true,
            engine: EngineConfig {
                stabilization: Duration::from_secs(90),
                ..EngineConfig::default()
            },
            auth: Auth::open(false),
            limits: Default::default(),
            monitoring: true,
            notify_webhook: None,
            notify: Default::default(),
            tls: Default::default(),
            rbac: None,
        }
    }
}

/// A running lab.
pub struct Lab<A: Analyzer = RuleAnalyzer> {
    /// The cluster.
    pub sim: Arc<Simulation>,
    /// The cluster's server.
    pub cluster: server::Running,
    /// The agent.
    pub agent: RunningAgent<A>,
    /// The scenario's scripted people, making their changes at their times.
    pub humans: tokio::task::JoinHandle<()>,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .context("unable to find a free loopback port")?;
    Ok(l.local_addr()?.port())
}

impl Lab<RuleAnalyzer> {
    /// Starts the cluster of `scenario` and the agent with the rule analyzer against it.
    pub async fn start(scenario: &Scenario, opts: LabOptions) -> anyhow::Result<Self> {
        Lab::start_with(scenario, opts, RuleAnalyzer::new()).await
    }
}

impl<A: Analyzer + 'static> Lab<A> {
    /// Starts the cluster of `scenario` and the agent against it.
    pub async fn start_with(
        scenario: &Scenario,
        opts: LabOptions,
        analyzer: A,
    ) -> anyhow::Result<Self> {
        let sim = Simulation::new(scenario, opts.start_ms);
        if let Some(manifest) = &opts.rbac {
            manifest.apply(sim.store())?;
        }
        let agent_port = free_port()?;
        let cluster = server::start_with_access(
            sim.clone(),
            &ServeOptions {
                listen: "127.0.0.1:0".parse()?,
                speed: opts.speed,
                alert_webhook: opts
                    .monitoring
                    .then(|| format!("http://127.0.0.1:{agent_port}/api/v1/alerts/alertmanager")),
                kubeconfig_out: None,
                stop_at_horizon: true,
                field_validation: nightshift_sim::api::fields::FieldValidation::Strict,
            },
            &AccessOptions {
                rbac: opts.rbac.is_some(),
                ..AccessOptions::default()
            },
        )
        .await?;
        let admin = kube::Client::try_from(kube::Config::new(
            format!("http://{}", cluster.addr).parse()?,
        ))?;
        let humans = tokio::spawn(humans::run(
            scenario.clone(),
            sim.clone(),
            admin,
            opts.start_ms,
        ));
        let mut config = match &opts.rbac {
            Some(manifest) => service_account_config(&cluster, manifest)?,
            None => kube::Config::new(format!("http://{}", cluster.addr).parse()?),
        };
        config.read_timeout = Some(Duration::from_secs(30));
        let store = Store::open(&opts.store)
            .await
            .with_context(|| format!("unable to open the store {}", opts.store))?;
        let sim_clock = sim.clock().clone();
        let clock: Arc<dyn Clock> = Arc::new(ExternalClock::new(
            move || sim_clock.now_ms(),
            Duration::from_millis(20),
        ));
        let sim_clock = sim.clock().clone();
        let cluster_clock = ClusterClock::Custom(Arc::new(move || sim_clock.now()));
        let agent = start(
            config,
            clock,
            analyzer,
            opts.policy,
            store,
            StartOptions {
                listen: format!("127.0.0.1:{agent_port}").parse()?,
                auth: opts.auth,
                limits: opts.limits,
                notify: opts
                    .notify
                    .setup(opts.notify_webhook.as_deref(), &opts.tls)
                    .map_err(|e| anyhow::anyhow!("notify: {e}"))?,
                engine: opts.engine,
                watchers: opts.watchers,
                watch_interval: Duration::from_secs(15),
                election: None,
                policy_file: None,
                cluster_clock,
            },
        )
        .await?;
        Ok(Lab {
            sim,
            cluster,
            agent,
            humans,
        })
    }

    /// Waits until the scenario's horizon.
    pub async fn run_to_horizon(&mut self) {
        while !self.cluster.clock.is_finished() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the agent and the cluster.
    pub fn stop(&self) {
        self.agent.stop();
        self.humans.abort();
        self.cluster.server.abort();
        self.cluster.clock.abort();
    }
}
