//! The agent's configuration file (`nightshift run --config`), read by the binary and turned
//! into the runtime's typed settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_agent::engine::{EngineConfig, StormLimits};
use nightshift_agent::http::Auth;
use nightshift_agent::lead::ElectionSettings;
use nightshift_agent::prometheus::PrometheusConfig;
use nightshift_core::units::parse_duration;
use nightshift_net::TlsSettings;
use serde::Deserialize;

use crate::access::{AccessKeys, AuthMode, ConsoleSettings, HttpSettings, TokenSettings};

/// A configuration file that cannot be used: the file, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// File.
    pub path: String,
    /// What is wrong (with the key and the line, when the parser knows them).
    pub message: String,
}

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
    /// `none` serves the API without authentication even beyond loopback (see
    /// [`crate::access`]).
    pub auth: Option<AuthMode>,
    /// Named API tokens with roles.
    pub tokens: Vec<TokenSettings>,
    /// Environment variable holding one admin bearer token, named `api`.
    pub token_env: Option<String>,
    /// Basic auth user for the Alertmanager receiver.
    pub basic_user: Option<String>,
    /// Environment variable holding the basic auth password.
    pub basic_password_env: Option<String>,
    /// Limits of the API server.
    pub http: HttpSettings,
    /// Open incidents per alert rule and per source before new ones fold into a storm
    /// incident for a human.
    pub storms: StormSettings,
    /// Incidents worked on at once (incidents waiting for a time hold none).
    pub workers: usize,
    /// Generic outgoing webhook for notifications (a destination named `webhook`).
    pub notify_webhook: Option<String>,
    /// Notification destinations (Slack, Teams, PagerDuty, webhooks) and routes.
    pub notify: crate::notifications::NotifySettings,
    /// The web console: sign-in through an OpenID Connect provider (docs/console.md).
    pub console: ConsoleSettings,
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
    /// Secrets of the operator's own to mask, beyond the built-in shapes (docs/redaction.md).
    pub redact: RedactSettings,
    /// Several replicas: the holder of a Lease runs the engine (needs the PostgreSQL store).
    pub leader_election: Option<LeaderElectionSettings>,
    /// What outgoing https connections (model, Prometheus, webhooks) trust beyond the
    /// system's roots: `ca_file`, a PEM file of CA certificates.
    pub tls: TlsSettings,
    /// Named runbooks `run-runbook` may run (docs/runbooks.md).
    pub runbooks: Vec<nightshift_core::runbook::RunbookSettings>,
    /// An embeddings endpoint for the knowledge base (docs/knowledge.md#embeddings); without
    /// it, retrieval ranks by words and structure alone.
    pub embeddings: Option<nightshift_llm::embed::EmbeddingConfig>,
}

/// The `leader_election` section of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaderElectionSettings {
    /// Name of the coordination.k8s.io Lease; default the `NIGHTSHIFT_LEASE_NAME`
    /// environment variable, else `nightshift`.
    pub lease: String,
    /// Its namespace; default the `POD_NAMESPACE` environment variable, else `default`.
    pub namespace: Option<String>,
    /// This replica's name in the Lease; default `POD_NAME`, else the host name and pid.
    pub identity: Option<String>,
    /// How long the Lease holds without renewal, e.g. `10s`: a dead leader is replaced
    /// within about this.
    pub duration: String,
    /// How long before expiry the holder renews, e.g. `3s`.
    pub grace: String,
}

impl Default for LeaderElectionSettings {
    fn default() -> Self {
        LeaderElectionSettings {
            lease: String::new(),
            namespace: None,
            identity: None,
            duration: "10s".into(),
            grace: "3s".into(),
        }
    }
}

impl LeaderElectionSettings {
    /// Settings that cannot work: a grace as long as the lease, an empty name.
    fn check(&self) -> Result<(), String> {
        let s = self.settings();
        if s.grace >= s.duration || s.duration < Duration::from_secs(2) {
            return Err(format!(
                "leader_election: grace ({}) must be shorter than duration ({}), and duration at least 2s",
                self.grace, self.duration
            ));
        }
        if s.lease.trim().is_empty() {
            return Err("leader_election.lease: empty".into());
        }
        Ok(())
    }

