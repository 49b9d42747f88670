//! Server-side printing: the `meta.k8s.io/v1` Tables kubectl asks for (`Accept: ...;as=Table`)
//! to show `kubectl get` columns, with the same columns and cell formats as the real API
//! server's printers. Ages are measured on the simulated clock.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::selectors::LabelSelector;
use crate::resources::ResourceType;

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl RowObject {
    /// From the `includeObject` query parameter.
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("None") => RowObject::None,
            Some("Object") => RowObject::Object,
            _ => RowObject::Metadata,
        }
    }
}

/// An object reduced to its metadata, as `PartialObjectMetadata`.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `items`.
pub fn table(
    rt: &ResourceType,
    items: &[&Value],
    now_ms: i64,
    rv: &str,
    continue_token: Option<&str>,
    row_object: RowObject,
) -> Value {
    let columns: Vec<Value> = columns(rt)
        .iter()
        .map(|(name, ty, priority)| {
            let mut c = json!({"name": name, "type": ty, "format": "", "description": "", "priority": priority});
            if *name == "Name" {
                c["format"] = json!("name");
            }
            c
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|e| {
            let mut row = json!({"cells": cells(rt, e, now_ms)});
            match row_object {
                RowObject::None => {}
                RowObject::Metadata => row["object"] = partial_metadata(e),
                RowObject::Object => row["object"] = (*e).clone(),
            }
            row
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

type Column = (&'static str, &'static str, u8);

fn columns(rt: &ResourceType) -> &'static [Column] {
    const S: &str = "string";
    const I: &str = "integer";
    match (rt.group, rt.kind) {
        ("", "Pod") => &[
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Status", S, 0),
            ("Restarts", S, 0),
            ("Age", S, 0),
            ("IP", S, 1),
            ("Node", S, 1),
            ("Nominated Node", S, 1),
            ("Readiness Gates", S, 1),
        ],
        ("apps", "Deployment") => &[
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Up-to-date", I, 0),
            ("Available", I, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        ("apps", "ReplicaSet") => &[
            ("Name", S, 0),
            ("Desired", I, 0),
            ("Current", I, 0),
            ("Ready", I, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        ("apps", "StatefulSet") => &[
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
        ],
        ("apps", "DaemonSet") => &[
            ("Name", S, 0),
            ("Desired", I, 0),
            ("Current", I, 0),
            ("Ready", I, 0),
            ("Up-to-date", I, 0),
            ("Available", I, 0),
            ("Node Selector", S, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        ("apps", "ControllerRevision") => &[
            ("Name", S, 0),
            ("Controller", S, 0),
            ("Revision", I, 0),
            ("Age", S, 0),
        ],
        ("", "Node") => &[
            ("Name", S, 0),
            ("Status", S, 0),
            ("Roles", S, 0),
            ("Age", S, 0),
            ("Version", S, 0),
            ("Internal-IP", S, 1),
            ("External-IP", S, 1),
            ("OS-Image", S, 1),
            ("Kernel-Version", S, 1),
            ("Container-Runtime", S, 1),
        ],
        ("", "Service") => &[
            ("Name", S, 0),
            ("Type", S, 0),
            ("Cluster-IP", S, 0),
            ("External-IP", S, 0),
            ("Port(s)", S, 0),
            ("Age", S, 0),
            ("Selector", S, 1),
        ],
        ("", "Namespace") => &[("Name", S, 0), ("Status", S, 0), ("Age", S, 0)],
        (_, "Event") => &[
            ("Last Seen", S, 0),
            ("Type", S, 0),
            ("Reason", S, 0),
            ("Object", S, 0),
            ("Subobject", S, 1),
            ("Source", S, 1),
            ("Message", S, 0),
            ("First Seen", S, 1),
            ("Count", I, 1),
            ("Name", S, 1),
        ],
        ("", "Endpoints") => &[("Name", S, 0), ("Endpoints", S, 0), ("Age", S, 0)],
        ("", "ConfigMap") => &[("Name", S, 0), ("Data", I, 0), ("Age", S, 0)],
        ("", "Secret") => &[
            ("Name", S, 0),
            ("Type", S, 0),
            ("Data", I, 0),
            ("Age", S, 0),
        ],
        ("", "ServiceAccount") => &[("Name", S, 0), ("Secrets", I, 0), ("Age", S, 0)],
        ("policy", "PodDisruptionBudget") => &[
            ("Name", S, 0),
            ("Min Available", S, 0),
            ("Max Unavailable", S, 0),
            ("Allowed Disruptions", I, 0),
            ("Age", S, 0),
        ],
        ("coordination.k8s.io", "Lease") => &[("Name", S, 0), ("Holder", S, 0), ("Age", S, 0)],
        _ => &[("Name", S, 0), ("Age", S, 0)],
    }
}

fn cells(rt: &ResourceType, o: &Value, now: i64) -> Vec<Value> {
    let name = json!(str_at(o, "/metadata/name"));
    let age = json!(age_at(o, "/metadata/creationTimestamp", now));
    match (rt.group, rt.kind) {
        ("", "Pod") => pod_cells(o, now),
        ("apps", "Deployment") => vec![
            name,
            json!(format!(
                "{}/{}",
                int_at(o, "/status/readyReplicas"),
                int_at(o, "/spec/replicas")
            )),
            json!(int_at(o, "/status/updatedReplicas")),
            json!(int_at(o, "/status/availableReplicas")),
            age,
            json!(containers(o, "name")),
            json!(containers(o, "image")),
            json!(selector_text(o.pointer("/spec/selector"))),
        ],
        ("apps", "ReplicaSet") => vec![
            name,
            json!(int_at(o, "/spec/replicas")),
            json!(int_at(o, "/status/replicas")),
            json!(int_at(o, "/status/readyReplicas")),
            age,
            json!(containers(o, "name")),
            json!(containers(o, "image")),
            json!(selector_text(o.pointer("/spec/selector"))),
        ],
        ("apps", "StatefulSet") => vec![
            name,
            json!(format!(
                "{}/{}",
                int_at(o, "/status/readyReplicas"),
                int_at(o, "/spec/replicas")
            )),
            age,
            json!(containers(o, "name")),
            json!(containers(o, "image")),
        ],
        ("apps", "DaemonSet") => vec![
            name,
            json!(int_at(o, "/status/desiredNumberScheduled")),
            json!(int_at(o, "/status/currentNumberScheduled")),
            json!(int_at(o, "/status/numberReady")),
            json!(int_at(o, "/status/updatedNumberScheduled")),
            json!(int_at(o, "/status/numberAvailable")),
            json!(labels_text(o.pointer("/spec/template/spec/nodeSelector"))),
            age,
            json!(containers(o, "name")),
            json!(containers(o, "image")),
            json!(selector_text(o.pointer("/spec/selector"))),
        ],
        ("apps", "ControllerRevision") => {
            let controller = owner_refs(o)
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                .map(|r| {
                    let group = str_at(r, "/apiVersion")
                        .split_once('/')
                        .map(|(g, _)| g)
                        .unwrap_or("");
                    let kind = str_at(r, "/kind").to_lowercase();
                    let kind = if group.is_empty() {
                        kind
                    } else {
                        format!("{kind}.{group}")
                    };
                    format!("{kind}/{}", str_at(r, "/name"))
                })
                .unwrap_or_else(|| "<none>".into());
            vec![name, json!(controller), json!(int_at(o, "/revision")), age]
        }
        ("", "Node") => node_cells(o, name, age),
        ("", "Service") => service_cells(o, name, age),
        ("", "Namespace") => vec![name, json!(str_at(o, "/status/phase")), age],
        (_, "Event") => event_cells(o, now),
        ("", "Endpoints") => vec![name, json!(endpoints_text(o)), age],
        ("", "ConfigMap") => vec![
            name,
            json!(len_at(o, "/data") + len_at(o, "/binaryData")),
            age,
        ],
        ("", "Secret") => vec![
            name,
            json!(str_at(o, "/type")),
            json!(len_at(o, "/data")),
            age,
        ],
        ("", "ServiceAccount") => vec![name, json!(len_at(o, "/secrets")), age],
        ("policy", "PodDisruptionBudget") => {
            let text = |p: &str| match o.pointer(p) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => "N/A".to_string(),
            };
            vec![
                name,
                json!(text("/spec/minAvailable")),
                json!(text("/spec/maxUnavailable")),
                json!(int_at(o, "/status/disruptionsAllowed")),
                age,
            ]
        }
        ("coordination.k8s.io", "Lease") => {
            vec![name, json!(str_at(o, "/spec/holderIdentity")), age]
        }
        _ => vec![name, age],
    }
}

fn pod_cells(o: &Value, now: i64) -> Vec<Value> {
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

fn node_cells(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let ready = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| str_at(c, "/type") == "Ready"));
    let mut status = match ready {
        Some(c) if str_at(c, "/status") == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (k, v) in labels(o).into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role"
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            roles.insert(v.to_string());
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let address = |ty: &str| {
        o.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|a| str_at(a, "/type") == ty))
            .map(|a| str_at(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let info = |f: &str| {
        let v = str_at(o, &format!("/status/nodeInfo/{f}"));
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        name,
        json!(status),
        json!(roles),
        age,
        json!(str_at(o, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn service_cells(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let ty = str_at(o, "/spec/type");
    let cluster_ip = match str_at(o, "/spec/clusterIP") {
        "" => "<none>",
        ip => ip,
    };
    let external = match ty {
        "LoadBalancer" => {
            let ips: Vec<&str> = o
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|i| {
                    i.iter()
                        .map(|i| {
                            if str_at(i, "/ip").is_empty() {
                                str_at(i, "/hostname")
                            } else {
                                str_at(i, "/ip")
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => str_at(o, "/spec/externalName").to_string(),
        _ => o
            .pointer("/spec/externalIPs")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_else(|| "<none>".into()),
    };
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let proto = if str_at(p, "/protocol").is_empty() {
                        "TCP"
                    } else {
                        str_at(p, "/protocol")
                    };
                    match int_at(p, "/nodePort") {
                        0 => format!("{}/{proto}", int_at(p, "/port")),
                        np => format!("{}:{np}/{proto}", int_at(p, "/port")),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name,
        json!(ty),
        json!(cluster_ip),
        json!(external),
        json!(ports),
        age,
        json!(labels_text(o.pointer("/spec/selector"))),
    ]
}

fn event_cells(o: &Value, now: i64) -> Vec<Value> {
    let first = ["/firstTimestamp", "/deprecatedFirstTimestamp", "/eventTime"]
        .iter()
        .find_map(|p| o.pointer(p).and_then(Value::as_str).and_then(parse_ms));
    let last = [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/deprecatedLastTimestamp",
    ]
    .iter()
    .find_map(|p| o.pointer(p).and_then(Value::as_str).and_then(parse_ms))
    .or(first);
    let since =
        |t: Option<i64>| t.map_or_else(|| "<unknown>".to_string(), |t| human_duration(now - t));
    let regarding = o
        .get("involvedObject")
        .or_else(|| o.get("regarding"))
        .unwrap_or(&Value::Null);
    let kind = str_at(regarding, "/kind").to_lowercase();
    let target = match str_at(regarding, "/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let count = o
        .pointer("/series/count")
        .or_else(|| o.get("count"))
        .or_else(|| o.get("deprecatedCount"))
        .and_then(Value::as_i64)
        .filter(|c| *c > 0)
        .unwrap_or(1);
    let component = [
        "/source/component",
        "/deprecatedSource/component",
        "/reportingController",
        "/reportingComponent",
    ]
    .iter()
    .map(|p| str_at(o, p))
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let host = [
        "/source/host",
        "/deprecatedSource/host",
        "/reportingInstance",
    ]
    .iter()
    .map(|p| str_at(o, p))
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    let message = o
        .get("message")
        .or_else(|| o.get("note"))
        .and_then(Value::as_str)
        .unwrap_or("");
    vec![
        json!(since(last)),
        json!(str_at(o, "/type")),
        json!(str_at(o, "/reason")),
        json!(target),
        json!(str_at(regarding, "/fieldPath")),
        json!(source),
        json!(message.trim()),
        json!(since(first)),
        json!(count),
        json!(str_at(o, "/metadata/name")),
    ]
}

fn endpoints_text(o: &Value) -> String {
    let mut all = Vec::new();
    for subset in o
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(|p| int_at(p, "/port")).collect())
            .unwrap_or_default();
        for addr in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = str_at(addr, "/ip");
            if ports.is_empty() {
                all.push(ip.to_string());
            }
            for port in &ports {
                all.push(format!("{ip}:{port}"));
            }
        }
    }
    match all.len() {
        0 => "<none>".to_string(),
        n if n > 3 => format!("{} + {} more...", all[..3].join(","), n - 3),
        _ => all.join(","),
    }
}

fn owner_refs(o: &Value) -> impl Iterator<Item = &Value> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn labels(o: &Value) -> Option<&Map<String, Value>> {
    o.pointer("/metadata/labels").and_then(Value::as_object)
}

fn containers(o: &Value, field: &str) -> String {
    o.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| str_at(c, &format!("/{field}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn selector_text(selector: Option<&Value>) -> String {
    match LabelSelector::from_object(selector) {
        Ok(s) if !s.is_empty() => s.to_string(),
        _ => "<none>".to_string(),
    }
}

fn labels_text(map: Option<&Value>) -> String {
    let pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    let mut pairs = pairs;
    pairs.sort();
    pairs.join(",")
}

fn str_at<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn int_at(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn len_at(o: &Value, pointer: &str) -> usize {
    match o.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn parse_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn age_at(o: &Value, pointer: &str, now: i64) -> String {
    o.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(parse_ms)
        .map_or_else(|| "<unknown>".to_string(), |t| human_duration(now - t))
}

/// A duration as kubectl's AGE column writes it (`45s`, `3m12s`, `5h`, `2d3h`, `1y`).
pub fn human_duration(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        for (secs, want) in [
            (5, "5s"),
            (119, "119s"),
            (190, "3m10s"),
            (600, "10m"),
            (3 * 3600 + 120, "3h2m"),
            (30 * 3600, "30h"),
            (50 * 3600, "2d2h"),
            (400 * 86400, "400d"),
        ] {
            assert_eq!(human_duration(secs * 1000), want);
        }
    }

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
