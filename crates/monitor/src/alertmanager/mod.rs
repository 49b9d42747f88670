//! An Alertmanager 0.25 emulation for one root route and one webhook receiver, in simulated
//! time.
//!
//! It reproduces what decides when a webhook is sent and what it says: the alert store's
//! merging, aggregation groups with `group_wait` (or an immediate flush for alerts that
//! started longer than `group_wait` ago), flushes every `group_interval`, the notification
//! log's deduplication (new firing alerts, newly resolved alerts, `repeat_interval`), deletion
//! of resolved alerts once notified, and removal of empty groups by the 30-second maintenance.

mod config;
mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

pub use config::ConfigError;
pub use webhook::{AlertStatus, WebhookAlert, WebhookPayload};

use crate::duration::millis;
use crate::gofmt::{quote_meta, rfc3339};
use crate::labels::{Fingerprint, Labels, is_valid_label_name, label_set_string};

/// How often Alertmanager removes empty aggregation groups.
const MAINTENANCE_MS: i64 = 30_000;
/// How often Alertmanager garbage-collects resolved alerts from its store (`--alerts.gc-interval`).
const GC_MS: i64 = 30 * 60_000;

/// Route and receiver settings. The defaults are those of the shipped
/// `deploy/alertmanager/alertmanager.yml`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// The receiver name, reported in payloads.
    pub receiver: String,
    /// Labels alerts are grouped by; `["..."]` groups by all labels.
    pub group_by: Vec<String>,
    /// Wait before the first notification of a new group.
    pub group_wait: Duration,
    /// Wait between notifications about a group whose alerts changed.
    pub group_interval: Duration,
    /// Wait before repeating an unchanged notification.
    pub repeat_interval: Duration,
    /// Alertmanager's external URL, reported in payloads.
    pub external_url: String,
    /// Whether resolved alerts are notified (webhook default: true).
    pub send_resolved: bool,
    /// Maximum alerts per payload; 0 means all.
    pub max_alerts: usize,
    /// How long an alert without an end time stays firing (`global.resolve_timeout`).
    pub resolve_timeout: Duration,
    /// The webhook URL found in the configuration file, if it was read from one.
    pub webhook_url: Option<String>,
}

impl Default for RouteConfig {
    fn default() -> Self {
        RouteConfig {
            receiver: "nightshift".into(),
            group_by: vec!["alertname".into(), "namespace".into()],
            group_wait: Duration::from_secs(10),
            group_interval: Duration::from_secs(60),
            repeat_interval: Duration::from_secs(3600),
            external_url: "http://localhost:9093".into(),
            send_resolved: true,
            max_alerts: 0,
            resolve_timeout: Duration::from_secs(300),
            webhook_url: None,
        }
    }
}

/// An alert as Prometheus posts it to `/api/v2/alerts`. Serializes to that API's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostableAlert {
    /// Identifying labels, including `alertname`.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// When it started firing (ms since the epoch).
    #[serde(rename = "startsAt", serialize_with = "ser_time")]
    pub starts_at_ms: Option<i64>,
    /// When it ends or ended (ms since the epoch); Prometheus sends a time a few evaluation
    /// intervals ahead while the alert fires, and the resolve time once it stops.
    #[serde(rename = "endsAt", serialize_with = "ser_time")]
    pub ends_at_ms: Option<i64>,
    /// Link back to the expression.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

fn ser_time<S: serde::Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// A notification due to be posted to the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// When a real Alertmanager would send it (ms since the epoch).
    pub at_ms: i64,
    /// The body.
    pub payload: WebhookPayload,
}

/// An alert the API refused, as Alertmanager's `/api/v2/alerts` would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alertmanager rejected alert {labels}: {problem}")]
pub struct RejectedAlert {
    /// The alert's labels.
    pub labels: String,
    /// Why.
    pub problem: String,
}

#[derive(Debug, Clone)]
struct StoredAlert {
    labels: Labels,
    annotations: Labels,
    starts_at: i64,
    /// `None` only in flushed copies of firing alerts (Go's zero time).
    ends_at: Option<i64>,
    generator_url: String,
    timeout: bool,
}

