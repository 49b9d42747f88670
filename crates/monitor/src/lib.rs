//! Prometheus rule evaluation and Alertmanager notifications in simulated time.
//!
//! The simulated cluster plays the part of Prometheus and Alertmanager:
//!
//! 1. each scrape goes into a [`Tsdb`] with [`Tsdb::ingest`];
//! 2. a [`RuleEvaluator`] runs the project's Prometheus rule file
//!    (`deploy/prometheus/nightshift-rules.yaml`) with [`RuleEvaluator::evaluate`], keeping each
//!    alert's pending/firing/resolved state and deciding what Prometheus would send;
//! 3. an [`Alertmanager`] groups those alerts and returns the webhook payloads a real
//!    Alertmanager 0.25 would post, from [`Alertmanager::receive`] and
//!    [`Alertmanager::flush_due`].
//!
//! Nothing here does I/O or reads a clock: every time is milliseconds since the Unix epoch,
//! passed in by the caller.
//!
//! ```
//! use nightshift_monitor::{
//!     Alertmanager, RouteConfig, RuleEvaluator, RuleFile, RuleOptions, Sample, Tsdb,
//! };
//!
//! let mut tsdb = Tsdb::default();
//! let mut rules = RuleEvaluator::new(RuleFile::shipped()?, RuleOptions::default());
//! let mut alertmanager = Alertmanager::new(RouteConfig::shipped()?);
//! let start = 1_700_000_000_000; // the simulation's clock mapped onto the epoch
//! let mut posted = Vec::new();
//! for step in 0..40 {
//!     let t = start + step * 15_000; // one scrape every 15s
//!     let ready = [("node", "node-1"), ("condition", "Ready"), ("status", "true")];
//!     tsdb.ingest(t, [Sample::new("kube_node_status_condition", ready, 0.0)])?;
//!     let evaluation = rules.evaluate(&tsdb, t);
//!     for rejected in alertmanager.receive(t, &evaluation.to_send) {
//!         eprintln!("{rejected}");
//!     }
//!     for notification in alertmanager.flush_due(t) {
//!         // The simulator POSTs notification.payload.to_go_json() to the webhook URL.
//!         posted.push(notification);
//!     }
//! }
//! // NotReady from the start: firing after `for: 2m`, posted after the 10s group_wait.
//! assert_eq!(posted.len(), 1);
//! assert_eq!(posted[0].at_ms, start + 130_000);
//! assert_eq!(posted[0].payload.group_key, r#"{}:{alertname="KubeNodeNotReady"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod alertmanager;
pub mod duration;
pub mod labels;
pub mod promql;
pub mod rules;
pub mod tsdb;

mod gofmt;

/// The project's Prometheus rule file, `deploy/prometheus/nightshift-rules.yaml`, built in so
/// the simulator evaluates exactly what real deployments load.
pub const SHIPPED_RULES: &str = include_str!("../../../deploy/prometheus/nightshift-rules.yaml");

/// Where [`SHIPPED_RULES`] lives in the repository.
pub const SHIPPED_RULES_PATH: &str = "deploy/prometheus/nightshift-rules.yaml";

/// The project's Alertmanager configuration, `deploy/alertmanager/alertmanager.yml`.
pub const SHIPPED_ALERTMANAGER_CONFIG: &str =
    include_str!("../../../deploy/alertmanager/alertmanager.yml");

/// Where [`SHIPPED_ALERTMANAGER_CONFIG`] lives in the repository.
pub const SHIPPED_ALERTMANAGER_CONFIG_PATH: &str = "deploy/alertmanager/alertmanager.yml";

pub use alertmanager::{
    Alertmanager, ConfigError, Notification, PostableAlert, RejectedAlert, RouteConfig,
    WebhookAlert, WebhookPayload,
};
pub use labels::{Fingerprint, Labels};
pub use promql::{Engine, EvalError, Value};
pub use rules::{
    Alert, AlertState, Evaluation, RuleError, RuleEvalError, RuleEvaluator, RuleFile, RuleOptions,
};
pub use tsdb::{Sample, Tsdb, TsdbError};
