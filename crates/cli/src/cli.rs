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
    /// The simulated cluster and the agent in one process, printing the incident timeline live.
    Demo(DemoArgs),
    /// Run the agent against a cluster (kubeconfig or in-cluster config).
    Run(RunArgs),
    /// List or show incidents from the record.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Approve the plan an incident waits on.
    Approve(AnswerArgs),
    /// Reject the plan an incident waits on.
    Reject(AnswerArgs),
    /// Work with policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Score the agent on scenario files, each in a fresh simulated cluster.
    Eval(EvalArgs),
    /// Analyze a pod, a workload or a recorded incident now, and print the diagnosis,
    /// evidence and plans (nothing is changed).
    Analyze(AnalyzeArgs),
    /// The knowledge base: past incidents, imported postmortems and runbook documents.
    #[command(subcommand)]
    Kb(KbCommand),
    /// The trust ladder: per namespace × action × category, the record of the agent's
    /// proposals, the mode it earned and the mode it is in; pin, unpin, or judge a proposal.
    Trust(TrustArgs),
}

/// `nightshift trust [pin|unpin|mark]`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TrustArgs {
    /// What to do; without one, the ladder is shown.
    #[command(subcommand)]
    pub command: Option<TrustCommand>,
    #[command(flatten)]
    pub show: TrustShow,
}

/// Where the ladder is and which policy's thresholds apply.
#[derive(Debug, clap::Args)]
pub struct TrustShow {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The policy whose `promotion:` thresholds apply (default: the one in --config, else the
    /// built-in defaults).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    pub output: Output,
}

/// One row of the ladder, as `pin` and `unpin` name it.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustRowArgs {
    /// Namespace (`-` for node actions).
    #[arg(long)]
    pub namespace: String,
    /// Catalogue action (`rollout-restart`).
    #[arg(long)]
    pub action: String,
    /// Diagnosis category (`resource/memory-leak`).
    #[arg(long)]
    pub category: String,
}

/// `nightshift trust ...`.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Pin a row in a mode: it stays there whatever its record, until unpinned.
    Pin {
        #[command(flatten)]
        row: TrustRowArgs,
        /// observe, dry-run, approve or auto.
        #[arg(long)]
        mode: String,
        /// Who pins it.
        #[arg(long = "as", value_name = "NAME")]
        by: String,
        #[command(flatten)]
        show: TrustShow,
    },
    /// Let a pinned row move again (with `promotion.apply: auto`).
    Unpin {
        #[command(flatten)]
        row: TrustRowArgs,
        /// Who unpins it.
        #[arg(long = "as", value_name = "NAME")]
        by: String,
        #[command(flatten)]
        show: TrustShow,
    },
    /// Judge an incident's proposal: right, wrong, or harmful (an action that did damage).
    Mark {
        /// Incident id.
        incident: String,
        /// right, wrong or harmful.
        verdict: String,
        /// Who judges.
        #[arg(long = "as", value_name = "NAME")]
        by: String,
        #[command(flatten)]
        show: TrustShow,
    },
}

/// `nightshift kb ...`.
#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Import the postmortems and runbook documents of a directory (Markdown files with YAML
    /// front matter, `*.md`, searched recursively): all of them, or none when one is broken.
    Import {
        /// The directory (or one file).
        dir: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The entries most like some words, best first.
    Search {
        /// What to look for (alert names, log lines, a workload, a category).
        text: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// How many.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "table")]
        output: Output,
    },
    /// One entry.
    Show {
        /// Entry id (`inc-000012`, `doc/checkout-oom`).
        id: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "table")]
        output: Output,
    },
}

/// `nightshift analyze`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["pod", "workload", "incident"])))]
pub struct AnalyzeArgs {
    /// A pod, as NAMESPACE/NAME.
    #[arg(long)]
    pub pod: Option<String>,
    /// A Deployment, StatefulSet or DaemonSet, as NAMESPACE/NAME.
    #[arg(long)]
    pub workload: Option<String>,
    /// A recorded incident (its resource is analyzed with fresh evidence and its history).
    #[arg(long)]
    pub incident: Option<String>,
    /// The agent's configuration file (kubeconfig, store, policy and the `llm:` section).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Kubeconfig file (default: the configuration's, else KUBECONFIG, ~/.kube/config or
    /// in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Store URL for --incident (default: the configuration's).
    #[arg(long, env = "NIGHTSHIFT_STORE")]
    pub store: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    pub output: Output,
}

/// Which analyzer the evaluation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AnalyzerChoice {
    /// The deterministic rule analyzer.
    Rules,
    /// The model (hybrid with the rules), configured by `--llm-config`.
    Llm,
}

