//! The Alertmanager webhook (payload version 4): parsing with errors that name the field, and
//! the mapping of alert labels to the resource they are about.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nightshift_core::{ResourceRef, Signal, SignalSource, SignalStatus};
use serde::Deserialize;

/// The largest body accepted, in bytes (a 5,000-alert group is about 5 MB).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Why a webhook body was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WebhookError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("invalid Alertmanager webhook: {0}")]
    Malformed(String),
    /// A payload version this receiver does not speak.
    #[error("unsupported Alertmanager webhook version {0:?}; expected \"4\"")]
    Version(String),
    /// One alert is unusable.
    #[error("invalid Alertmanager webhook: alerts[{index}]: {problem}")]
    Alert {
        /// Position in `alerts`.
        index: usize,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    version: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    group_key: Option<String>,
    alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: String,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

/// Parses a webhook body into signals, one per alert.
pub fn parse(body: &[u8]) -> Result<Vec<Signal>, WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::Malformed(format!(
            "body of {} bytes is larger than the {MAX_BODY_BYTES}-byte limit",
            body.len()
        )));
    }
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if payload.version != "4" {
        return Err(WebhookError::Version(payload.version));
    }
    let _ = (&payload.status, &payload.group_key);
    payload
        .alerts
        .into_iter()
        .enumerate()
        .map(|(index, a)| to_signal(index, a))
        .collect()
}

fn time(index: usize, field: &str, s: &str) -> Result<DateTime<Utc>, WebhookError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| WebhookError::Alert {
            index,
            problem: format!("{field} {s:?} is not an RFC 3339 time: {e}"),
        })
}

fn to_signal(index: usize, a: Alert) -> Result<Signal, WebhookError> {
    let status = match a.status.as_str() {
        "firing" => SignalStatus::Firing,
        "resolved" => SignalStatus::Resolved,
        other => {
            return Err(WebhookError::Alert {
                index,
                problem: format!("status {other:?} is neither \"firing\" nor \"resolved\""),
            });
        }
    };
    let name = a
        .labels
        .get("alertname")
        .cloned()
        .ok_or_else(|| WebhookError::Alert {
            index,
            problem: "labels.alertname is missing".into(),
        })?;
    let starts_at = time(index, "startsAt", &a.starts_at)?;
    // Alertmanager writes the zero time for alerts that have not ended.
    let ends_at = match a.ends_at.as_deref() {
        None | Some("") | Some("0001-01-01T00:00:00Z") => None,
        Some(s) => Some(time(index, "endsAt", s)?),
    };
    let fingerprint = a
        .fingerprint
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| label_fingerprint(&a.labels));
    let resource = resource_of(&a.labels);
    Ok(Signal {
        fingerprint,
        source: SignalSource::Alertmanager,
        status,
        name,
        labels: a.labels,
        annotations: a.annotations,
        starts_at,
        ends_at,
        resource,
    })
}

/// The Prometheus label-set fingerprint, for payloads that omit `fingerprint`: the same
/// function the simulated Alertmanager uses.
pub fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    nightshift_core::signal::label_fingerprint(labels)
}

/// The resource an alert's labels point at, most specific first: pod, then workload, then
/// service, then node.
pub fn resource_of(labels: &BTreeMap<String, String>) -> Option<ResourceRef> {
    let ns = labels
        .get("namespace")
        .or_else(|| labels.get("exported_namespace"));
    let get = |k: &str| labels.get(k).filter(|v| !v.is_empty());
    if let (Some(ns), Some(pod)) = (ns, get("pod")) {
        return Some(ResourceRef::Pod {
            namespace: ns.clone(),
            name: pod.clone(),
        });
    }
    for (label, kind) in [
        ("deployment", "Deployment"),
        ("statefulset", "StatefulSet"),
        ("daemonset", "DaemonSet"),
    ] {
        if let (Some(ns), Some(name)) = (ns, get(label)) {
            return Some(ResourceRef::Workload {
                kind: kind.into(),
                namespace: ns.clone(),
                name: name.clone(),
            });
        }
    }
    if let (Some(ns), Some(svc)) = (ns, get("service")) {
        return Some(ResourceRef::Service {
            namespace: ns.clone(),
            name: svc.clone(),
        });
    }
    if let Some(node) = get("node") {
        return Some(ResourceRef::node(node));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = r#"{"receiver":"nightshift","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","container":"checkout","namespace":"shop","pod":"checkout-7d4b9c-x2x9z","severity":"warning"},"annotations":{"summary":"Pod shop/checkout-7d4b9c-x2x9z is crash looping"},"startsAt":"2026-01-01T00:03:30Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"76b840bdb279fe2a"}],"groupLabels":{"alertname":"KubePodCrashLooping","namespace":"shop"},"commonLabels":{"alertname":"KubePodCrashLooping"},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","version":"4","groupKey":"{}:{alertname=\"KubePodCrashLooping\", namespace=\"shop\"}","truncatedAlerts":0}"#;

    #[test]
    fn parses_a_v4_payload() {
        let s = parse(CAPTURED.as_bytes()).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "KubePodCrashLooping");
        assert_eq!(s[0].fingerprint, "76b840bdb279fe2a");
        assert_eq!(s[0].status, SignalStatus::Firing);
        assert_eq!(s[0].ends_at, None);
        assert_eq!(
            s[0].resource,
            Some(ResourceRef::Pod {
                namespace: "shop".into(),
                name: "checkout-7d4b9c-x2x9z".into()
            })
        );
    }

    #[test]
    fn names_the_problem() {
        assert!(matches!(
            parse(b"{not json"),
            Err(WebhookError::Malformed(_))
        ));
        let v3 = CAPTURED.replace("\"version\":\"4\"", "\"version\":\"3\"");
        assert_eq!(parse(v3.as_bytes()), Err(WebhookError::Version("3".into())));
        let bad = CAPTURED.replace(
            "\"status\":\"firing\",\"labels\"",
            "\"status\":\"burning\",\"labels\"",
        );
        let e = parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("alerts[0]") && e.contains("burning"), "{e}");
        let no_name = CAPTURED.replace(
            "\"alertname\":\"KubePodCrashLooping\",\"container\"",
            "\"container\"",
        );
        assert!(
            parse(no_name.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("alertname")
        );
        let bad_time = CAPTURED.replace("2026-01-01T00:03:30Z", "yesterday");
        assert!(
            parse(bad_time.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("startsAt")
        );
    }

    #[test]
    fn fingerprint_matches_prometheus() {
        let labels: BTreeMap<String, String> = [
            ("alertname", "KubePodCrashLooping"),
            ("container", "checkout"),
            ("namespace", "shop"),
            ("pod", "checkout-7d4b9c6f5-x2x9z"),
            ("severity", "warning"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // Same value the monitor crate's emulation and an independent Python FNV-1a loop give.
        assert_eq!(label_fingerprint(&labels), "76b840bdb279fe2a");
    }

    #[test]
    fn resources_from_labels() {
        let l = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            resource_of(&l(&[("node", "node-a")])),
            Some(ResourceRef::node("node-a"))
        );
        assert_eq!(
            resource_of(&l(&[("namespace", "shop"), ("deployment", "checkout")])),
            Some(ResourceRef::deployment("shop", "checkout"))
        );
        assert_eq!(
            resource_of(&l(&[("namespace", "shop"), ("service", "postgres")])),
            Some(ResourceRef::Service {
                namespace: "shop".into(),
                name: "postgres".into()
            })
        );
        assert_eq!(resource_of(&l(&[("alertname", "Watchdog")])), None);
    }
}
