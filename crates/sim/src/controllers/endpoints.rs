//! The Endpoints controller: each Service with a selector gets an Endpoints object listing its
//! ready pods as addresses and the others as notReadyAddresses.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use serde_json::{Value, json};

use crate::resources;
use crate::store::{Part, Store};
use crate::world::World;

/// Brings every Endpoints object in line with its Service's pods.
pub fn sync(world: &mut World, store: &Store) {
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
        let members: Vec<&&Pod> = by_ns
            .get(&ns)
            .into_iter()
            .flatten()
            .filter(|p| {
                let labels = p.metadata.labels.as_ref();
                selector
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
            .collect();
        // Building addresses for every pod every second is the expensive part: skip services
        // whose members, addresses and readiness did not change.
        let mut h = DefaultHasher::new();
        for p in &members {
            p.metadata.name.hash(&mut h);
            p.status
                .as_ref()
                .and_then(|s| s.pod_ip.as_ref())
                .hash(&mut h);
            super::pod_ready(p).hash(&mut h);
        }
        svc.spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .map(|p| p.len())
            .hash(&mut h);
        let fingerprint = h.finish();
        let key = format!("{ns}/{name}");
        if world.endpoints_seen.get(&key) == Some(&fingerprint)
            && store
                .get(resources::of::<Endpoints>(), &ns, &name)
                .is_some()
        {
            continue;
        }
        let mut ready = Vec::new();
        let mut not_ready = Vec::new();
        for p in members {
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
                if store.create(rt, &ns, ep, false).is_ok() {
                    world.endpoints_seen.insert(key, fingerprint);
                }
            }
            Some(e) => {
                let current = e.value().get("subsets").cloned().unwrap_or(json!([]));
                if current != subsets {
                    let mut v = e.value().clone();
                    v["subsets"] = subsets;
                    let _ = store.update(rt, &ns, &name, v, Part::Main, false);
                }
                world.endpoints_seen.insert(key, fingerprint);
            }
        }
    }
}
