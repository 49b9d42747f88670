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