impl StoredAlert {
    fn resolved_at(&self, t: i64) -> bool {
        self.ends_at.is_some_and(|end| end <= t)
    }
}

#[derive(Debug)]
struct Group {
    labels: Labels,
    alerts: BTreeMap<Fingerprint, StoredAlert>,
    next_flush: i64,
    has_flushed: bool,
}

#[derive(Debug)]
struct LogEntry {
    firing: BTreeSet<Fingerprint>,
    resolved: BTreeSet<Fingerprint>,
    timestamp: i64,
}

/// The emulated Alertmanager. Feed it alerts with [`Alertmanager::receive`] and collect the
/// notifications due with [`Alertmanager::flush_due`]; time only moves forward.
#[derive(Debug)]
pub struct Alertmanager {
    config: RouteConfig,
    store: BTreeMap<Fingerprint, StoredAlert>,
    groups: BTreeMap<Labels, Group>,
    log: BTreeMap<String, LogEntry>,
    now: Option<i64>,
    next_maintenance: i64,
    next_gc: i64,
    outbox: Vec<Notification>,
}

impl Alertmanager {
    /// An Alertmanager with no alerts.
    pub fn new(config: RouteConfig) -> Self {
        Alertmanager {
            config,
            store: BTreeMap::new(),
            groups: BTreeMap::new(),
            log: BTreeMap::new(),
            now: None,
            next_maintenance: 0,
            next_gc: 0,
            outbox: Vec::new(),
        }
    }

    /// The route settings in use.
    pub fn config(&self) -> &RouteConfig {
        &self.config
    }

    /// Accepts alerts posted at `t_ms`, after running every timer due before `t_ms`.
    /// Invalid alerts are refused and returned; the valid ones are still accepted, as the
    /// real API does. A `t_ms` earlier than a time already seen counts as that time.
    #[must_use = "rejected alerts should be reported"]
    pub fn receive(&mut self, t_ms: i64, alerts: &[PostableAlert]) -> Vec<RejectedAlert> {
        let t = self.advance_clock(t_ms);
        self.run_timers(t, false);
        let mut rejected = Vec::new();
        for posted in alerts {
            match self.validate(t, posted) {
                Ok(alert) => self.put(t, alert),
                Err(problem) => rejected.push(RejectedAlert {
                    labels: label_set_string(&posted.labels),
                    problem,
                }),
            }
        }
        rejected
    }

    /// Runs every timer due at or before `t_ms` and returns the notifications produced since
    /// the last call, oldest first.
    pub fn flush_due(&mut self, t_ms: i64) -> Vec<Notification> {
        let t = self.advance_clock(t_ms);
        self.run_timers(t, true);
        std::mem::take(&mut self.outbox)
    }

    fn advance_clock(&mut self, t_ms: i64) -> i64 {
        match self.now {
            None => {
                self.now = Some(t_ms);
                self.next_maintenance = t_ms.saturating_add(MAINTENANCE_MS);
                self.next_gc = t_ms.saturating_add(GC_MS);
                t_ms
            }
            Some(now) => {
                let t = t_ms.max(now);
                self.now = Some(t);
                t
            }
        }
    }

    fn validate(&self, t: i64, posted: &PostableAlert) -> Result<StoredAlert, String> {
        if posted.labels.is_empty() {
            return Err("at least one label pair required".into());
        }
        for name in posted.labels.keys().chain(posted.annotations.keys()) {
            if !is_valid_label_name(name) {
                return Err(format!("invalid label name {name:?}"));
            }
        }
        let starts_at = posted.starts_at_ms.or(posted.ends_at_ms).unwrap_or(t);
        let (ends_at, timeout) = match posted.ends_at_ms {
            Some(end) => (end, false),
            None => (t.saturating_add(millis(self.config.resolve_timeout)), true),
        };
        if ends_at < starts_at {
            return Err("start time must be before end time".into());
        }
        Ok(StoredAlert {
            labels: posted.labels.clone(),
            annotations: posted.annotations.clone(),
            starts_at,
            ends_at: Some(ends_at),
            generator_url: posted.generator_url.clone(),
            timeout,
        })
    }

