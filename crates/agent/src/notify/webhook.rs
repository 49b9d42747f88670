//! The generic webhook: one JSON document per step, posted to a URL. Receivers drop repeats
//! with `dedup_key` (delivery is at least once).

use nightshift_core::notice::NotifyEvent;
use serde::Serialize;

use super::{Delivered, DeliveryError, Subject};

/// One notification, as posted.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// What happened.
    pub kind: NotifyEvent,
    /// The same for every delivery of this step: `INCIDENT/SEQ`.
    pub dedup_key: String,
    /// Incident id.
    pub incident: String,
    /// Its title.
    pub title: String,
    /// Its resource.
    pub resource: String,
    /// Its state now.
    pub state: String,
    /// A sentence for a human.
    pub text: String,
    /// When the step happened.
    pub at: chrono::DateTime<chrono::Utc>,
    /// A link to the incident, when the console's URL is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Details: the step's own data, and the plan and decision when there is one.
    pub details: serde_json::Value,
}

impl Notification {
    /// The document for `s`.
    pub fn of(s: &Subject) -> Self {
        let mut details = serde_json::json!({ "entry": s.entry.data });
        if let Some(h) = &s.history {
            details["history"] = h.clone().into();
        }
        if let Some(d) = &s.decision {
            details["plan"] = serde_json::to_value(&d.plan).unwrap_or_default();
            details["decision"] = serde_json::to_value(&d.decision).unwrap_or_default();
        }
        Notification {
            kind: s.event,
            dedup_key: s.dedup_key(),
            incident: s.incident.id.0.clone(),
            title: s.incident.title.clone(),
            resource: s.incident.resource.to_string(),
            state: serde_json::to_value(s.incident.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            text: s.text(),
            at: s.entry.at,
            link: s.link.clone(),
            details,
        }
    }
}

/// Posts notifications to a URL.
#[derive(Debug)]
pub struct Webhook {
    name: String,
    url: String,
    client: reqwest::Client,
}

impl Webhook {
    /// A webhook named `name` posting to `url` through `client`.
    pub fn new(name: impl Into<String>, url: impl Into<String>, client: reqwest::Client) -> Self {
        Webhook {
            name: name.into(),
            url: url.into(),
            client,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) async fn deliver(
        &self,
        s: &Subject,
        _kept: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        super::post_json(
            &self.client,
            &self.url,
            &Notification::of(s),
            &[("Idempotency-Key", s.dedup_key())],
            false,
            str::to_string,
        )
        .await
    }
}
