//! The Pod table: the READY, STATUS and RESTARTS columns as kubectl computes them.

use serde_json::{Value, json};

use super::format::{age_at, human_duration, int_at, parse_ms, str_at};
use super::{Column, S};

/// The columns of `kubectl get pods`.
pub(super) const COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Ready", S, 0),
    ("Status", S, 0),
    ("Restarts", S, 0),
    ("Age", S, 0),
    ("IP", S, 1),
    ("Node", S, 1),
    ("Nominated Node", S, 1),
    ("Readiness Gates", S, 1),
];

pub(super) fn cells(o: &Value, now: i64) -> Vec<Value> {
    let (ready, status, restarts) = pod_status(o, now);
    let total = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let gates: Vec<&str> = o
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .map(|gs| {
            gs.iter()
                .filter_map(|g| g.get("conditionType").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = o.pointer("/status/conditions").and_then(Value::as_array);
        let passed = gates
            .iter()
            .filter(|g| {
                conditions.is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some(**g)
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
            })
            .count();
        format!("{passed}/{}", gates.len())
    };
    vec![
        json!(str_at(o, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        json!(age_at(o, "/metadata/creationTimestamp", now)),
        json!(none(str_at(o, "/status/podIP"))),
        json!(none(str_at(o, "/spec/nodeName"))),
        json!(none(str_at(o, "/status/nominatedNodeName"))),
        json!(gates),
    ]
}

/// Ready containers, the STATUS column and the RESTARTS column of a pod, as kubectl shows them.
fn pod_status(o: &Value, now: i64) -> (usize, String, String) {
    let mut reason = str_at(o, "/status/phase").to_string();
    if !str_at(o, "/status/reason").is_empty() {
        reason = str_at(o, "/status/reason").to_string();
    }
    let empty = Vec::new();
    let init_specs = o
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let init_statuses = o
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut restarts = 0i64;
    let mut last_restart: Option<i64> = None;
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += int_at(c, "/restartCount");
        let terminated = c.pointer("/state/terminated");
        let waiting_reason = str_at(c, "/state/waiting/reason");
        if terminated.is_some_and(|t| int_at(t, "/exitCode") == 0) {
            continue;
        }
        if let Some(t) = terminated {
            reason = if str_at(t, "/reason").is_empty() {
                if int_at(t, "/signal") != 0 {
                    format!("Init:Signal:{}", int_at(t, "/signal"))
                } else {
                    format!("Init:ExitCode:{}", int_at(t, "/exitCode"))
                }
            } else {
                format!("Init:{}", str_at(t, "/reason"))
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    let initialized = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| str_at(c, "/type") == "Initialized" && str_at(c, "/status") == "True")
        });
    let mut ready = 0;
    if !initializing || initialized {
        restarts = 0;
        let mut has_running = false;
        let statuses = o
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        for c in statuses.iter().rev() {
            restarts += int_at(c, "/restartCount");
            if let Some(at) = c
                .pointer("/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
                .and_then(parse_ms)
            {
                last_restart = Some(last_restart.map_or(at, |l| l.max(at)));
            }
            let waiting = str_at(c, "/state/waiting/reason");
            let terminated = c.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = if !str_at(t, "/reason").is_empty() {
                    str_at(t, "/reason").to_string()
                } else if int_at(t, "/signal") != 0 {
                    format!("Signal:{}", int_at(t, "/signal"))
                } else {
                    format!("ExitCode:{}", int_at(t, "/exitCode"))
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && c.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True")
                });
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    let phase = str_at(o, "/status/phase");
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        if str_at(o, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    let restarts_text = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - at)),
        _ => restarts.to_string(),
    };
    (ready, reason, restarts_text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pod_status_column() {
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:04:00Z"}}}
            ]}
        });
        let now = parse_ms("2026-01-01T00:05:00Z").unwrap();
        let (ready, status, restarts) = pod_status(&pod, now);
        assert_eq!(
            (ready, status.as_str(), restarts.as_str()),
            (1, "CrashLoopBackOff", "3 (60s ago)")
        );
    }
}
