//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Nightshift: an autonomous on-call engineer for Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "nightshift", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a simulated Kubernetes cluster from a scenario file, serving the Kubernetes API.
    Sim(SimArgs),
    /// Work with scenario files.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
}

/// `nightshift sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The scenario file to run.
    #[arg(long)]
    pub scenario: PathBuf,
    /// Address of the API server.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Write a kubeconfig for the server to this file (`kubectl --kubeconfig FILE ...`).
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Evaluate the shipped alert rules and post Alertmanager v4 webhooks to this URL.
    #[arg(long)]
    pub alert_webhook: Option<String>,
    /// Simulated start time (RFC 3339); default one horizon before now. A fixed value makes runs byte-identical.
    #[arg(long)]
    pub start: Option<String>,
    /// Exit when the scenario's horizon is reached instead of serving on.
    #[arg(long)]
    pub exit_at_horizon: bool,
}

/// `nightshift scenario ...`.
#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Load scenario files (or folders of them) and report problems.
    Check {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}
