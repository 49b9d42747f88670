//! What the API server's admission does on create beyond defaulting, where it needs the rest
//! of the store: the `NamespaceLifecycle` plugin refuses new objects in a namespace being
//! terminated; the Service registry allocates cluster IPs from `10.96.0.0/12` and node ports
//! from `30000-32767`, each unique while its Service exists; Jobs must not restart always.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::admission::Invalid;
use super::error::StoreError;
use super::{Inner, Store};
use crate::resources::{self, ResourceType};

/// Namespaces the API server refuses to delete.
pub const IMMORTAL_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The cluster IP of `default/kubernetes`, the first of the service range.
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

/// Size of the service range `10.96.0.0/12`.
const SERVICE_RANGE: u32 = 1 << 20;
/// Base address of the service range.
const SERVICE_BASE: u32 = (10 << 24) | (96 << 16);
/// First and last node port.
const NODE_PORTS: (i64, i64) = (30_000, 32_767);

/// The qualified resource as errors name it: `pods`, `deployments.apps`.
pub fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

/// The 403 of a create in namespace `ns` while it is terminated, as `NamespaceLifecycle`
/// answers it.
pub fn namespace_terminating(rt: &ResourceType, name: &str, ns: &str) -> StoreError {
    StoreError::Forbidden {
        resource: qualified(rt),
        name: name.to_string(),
        why: format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        ),
        causes: vec![json!({
            "reason": "NamespaceTerminating",
            "message": format!("namespace {ns} is being terminated"),
            "field": "metadata.namespace",
        })],
    }
}

/// Whether a namespace object is being terminated.
pub fn terminating(ns: &Value) -> bool {
    ns.pointer("/metadata/deletionTimestamp").is_some()
        || ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
}

impl Store {
    /// Admission of a new object of type `rt` in `ns` after defaulting; may fill in allocated
    /// fields (cluster IPs, node ports).
    pub(super) fn admit_create(
        &self,
        inner: &Inner,
        rt: &'static ResourceType,
        ns: &str,
        obj: &mut Value,
    ) -> Result<(), StoreError> {
        let name = requested_name(obj);
        if rt.namespaced && rt.kind != "Namespace" {
            let ns_rt = resources::find("", "v1", "namespaces").expect("namespaces registered");
            if let Some(e) =
                inner.tables[resources::index_of(ns_rt)].get(&(String::new(), ns.to_string()))
                && terminating(e.value())
            {
                return Err(namespace_terminating(rt, &name, ns));
            }
        }
        match (rt.group, rt.kind) {
            ("", "Service") => allocate_service(inner, rt, ns, obj),
            ("batch", "Job") => validate_job(rt, obj),
            _ => Ok(()),
        }
    }
}

/// The name the client asked for: empty when it was generated from `generateName`.
fn requested_name(obj: &Value) -> String {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match obj
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
    {
        Some(prefix) if !prefix.is_empty() && name.starts_with(prefix) => String::new(),
        _ => name.to_string(),
    }
}

fn invalid(rt: &ResourceType, obj: &Value, message: String) -> StoreError {
    StoreError::Invalid(Invalid {
        kind: rt.kind.to_string(),
        name: obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        message,
    })
}

fn validate_job(rt: &ResourceType, obj: &Value) -> Result<(), StoreError> {
    let policy = obj
        .pointer("/spec/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    if policy != "OnFailure" && policy != "Never" {
        return Err(invalid(
            rt,
            obj,
            format!(
                "spec.template.spec.restartPolicy: Unsupported value: {policy:?}: supported values: \"OnFailure\", \"Never\""
            ),
        ));
    }
    Ok(())
}