    /// The election settings, with the defaults filled in from the environment.
    pub fn settings(&self) -> ElectionSettings {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let host = env("HOSTNAME").unwrap_or_else(|| "nightshift".into());
        ElectionSettings {
            lease: Some(self.lease.clone())
                .filter(|l| !l.is_empty())
                .or_else(|| env("NIGHTSHIFT_LEASE_NAME"))
                .unwrap_or_else(|| "nightshift".into()),
            namespace: self
                .namespace
                .clone()
                .or_else(|| env("POD_NAMESPACE"))
                .unwrap_or_else(|| "default".into()),
            identity: self
                .identity
                .clone()
                .or_else(|| env("POD_NAME"))
                .unwrap_or_else(|| format!("{host}-{}", std::process::id())),
            duration: parse_duration(&self.duration).unwrap_or(Duration::from_secs(10)),
            grace: parse_duration(&self.grace).unwrap_or(Duration::from_secs(3)),
        }
    }
}

/// The `redact` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactSettings {
    /// Regular expressions (Rust `regex` syntax); with capture groups only what the groups
    /// match is masked, without, the whole match.
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// The `storms` section of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StormSettings {
    /// Open incidents of one alert rule or detection.
    pub per_rule: usize,
    /// Open incidents from one source (Alertmanager, the watchers).
    pub per_source: usize,
    /// How long an escalated or observed incident still counts, e.g. `30m`.
    pub window: String,
}

impl Default for StormSettings {
    fn default() -> Self {
        let d = StormLimits::default();
        StormSettings {
            per_rule: d.per_rule,
            per_source: d.per_source,
            window: format!("{}m", d.window.as_secs() / 60),
        }
    }
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
        let parse = parse_duration;
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
            auth: None,
            tokens: vec![],
            token_env: None,
            basic_user: None,
            basic_password_env: None,
            http: HttpSettings::default(),
            storms: StormSettings::default(),
            workers: EngineConfig::default().concurrency,
            notify_webhook: None,
            notify: Default::default(),
            console: ConsoleSettings::default(),
            watchers: true,
            watch_interval: "15s".into(),
            max_attempts: 2,
            stabilization: "2m".into(),
            verify_deadline: "10m".into(),
            settle: "30s".into(),
            poll: "5s".into(),
            llm: None,
            prometheus: None,
            redact: RedactSettings::default(),
            leader_election: None,
            tls: TlsSettings::default(),
            runbooks: Vec::new(),
            embeddings: None,
        }
    }
}