/// `nightshift eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Scenario files or folders of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Write the JSON report to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// The analyzer.
    #[arg(long, value_enum, default_value = "rules")]
    pub analyzer: AnalyzerChoice,
    /// The model's configuration (a YAML file with an `llm:` section) for `--analyzer llm`.
    #[arg(long)]
    pub llm_config: Option<PathBuf>,
    /// The policy the agent runs under (default: the lab's auto-mode policy).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Scenarios run at once (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 180.0)]
    pub speed: f64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Exit 1 when any harmful action ran or any control scenario opened an incident, or,
    /// with `--rbac-manifest`, when any request of the agent was answered 403 (the gate CI
    /// applies); without it the exit code does not depend on the scores.
    #[arg(long)]
    pub strict: bool,
    /// Least privilege: each scenario's cluster enforces authentication and RBAC, the
    /// ServiceAccount, Roles, ClusterRoles and bindings of this manifest (the chart as
    /// `scripts/chart render DIR` writes it to DIR/manifests.yaml) are applied to it, and the
    /// agent authenticates as that ServiceAccount instead of as the cluster administrator.
    /// Every 403 the agent receives is counted and reported.
    #[arg(long, value_name = "FILE")]
    pub rbac_manifest: Option<PathBuf>,
    /// Write the knowledge-base entries every scenario's record holds at its end (one per
    /// incident that ended), ids prefixed with the scenario's name, as one JSON array to this
    /// file: the input of the retrieval benchmark (docs/knowledge-benchmark.md).
    #[arg(long, value_name = "FILE")]
    pub kb_out: Option<PathBuf>,
}

/// `nightshift demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// A scenario name from `scenarios/` or a file; default: a built-in OOM scenario.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 30.0)]
    pub speed: f64,
    /// SQLite file for the record (kept for inspection).
    #[arg(long, default_value = "nightshift-demo.db")]
    pub db: PathBuf,
    /// Open the web console in the desktop's browser (`xdg-open`, or `open` on macOS).
    #[arg(long)]
    pub open: bool,
    /// Keep the agent and its console serving after the scenario ends, until Ctrl-C.
    #[arg(long)]
    pub stay: bool,
}

/// `nightshift run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The agent's configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Store URL, instead of the configuration's (a PostgreSQL URL carries a password: in a
    /// cluster it comes from a Secret through this variable, not from the configuration).
    #[arg(long, env = "NIGHTSHIFT_STORE", hide_env_values = true)]
    pub store: Option<String>,
}

/// Where the record is.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Store URL or SQLite file (default: the one in --config, else nightshift.db).
    #[arg(long, env = "NIGHTSHIFT_STORE")]
    pub store: Option<String>,
    /// The agent's configuration file, to find the store.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `nightshift incidents ...`.
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// A table of incidents.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "table")]
        output: Output,
        /// Only incidents not closed.
        #[arg(long)]
        open: bool,
    },
    /// Add a note to an incident (its timeline and its knowledge-base entry): what a person
    /// found, what the remedy missed. Redacted before it is stored.
    Note {
        /// Incident id.
        id: String,
        /// The note.
        text: Vec<String>,
        /// Who writes it.
        #[arg(long = "as", value_name = "NAME")]
        by: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// One incident with its timeline.
    Show {
        /// Incident id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "table")]
        output: Output,
    },
}

/// Table or JSON.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Output {
    /// For people.
    Table,
    /// For programs.
    Json,
}

/// `nightshift approve|reject`: on a running agent's API with a token (`--agent`), recorded as
/// the token's identity; or on the record directly (`--store`), as `--as`.
#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    /// Incident id.
    pub incident: String,
    /// Who answers, when writing the record directly (an agent's API records the token's name).
    #[arg(long = "as", conflicts_with = "agent")]
    pub by: Option<String>,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
    /// A running agent's URL, e.g. `http://nightshift:8080`: answer through its API.
    #[arg(long)]
    pub agent: Option<String>,
    /// The environment variable holding the API token for `--agent`.
    #[arg(long, default_value = "NIGHTSHIFT_TOKEN", requires = "agent")]
    pub token_env: String,
    /// The agent's policy file, whose `approvers` and `min_approvers` an answer written to the
    /// record directly must meet (default: the policy named by `--config`).
    #[arg(long, conflicts_with = "agent")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `nightshift policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load a policy file and print what it does, or the problem with its file, key and line.
    Check {
        /// The file.
        file: PathBuf,
    },
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
    /// Run at `--speed` only while simulated time is behind the wall clock, then at the wall
    /// clock's pace, so no timestamp is ever in the future and kubectl's ages stay valid.
    #[arg(long)]
    pub wall_clock_timestamps: bool,
    /// Authenticate bearer tokens and authorize every request with RBAC, as a real cluster
    /// does. The server then speaks HTTPS with the simulator's test certificate authority, and
    /// the `--kubeconfig-out` kubeconfig carries that authority and the admin token.
    #[arg(long)]
    pub rbac: bool,
    /// Write a token for each `--service-account` under this folder, as a pod mounts it:
    /// `DIR/<namespace>/<name>/{token,namespace,ca.crt}`.
    #[arg(long, value_name = "DIR", requires = "service_account")]
    pub service_account_tokens: Option<PathBuf>,
    /// A service account to write a token for, as NAMESPACE/NAME (repeatable). The token
    /// authenticates once the ServiceAccount exists (applying a chart creates it).
    #[arg(
        long = "service-account",
        value_name = "NS/NAME",
        requires = "service_account_tokens"
    )]
    pub service_account: Vec<nightshift_sim::api::auth::ServiceAccountRef>,
    /// What the API server does with fields a type does not declare when a request names no
    /// `fieldValidation`: Warn (drop them with a warning, kube-apiserver's default), Strict
    /// (refuse the request) or Ignore.
    #[arg(long, value_name = "LEVEL", default_value = "Warn")]
    pub field_validation: nightshift_sim::api::fields::FieldValidation,
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
