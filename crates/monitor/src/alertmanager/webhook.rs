//! The webhook body Alertmanager 0.25 posts (`version: "4"`), field for field.

use serde::{Deserialize, Serialize};

use crate::gofmt::GoJsonFormatter;
use crate::labels::Labels;

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// At least one alert is still active.
    Firing,
    /// Every alert has ended.
    Resolved,
}

/// One alert inside a webhook payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookAlert {
    /// Whether this alert has ended.
    pub status: AlertStatus,
    /// The alert's labels.
    pub labels: Labels,
    /// The alert's annotations.
    pub annotations: Labels,
    /// When it started firing, RFC 3339.
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// When it ended, RFC 3339; Go's zero time `0001-01-01T00:00:00Z` while firing.
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// Link back to the expression in Prometheus.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// The label set's fingerprint, 16 hex digits.
    pub fingerprint: String,
}

/// The JSON body of an Alertmanager webhook notification, fields in Alertmanager's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// The receiver name (regexp-quoted, as Alertmanager does).
    pub receiver: String,
    /// `firing` if any alert fires, else `resolved`.
    pub status: AlertStatus,
    /// The alerts of the group in this notification.
    pub alerts: Vec<WebhookAlert>,
    /// The labels the group was formed by.
    #[serde(rename = "groupLabels")]
    pub group_labels: Labels,
    /// Labels every alert shares.
    #[serde(rename = "commonLabels")]
    pub common_labels: Labels,
    /// Annotations every alert shares.
    #[serde(rename = "commonAnnotations")]
    pub common_annotations: Labels,
    /// Alertmanager's external URL.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// Always `"4"`.
    pub version: String,
    /// Identifies the group: `{}:{alertname="X", namespace="y"}`.
    #[serde(rename = "groupKey")]
    pub group_key: String,
    /// Alerts left out because of `max_alerts`.
    #[serde(rename = "truncatedAlerts")]
    pub truncated_alerts: u64,
}

impl WebhookPayload {
    /// The exact bytes Alertmanager's Go `json.Encoder` writes: HTML-safe escaping and a
    /// trailing newline.
    pub fn to_go_json(&self) -> String {
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoJsonFormatter);
        // Serializing plain strings and maps into memory cannot fail.
        if self.serialize(&mut ser).is_err() {
            return String::new();
        }
        buf.push(b'\n');
        String::from_utf8(buf).unwrap_or_default()
    }
}