    /// Stores an alert (merging it with an overlapping older one) and hands it to its group.
    fn put(&mut self, t: i64, mut alert: StoredAlert) {
        let fp = Fingerprint::of(&alert.labels);
        if let Some(old) = self.store.get(&fp) {
            let (new_start, new_end) = (alert.starts_at, alert.ends_at.unwrap_or(i64::MAX));
            let old_end = old.ends_at.unwrap_or(i64::MAX);
            let overlaps = (new_end > old.starts_at && new_end < old_end)
                || (new_start > old.starts_at && new_start < old_end);
            if overlaps {
                alert = merge(old, alert, t);
            }
        }
        self.store.insert(fp, alert.clone());

        let group_labels = self.group_labels(&alert.labels);
        let group_wait = millis(self.config.group_wait);
        let group = self
            .groups
            .entry(group_labels.clone())
            .or_insert_with(|| Group {
                labels: group_labels,
                alerts: BTreeMap::new(),
                next_flush: t.saturating_add(group_wait),
                has_flushed: false,
            });
        if !group.has_flushed && alert.starts_at.saturating_add(group_wait) < t {
            group.next_flush = t;
        }
        group.alerts.insert(fp, alert);
    }

    fn group_labels(&self, labels: &Labels) -> Labels {
        let all = self.config.group_by.iter().any(|l| l == "...");
        labels
            .iter()
            .filter(|(name, _)| all || self.config.group_by.contains(name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// Processes group flushes, maintenance and garbage collection in time order up to
    /// `limit` (inclusive or not).
    fn run_timers(&mut self, limit: i64, inclusive: bool) {
        let due = |t: i64| if inclusive { t <= limit } else { t < limit };
        loop {
            let next_flush = self
                .groups
                .iter()
                .min_by_key(|(_, g)| g.next_flush)
                .map(|(k, g)| (g.next_flush, k.clone()));
            let next_flush_t = next_flush.as_ref().map(|(t, _)| *t).unwrap_or(i64::MAX);
            let next = next_flush_t.min(self.next_maintenance).min(self.next_gc);
            if !due(next) {
                break;
            }
            if let Some((t, key)) = next_flush.filter(|(t, _)| *t == next) {
                self.flush(&key, t);
            } else if self.next_maintenance == next {
                self.groups.retain(|_, g| !g.alerts.is_empty());
                self.next_maintenance = next.saturating_add(MAINTENANCE_MS);
            } else {
                self.store.retain(|_, a| !a.resolved_at(next));
                self.next_gc = next.saturating_add(GC_MS);
            }
        }
    }

    fn flush(&mut self, key: &Labels, now: i64) {
        let group_interval = millis(self.config.group_interval);
        let Some(group) = self.groups.get_mut(key) else {
            return;
        };
        group.next_flush = now.saturating_add(group_interval);
        group.has_flushed = true;
        if group.alerts.is_empty() {
            return;
        }
        let mut alerts: Vec<(Fingerprint, StoredAlert)> = group
            .alerts
            .iter()
            .map(|(fp, a)| {
                let mut a = a.clone();
                if !a.resolved_at(now) {
                    a.ends_at = None;
                }
                (*fp, a)
            })
            .collect();
        alerts.sort_by(|(_, a), (_, b)| alert_order(&a.labels, &b.labels));

        let firing: BTreeSet<Fingerprint> = alerts
            .iter()
            .filter(|(_, a)| !a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        let resolved: BTreeSet<Fingerprint> = alerts
            .iter()
            .filter(|(_, a)| a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        let group_key = format!("{{}}:{}", label_set_string(&group.labels));
        let entry = self.log.get(&group_key);
        if needs_update(
            entry,
            &firing,
            &resolved,
            millis(self.config.repeat_interval),
            now,
            self.config.send_resolved,
        ) {
            let to_send: Vec<&StoredAlert> = if self.config.send_resolved {
                alerts.iter().map(|(_, a)| a).collect()
            } else if firing.is_empty() {
                Vec::new()
            } else {
                alerts
                    .iter()
                    .filter(|(_, a)| !a.resolved_at(now))
                    .map(|(_, a)| a)
                    .collect()
            };
            if !to_send.is_empty() {
                let payload = payload(&self.config, &group.labels, &group_key, &to_send, now);
                self.outbox.push(Notification {
                    at_ms: now,
                    payload,
                });
            }
            self.log.insert(
                group_key,
                LogEntry {
                    firing,
                    resolved,
                    timestamp: now,
                },
            );
        }
        // The notification went out (or was not needed): forget resolved alerts.
        group.alerts.retain(|_, a| !a.resolved_at(now));
    }
}

/// Alertmanager's `Alert.Merge`: `new` is the younger alert.
fn merge(old: &StoredAlert, new: StoredAlert, now: i64) -> StoredAlert {
    let mut res = new.clone();
    if old.starts_at < new.starts_at {
        res.starts_at = old.starts_at;
    }
    let old_end = old.ends_at.unwrap_or(i64::MAX);
    let new_end = new.ends_at.unwrap_or(i64::MAX);
    if new.resolved_at(now) {
        if old.resolved_at(now) && old_end > new_end {
            res.ends_at = old.ends_at;
        }
    } else if old_end > new_end && !old.timeout {
        res.ends_at = old.ends_at;
    }
    res
}

/// The notification log's decision (Alertmanager's `DedupStage.needsUpdate`).
fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<Fingerprint>,
    resolved: &BTreeSet<Fingerprint>,
    repeat_ms: i64,
    now: i64,
    send_resolved: bool,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    entry.timestamp < now.saturating_sub(repeat_ms)
}

/// Alertmanager's `AlertSlice` order: by `job`, then `instance`, then label set.
fn alert_order(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for key in ["job", "instance"] {
        match (a.get(key), b.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    label_set_before(a, b)
}

/// `model.LabelSet.Before`: fewer labels first, then the first differing label.
fn label_set_before(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        match (a.get(name), b.get(name)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

fn payload(
    config: &RouteConfig,
    group_labels: &Labels,
    group_key: &str,
    alerts: &[&StoredAlert],
    now: i64,
) -> WebhookPayload {
    let (alerts, truncated) = if config.max_alerts > 0 && alerts.len() > config.max_alerts {
        (
            &alerts[..config.max_alerts],
            (alerts.len() - config.max_alerts) as u64,
        )
    } else {
        (alerts, 0)
    };
    let status_of = |a: &StoredAlert| {
        if a.resolved_at(now) {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        }
    };
    let mut common_labels = alerts.first().map(|a| a.labels.clone()).unwrap_or_default();
    let mut common_annotations = alerts
        .first()
        .map(|a| a.annotations.clone())
        .unwrap_or_default();
    for a in alerts.iter().skip(1) {
        common_labels.retain(|k, v| a.labels.get(k) == Some(v));
        common_annotations.retain(|k, v| a.annotations.get(k) == Some(v));
    }
    WebhookPayload {
        receiver: quote_meta(&config.receiver),
        status: if alerts.iter().any(|a| status_of(a) == AlertStatus::Firing) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        },
        alerts: alerts
            .iter()
            .map(|a| WebhookAlert {
                status: status_of(a),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: rfc3339(Some(a.starts_at)),
                ends_at: rfc3339(a.ends_at),
                generator_url: a.generator_url.clone(),
                fingerprint: Fingerprint::of(&a.labels).to_string(),
            })
            .collect(),
        group_labels: group_labels.clone(),
        common_labels,
        common_annotations,
        external_url: config.external_url.clone(),
        version: "4".into(),
        group_key: group_key.to_string(),
        truncated_alerts: truncated,
    }
}
