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

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
const LABEL_SEPARATOR: u8 = 0xff;

/// Prometheus' `model.Fingerprint` of a label set: FNV-1a (64 bit) over each label in name
/// order, as name, 0xff, value, 0xff. The empty set hashes to the FNV offset basis. Written
/// here rather than taken from a crate because it is eight lines and must match Prometheus
/// bit for bit.
pub fn label_set_fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[LABEL_SEPARATOR]);
        add(value.as_bytes());
        add(&[LABEL_SEPARATOR]);
    }
    hash
}

/// [`label_set_fingerprint`] as 16 lowercase hex digits, as Alertmanager writes `fingerprint`
/// in webhook payloads: the dedup key of an alert that arrives without one.
pub fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    format!("{:016x}", label_set_fingerprint(labels))
}
