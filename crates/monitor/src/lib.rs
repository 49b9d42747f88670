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
