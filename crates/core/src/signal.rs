//! Signals: alerts from Alertmanager and detections from the agent's own watchers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::resource::ResourceRef;

/// Where a signal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    /// An Alertmanager webhook.
    Alertmanager,
    /// One of the agent's Kubernetes watchers.
    Watcher,
}

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalStatus {
    /// The condition holds.
    Firing,
    /// The condition ended.
    Resolved,
}

/// One alert or detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Dedup key: Alertmanager's fingerprint, or the watcher's own (`reason` + resource).
    pub fingerprint: String,
    /// Origin.
    pub source: SignalSource,
    /// Firing or resolved.
    pub status: SignalStatus,
    /// Alert name or detection reason (`KubePodCrashLooping`, `CrashLoopBackOff`, ...).
    pub name: String,
    /// Labels (alert labels, or the watcher's description of the resource).
    pub labels: BTreeMap<String, String>,
    /// Annotations (summary, description).
    pub annotations: BTreeMap<String, String>,
    /// When the condition started.
    pub starts_at: DateTime<Utc>,
    /// When it ended, for resolved signals.
    pub ends_at: Option<DateTime<Utc>>,
    /// The resource it is about, as far as the signal itself tells.
    pub resource: Option<ResourceRef>,
}
