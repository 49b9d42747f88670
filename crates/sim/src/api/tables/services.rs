//! The Service and Endpoints tables: cluster and external addresses, ports, endpoint lists.

use serde_json::{Value, json};

use super::format::{int_at, labels_text, str_at};
use super::{Column, S};

/// The columns of `kubectl get services`.
pub(super) const SERVICE_COLUMNS: &[Column] = &[
    ("Name", S, 0),
    ("Type", S, 0),
    ("Cluster-IP", S, 0),
    ("External-IP", S, 0),
    ("Port(s)", S, 0),
    ("Age", S, 0),
    ("Selector", S, 1),
];

/// The columns of `kubectl get endpoints`.
pub(super) const ENDPOINTS_COLUMNS: &[Column] =
    &[("Name", S, 0), ("Endpoints", S, 0), ("Age", S, 0)];

pub(super) fn service(o: &Value, name: Value, age: Value) -> Vec<Value> {
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

pub(super) fn endpoints(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![name, json!(endpoints_text(o)), age]
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