impl AgentConfig {
    /// Reads a config file; unknown keys and bad values name the file and the line.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        // A configuration is a few kilobytes; a file far past that is a mistake.
        const MAX_BYTES: u64 = 1024 * 1024;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.len() > MAX_BYTES
        {
            return Err(ConfigError {
                path: path.display().to_string(),
                message: format!(
                    "{} bytes is more than the limit of {MAX_BYTES} for a configuration file",
                    meta.len()
                ),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.display().to_string(),
            message: format!("unable to read: {e}"),
        })?;
        let mut cfg: AgentConfig = serde_saphyr::from_str(&text).map_err(|e| ConfigError {
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
        durations.extend(cfg.http.durations());
        if let Some(le) = &cfg.leader_election {
            durations.extend([
                ("leader_election.duration", &le.duration),
                ("leader_election.grace", &le.grace),
            ]);
        }
        durations.push(("storms.window", &cfg.storms.window));
        for (key, v) in durations {
            parse_duration(v).map_err(|e| ConfigError {
                path: path.display().to_string(),
                message: format!("{key}: {e}"),
            })?;
        }
        if let Some(le) = &cfg.leader_election {
            le.check().map_err(|message| ConfigError {
                path: path.display().to_string(),
                message,
            })?;
        }
        cfg.access().check().map_err(|message| ConfigError {
            path: path.display().to_string(),
            message,
        })?;
        cfg.console
            .check(&cfg.access())
            .map_err(|message| ConfigError {
                path: path.display().to_string(),
                message,
            })?;
        cfg.tls.check().map_err(|e| ConfigError {
            path: path.display().to_string(),
            message: format!("tls.ca_file: {e}"),
        })?;
        // The model's endpoint trusts the agent-wide CA file unless llm.ca_file names its own.
        if let Some(llm) = cfg.llm.as_mut()
            && llm.ca_file.is_none()
        {
            llm.ca_file = cfg.tls.ca_file.clone();
        }
        if let Some(llm) = &cfg.llm {
            llm.validate(&path.display().to_string())
                .map_err(|e| ConfigError {
                    path: path.display().to_string(),
                    message: format!("llm.{}: {}", e.key, e.message),
                })?;
        }
        // Embeddings use the model's endpoint, key and CA unless they name their own.
        let llm = cfg.llm.clone();
        if let Some(e) = cfg.embeddings.as_mut() {
            e.inherit(llm.as_ref());
            if e.ca_file.is_none() {
                e.ca_file = cfg.tls.ca_file.clone();
            }
            e.validate(&path.display().to_string())
                .map_err(|e| ConfigError {
                    path: path.display().to_string(),
                    message: format!("{}: {}", e.key, e.message),
                })?;
        }
        cfg.notify.check().map_err(|message| ConfigError {
            path: path.display().to_string(),
            message,
        })?;
        nightshift_core::redact::check_patterns(&cfg.redact.patterns).map_err(|e| ConfigError {
            path: path.display().to_string(),
            message: format!("redact.patterns[{}]: {e}", e.index),
        })?;
        // Variables named by `from_env` are read at start (`runbooks`), like credentials.
        nightshift_core::runbook::read::registry(&cfg.runbooks, |_| Some("set".into())).map_err(
            |e| ConfigError {
                path: path.display().to_string(),
                message: e.to_string(),
            },
        )?;
        Ok(cfg)
    }

    /// The engine settings of this config.
    pub fn engine(&self) -> EngineConfig {
        let d = |s: &str, default: u64| parse_duration(s).unwrap_or(Duration::from_secs(default));
        EngineConfig {
            max_attempts: self.max_attempts.max(1),
            stabilization: d(&self.stabilization, 120),
            verify_deadline: d(&self.verify_deadline, 600),
            settle: d(&self.settle, 30),
            // A poll of zero would spin.
            poll: d(&self.poll, 5).max(Duration::from_millis(10)),
            prometheus: self.prometheus.as_ref().map(|p| PrometheusConfig {
                tls: self.tls.clone(),
                ..p.config()
            }),
            concurrency: self.workers.max(1),
            storms: StormLimits {
                per_rule: self.storms.per_rule.max(1),
                per_source: self.storms.per_source.max(1),
                window: parse_duration(&self.storms.window)
                    .unwrap_or(StormLimits::default().window),
            },
            approval_waiting_after: self.notify.approval_waiting_after(),
            ..EngineConfig::default()
        }
    }

    /// The embeddings endpoint's client, reading its key now: a variable that is named but
    /// unset is an error naming it.
    pub fn embeddings(&self) -> Result<Option<nightshift_agent::learn::Embeddings>, String> {
        let Some(cfg) = &self.embeddings else {
            return Ok(None);
        };
        let client = nightshift_llm::embed::EmbeddingClient::new(cfg, "configuration")
            .map_err(|e| format!("{}: {}", e.key, e.message))?;
        Ok(Some(nightshift_agent::learn::Embeddings(
            std::sync::Arc::new(client),
        )))
    }

    /// How often the detectors scan.
    pub fn watch_interval(&self) -> Duration {
        parse_duration(&self.watch_interval).unwrap_or(Duration::from_secs(15))
    }

    /// Whether the replicas can share this configuration: leader election needs a store
    /// they all reach, so SQLite (one replica's file) is refused.
    pub fn check_replicas(&self) -> Result<(), String> {
        if self.leader_election.is_some()
            && !(self.store.starts_with("postgres://") || self.store.starts_with("postgresql://"))
        {
            return Err(format!(
                "leader_election: replicas must share a PostgreSQL store, and the store is {:?}: a SQLite file belongs to one replica (remove leader_election to run one replica)",
                self.store
            ));
        }
        Ok(())
    }

    /// The credential keys.
    pub fn access(&self) -> AccessKeys<'_> {
        AccessKeys {
            auth: self.auth,
            tokens: &self.tokens,
            token_env: self.token_env.as_deref(),
            basic_user: self.basic_user.as_deref(),
            basic_password_env: self.basic_password_env.as_deref(),
        }
    }

    /// The runbooks, with the values their Jobs take from the agent's environment; a
    /// variable named but unset or empty is an error naming the key and the variable.
    pub fn runbooks(&self) -> Result<nightshift_core::runbook::RunbookRegistry, String> {
        nightshift_core::runbook::read::registry(&self.runbooks, |v| std::env::var(v).ok())
            .map_err(|e| e.to_string())
    }

    /// The credentials the API requires, read from the environment; a variable named but
    /// unset or empty is an error naming the key and the variable.
    pub fn auth(&self) -> Result<Auth, String> {
        self.access().resolve(|v| std::env::var(v).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<AgentConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nightshift.yaml");
        std::fs::write(&path, text).unwrap();
        AgentConfig::load(&path)
    }

    #[test]
    fn leader_election_settings_that_cannot_work_are_refused_by_key() {
        let store = "store: postgres://postgres@127.0.0.1/test\n";
        let ok = load(&format!(
            "{store}leader_election:\n  lease: ns\n  identity: a\n  namespace: ops\n"
        ))
        .unwrap();
        let s = ok.leader_election.as_ref().unwrap().settings();
        assert_eq!((s.lease.as_str(), s.identity.as_str()), ("ns", "a"));
        assert_eq!(s.duration, Duration::from_secs(10));
        assert!(ok.check_replicas().is_ok());
        let e = load(&format!(
            "{store}leader_election:\n  duration: 5s\n  grace: 5s\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("grace (5s) must be shorter than duration (5s)"),
            "{e}"
        );
        let e = load(&format!("{store}leader_election:\n  duration: soon\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("leader_election.duration"), "{e}");
        let sqlite = load("store: sqlite:///tmp/x.db\nleader_election: {}\n").unwrap();
        let e = sqlite.check_replicas().unwrap_err();
        assert!(
            e.contains("PostgreSQL") && e.contains("sqlite:///tmp/x.db"),
            "{e}"
        );
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
        let c = load("storms: {per_rule: 20, per_source: 200}\nworkers: 4\nhttp: {max_connections: 100, header_read_timeout: 5s}\n").unwrap();
        assert_eq!(c.engine().storms.per_rule, 20);
        assert_eq!(c.engine().storms.per_source, 200);
        assert_eq!(c.engine().concurrency, 4);
        assert_eq!(c.http.limits().max_connections, 100);
        assert_eq!(c.http.limits().header_read_timeout, Duration::from_secs(5));
        let e = load("http: {idle_timeout: forever}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.idle_timeout"), "{e}");
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

    #[test]
    fn reads_the_tls_section_and_names_a_ca_file_that_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, nightshift_sim::api::tls::CA_PEM).unwrap();
        let c = load(&format!(
            "tls:\n  ca_file: {}\nprometheus:\n  url: https://prometheus:9090\nllm:\n  model: m\n",
            ca.display()
        ))
        .unwrap();
        assert_eq!(c.tls.ca_file.as_deref(), Some(ca.as_path()));
        assert_eq!(c.engine().prometheus.unwrap().tls, c.tls);
        assert_eq!(c.llm.unwrap().ca_file.as_deref(), Some(ca.as_path()));
        assert_eq!(AgentConfig::default().tls.ca_file, None);
        // The model's own CA file wins over the agent-wide one.
        let own = dir.path().join("model-ca.pem");
        std::fs::write(&own, nightshift_sim::api::tls::CA_PEM).unwrap();
        let c = load(&format!(
            "tls: {{ca_file: {}}}\nllm: {{model: m, ca_file: {}}}\n",
            ca.display(),
            own.display()
        ))
        .unwrap();
        assert_eq!(c.llm.unwrap().ca_file.as_deref(), Some(own.as_path()));
        let e = load("tls:\n  ca_file: /nonexistent/ca.pem\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nightshift.yaml")
                && e.contains("tls.ca_file")
                && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let e = load("llm: {model: m, ca_file: /nonexistent/model.pem}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("llm.ca_file") && e.contains("/nonexistent/model.pem"),
            "{e}"
        );
        let e = load("tls: {ca: /etc/ca.pem}\n").unwrap_err().to_string();
        assert!(e.contains("`ca`"), "{e}");
    }

    #[test]
    fn reads_the_redact_section_and_names_a_bad_pattern() {
        let c = load("redact:\n  patterns: [\"(?i)x-internal-key: \\\\S+\"]\n").unwrap();
        assert_eq!(
            c.redact.patterns,
            vec![r"(?i)x-internal-key: \S+".to_string()]
        );
        assert!(AgentConfig::default().redact.patterns.is_empty());
        let e = load("redact:\n  patterns: [\"ok\", \"key=(\\\\S+\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nightshift.yaml")
                && e.contains("redact.patterns[1]")
                && e.contains(r"key=(\\S+"),
            "{e}"
        );
        let e = load("redact:\n  pattern: [x]\n").unwrap_err().to_string();
        assert!(e.contains("pattern"), "{e}");
    }
}
