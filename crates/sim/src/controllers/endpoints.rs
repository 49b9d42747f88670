//! The Endpoints controller: each Service with a selector gets an Endpoints object listing its
//! ready pods as addresses and the others as notReadyAddresses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use serde_json::{Value, json};

use crate::resources;
use crate::store::{Part, Store};

/// Brings every Endpoints object in line with its Service's pods.
pub fn sync(store: &Store) {
    let pods = store.list_typed::<Pod>(None);
    let mut by_ns: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in &pods {
        if p.metadata.deletion_timestamp.is_none()
            && p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some()
            && super::active(p)
        {
            by_ns
                .entry(p.metadata.namespace.clone().unwrap_or_default())
                .or_default()
                .push(p);
        }
    }
    for svc in store.list_typed::<Service>(None) {
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let Some(selector) = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let mut ready = Vec::new();
        let mut not_ready = Vec::new();
        for p in by_ns.get(&ns).into_iter().flatten() {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                continue;
            }
            let addr = json!({
                "ip": p.status.as_ref().and_then(|s| s.pod_ip.clone()),
                "nodeName": p.spec.as_ref().and_then(|s| s.node_name.clone()),
                "targetRef": {"kind": "Pod", "namespace": ns, "name": p.metadata.name, "uid": p.metadata.uid},
            });
            if super::pod_ready(p) {
                ready.push(addr)
            } else {
                not_ready.push(addr)
            }
        }
        let ports: Vec<Value> = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.clone())
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let port = match &p.target_port {
                    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i)) => *i,
                    _ => p.port,
                };
                let mut v = json!({"port": port, "protocol": p.protocol.clone().unwrap_or_else(|| "TCP".into())});
                if let Some(n) = &p.name {
                    v["name"] = json!(n);
                }
                v
            })
            .collect();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if ready.is_empty() && not_ready.is_empty() {
            json!([])
        } else {
            json!([subset])
        };
        let rt = resources::of::<Endpoints>();
        match store.get(rt, &ns, &name) {
            None => {
                let ep = json!({"metadata": {"name": name, "namespace": ns, "labels": svc.metadata.labels}, "subsets": subsets});
                let _ = store.create(rt, &ns, ep, false);
            }
            Some(e) => {
                let current = e.value().get("subsets").cloned().unwrap_or(json!([]));
                if current != subsets {
                    let mut v = e.value().clone();
                    v["subsets"] = subsets;
                    let _ = store.update(rt, &ns, &name, v, Part::Main, false);
                }
            }
        }
    }
}