/// Parses a dotted IPv4 address.
fn ipv4(s: &str) -> Option<u32> {
    s.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

fn dotted(ip: u32) -> String {
    std::net::Ipv4Addr::from(ip).to_string()
}

/// Where the search for a free cluster IP of `ns/name` starts: a hash of the name, so a
/// scenario's Services get the same addresses run after run.
pub fn preferred_offset(ns: &str, name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in format!("{ns}/{name}").bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    ((h >> 8) % 250) * 256 + (h % 250 + 2)
}

fn allocate_service(
    inner: &Inner,
    rt: &'static ResourceType,
    ns: &str,
    obj: &mut Value,
) -> Result<(), StoreError> {
    let Some(spec) = obj.get("spec").filter(|s| s.is_object()) else {
        return Ok(());
    };
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let mut taken_ips: HashSet<u32> = HashSet::new();
    let mut taken_ports: HashSet<i64> = HashSet::new();
    for e in inner.tables[resources::index_of(rt)].values() {
        let v = e.value();
        for ip in v
            .pointer("/spec/clusterIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(v.pointer("/spec/clusterIP"))
        {
            if let Some(ip) = ip.as_str().and_then(ipv4) {
                taken_ips.insert(ip);
            }
        }
        for p in v
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
                taken_ports.insert(np);
            }
        }
    }
    if ty != "ExternalName" {
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                spec.pointer("/clusterIPs/0")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            })
            .map(str::to_string);
        let ip = match requested.as_deref() {
            Some("None") => "None".to_string(),
            Some(ip) => {
                let bad = |why: String| {
                    invalid(
                        rt,
                        obj,
                        format!("spec.clusterIPs: Invalid value: []string{{{ip:?}}}: {why}"),
                    )
                };
                let Some(n) = ipv4(ip) else {
                    return Err(bad("must be a valid IP address".into()));
                };
                if !(SERVICE_BASE..SERVICE_BASE + SERVICE_RANGE).contains(&n) {
                    return Err(bad(format!(
                        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
                    )));
                }
                if taken_ips.contains(&n) {
                    return Err(bad(format!(
                        "failed to allocate IP {ip}: provided IP is already allocated"
                    )));
                }
                ip.to_string()
            }
            None => {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let start = preferred_offset(ns, name);
                let free = (0..SERVICE_RANGE)
                    .map(|i| (start + i) % SERVICE_RANGE)
                    // The network address, `kubernetes` and the broadcast address are never handed out.
                    .filter(|o| *o > 1 && *o < SERVICE_RANGE - 1)
                    .map(|o| SERVICE_BASE + o)
                    .find(|ip| !taken_ips.contains(ip));
                match free {
                    Some(ip) => dotted(ip),
                    None => {
                        return Err(invalid(
                            rt,
                            obj,
                            "spec.clusterIPs: Internal error: failed to allocate a serviceIP: range is full".into(),
                        ));
                    }
                }
            }
        };
        obj["spec"]["clusterIP"] = json!(ip);
        obj["spec"]["clusterIPs"] = json!([ip]);
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        let mut next = NODE_PORTS.0
            + i64::from(preferred_offset(
                ns,
                obj["metadata"]["name"].as_str().unwrap_or(""),
            )) % (NODE_PORTS.1 - NODE_PORTS.0 + 1);
        let n = obj["spec"]["ports"].as_array().map_or(0, Vec::len);
        // Requested ports first, so an allocated one never takes a port asked for later.
        for i in 0..n {
            if let Some(np) = obj["spec"]["ports"][i]
                .get("nodePort")
                .and_then(Value::as_i64)
            {
                if !(NODE_PORTS.0..=NODE_PORTS.1).contains(&np) {
                    return Err(invalid(
                        rt,
                        obj,
                        format!(
                            "spec.ports[{i}].nodePort: Invalid value: {np}: provided port is not in the valid range. The range of valid ports is 30000-32767"
                        ),
                    ));
                }
                if !taken_ports.insert(np) {
                    return Err(invalid(
                        rt,
                        obj,
                        format!(
                            "spec.ports[{i}].nodePort: Invalid value: {np}: provided port is already allocated"
                        ),
                    ));
                }
            }
        }
        for i in 0..n {
            if obj["spec"]["ports"][i].get("nodePort").is_some() {
                continue;
            }
            let mut tries = 0;
            while taken_ports.contains(&next) && tries <= NODE_PORTS.1 - NODE_PORTS.0 {
                next = if next == NODE_PORTS.1 {
                    NODE_PORTS.0
                } else {
                    next + 1
                };
                tries += 1;
            }
            taken_ports.insert(next);
            obj["spec"]["ports"][i]["nodePort"] = json!(next);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    fn svc(name: &str, spec: Value) -> Value {
        json!({"metadata": {"name": name}, "spec": spec})
    }

    fn store() -> Store {
        let s = Store::new(Clock::new(0), 1);
        let ns = resources::find("", "v1", "namespaces").unwrap();
        s.create(ns, "", json!({"metadata": {"name": "default"}}), false)
            .unwrap();
        s
    }

    #[test]
    fn cluster_ips_are_unique_and_a_taken_one_is_refused() {
        let s = store();
        let rt = resources::find("", "v1", "services").unwrap();
        let ports = json!({"ports": [{"port": 80}]});
        let a = s
            .create(rt, "default", svc("a", ports.clone()), false)
            .unwrap();
        let b = s
            .create(rt, "default", svc("b", ports.clone()), false)
            .unwrap();
        let ip =
            |e: &super::super::Entry| e.value()["spec"]["clusterIP"].as_str().unwrap().to_string();
        assert_ne!(ip(&a), ip(&b));
        assert_eq!(a.value()["spec"]["clusterIPs"], json!([ip(&a)]));
        // kube-apiserver: 422 `Service "c" is invalid: spec.clusterIPs: Invalid value:
        // []string{"<ip>"}: failed to allocate IP <ip>: provided IP is already allocated`.
        let err = s
            .create(
                rt,
                "default",
                svc("c", json!({"clusterIP": ip(&a), "ports": [{"port": 80}]})),
                false,
            )
            .unwrap_err();
        assert_eq!(err.code(), 422);
        assert_eq!(
            err.to_string(),
            format!(
                "Service \"c\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{0}\"}}: failed to allocate IP {0}: provided IP is already allocated",
                ip(&a)
            )
        );
        // Released on delete.
        s.delete(rt, "default", "a", &Default::default()).unwrap();
        s.create(
            rt,
            "default",
            svc("c", json!({"clusterIP": ip(&a), "ports": [{"port": 80}]})),
            false,
        )
        .unwrap();
        let h = s
            .create(
                rt,
                "default",
                svc("h", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
                false,
            )
            .unwrap();
        assert_eq!(h.value()["spec"]["clusterIPs"], json!(["None"]));
    }

    #[test]
    fn node_ports_are_allocated_for_node_port_and_load_balancer_services() {
        let s = store();
        let rt = resources::find("", "v1", "services").unwrap();
        let lb = s
            .create(
                rt,
                "default",
                svc(
                    "lb",
                    json!({"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}),
                ),
                false,
            )
            .unwrap();
        let p0 = lb.value()["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        let p1 = lb.value()["spec"]["ports"][1]["nodePort"].as_i64().unwrap();
        assert!((30000..=32767).contains(&p0) && p0 != p1);
        assert_eq!(lb.value()["status"], json!({"loadBalancer": {}}));
        let err = s
            .create(
                rt,
                "default",
                svc(
                    "np",
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": p0}]}),
                ),
                false,
            )
            .unwrap_err();
        assert_eq!(err.code(), 422);
        assert!(err.to_string().ends_with(&format!(
            "spec.ports[0].nodePort: Invalid value: {p0}: provided port is already allocated"
        )));
    }

    #[test]
    fn terminating_namespace_refuses_new_objects() {
        let s = store();
        let ns = resources::find("", "v1", "namespaces").unwrap();
        s.create(ns, "", json!({"metadata": {"name": "shop"}}), false)
            .unwrap();
        s.delete(ns, "", "shop", &Default::default()).unwrap();
        let cm = resources::find("", "v1", "configmaps").unwrap();
        let err = s
            .create(cm, "shop", json!({"metadata": {"name": "x"}}), false)
            .unwrap_err();
        // kube-apiserver: 403 Forbidden `configmaps "x" is forbidden: unable to create new
        // content in namespace shop because it is being terminated`.
        assert_eq!(err.code(), 403);
        assert_eq!(err.reason(), "Forbidden");
        assert_eq!(
            err.to_string(),
            "configmaps \"x\" is forbidden: unable to create new content in namespace shop because it is being terminated"
        );
        let StoreError::Forbidden { causes, .. } = &err else {
            panic!("{err:?}");
        };
        // details.causes: [{reason: NamespaceTerminating, message: "namespace shop is being
        // terminated", field: metadata.namespace}].
        assert_eq!(
            causes,
            &vec![
                json!({"reason": "NamespaceTerminating", "message": "namespace shop is being terminated", "field": "metadata.namespace"})
            ]
        );
        // `default` may not be deleted: 403 `namespaces "default" is forbidden: this namespace
        // may not be deleted`.
        let err = s
            .delete(ns, "", "default", &Default::default())
            .unwrap_err();
        assert_eq!(err.code(), 403);
        assert_eq!(
            err.to_string(),
            "namespaces \"default\" is forbidden: this namespace may not be deleted"
        );
    }
}
