//! Secrets in what the agent perceives are masked where signals are built, before they reach
//! the store: Alertmanager labels and annotations, and the summaries of the agent's own
//! detectors, which quote container and condition messages.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Node, Pod};
use nightshift_agent::perceive::alertmanager;
use nightshift_agent::perceive::watchers::{Grace, detect_node, detect_pod};
use nightshift_core::SignalStatus;

const SECRETS: &[&str] = &[
    "7d9f8a6b5c4e3d2f1a0b",
    "Pa55w0rd!",
    "hunter2",
    "AKIAIOSFODNN7EXAMPLE",
    "xoxb-123456789012-abcdefghij",
];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:10:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[track_caller]
fn none_left(what: &str) {
    for s in SECRETS {
        assert!(!what.contains(s), "{s} left in {what}");
    }
    assert!(what.contains("[REDACTED]"), "{what}");
}

#[test]
fn alertmanager_labels_and_annotations() {
    let body = serde_json::json!({
        "version": "4",
        "status": "firing",
        "alerts": [{
            "status": "firing",
            "labels": {
                "alertname": "ProbeFailed",
                "namespace": "payments",
                "deployment": "gateway",
                "target": "https://gw:Pa55w0rd!@gateway.payments:8443/health",
            },
            "annotations": {
                "summary": "probe to gateway failed with password=Pa55w0rd!",
                "description": "curl -H 'Authorization: Bearer 7d9f8a6b5c4e3d2f1a0b' https://gateway.payments/health",
                "runbook": "DB_PASS=hunter2 aws AKIAIOSFODNN7EXAMPLE slack xoxb-123456789012-abcdefghij",
            },
            "startsAt": "2026-01-01T00:05:00Z",
        }],
    });
    let signals = alertmanager::parse_at(body.to_string().as_bytes(), now()).unwrap();
    let s = &signals[0];
    none_left(&serde_json::to_string(&s.labels).unwrap());
    none_left(&serde_json::to_string(&s.annotations).unwrap());
    // What an SRE reads stays.
    assert_eq!(s.name, "ProbeFailed");
    assert_eq!(
        s.labels["target"],
        "https://gw:[REDACTED]@gateway.payments:8443/health"
    );
    assert!(s.annotations["description"].starts_with("curl -H 'Authorization: Bearer [REDACTED]'"));
    assert_eq!(
        s.resource,
        Some(nightshift_core::ResourceRef::deployment(
            "payments", "gateway"
        ))
    );
}

#[test]
fn detector_summaries() {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "gateway-1", "namespace": "payments",
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [{
                "name": "gateway", "image": "gw:1", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"waiting": {
                    "reason": "CreateContainerConfigError",
                    "message": "invalid env: DB_PASS=hunter2 and password=Pa55w0rd!",
                }},
            }],
        },
    }))
    .unwrap();
    let found = detect_pod(&pod, now(), &Grace::default());
    assert_eq!(found.len(), 1, "{found:?}");
    let s = found[0].signal(SignalStatus::Firing, now());
    none_left(&s.annotations["summary"]);
    assert!(s.annotations["summary"].contains("CreateContainerConfigError"));
    assert_eq!(s.labels["container"], "gateway");
    assert_eq!(s.labels["pod"], "gateway-1");

    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "node-a"},
        "status": {"conditions": [{
            "type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "message": "PLEG: registry auth failed, Authorization: Bearer 7d9f8a6b5c4e3d2f1a0b",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }]},
    }))
    .unwrap();
    let s = detect_node(&node, now())[0].signal(SignalStatus::Firing, now());
    none_left(&s.annotations["summary"]);
    assert!(s.annotations["summary"].starts_with("node node-a is not ready: KubeletNotReady"));
    // Redaction does not move the fingerprint: the same condition still deduplicates.
    assert_eq!(
        s.fingerprint,
        detect_node(&node, now())[0]
            .signal(SignalStatus::Firing, now())
            .fingerprint
    );
}
