//! Turns a scenario's `cluster` block into API objects and runtime state at time zero.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use nightshift_scenario::{ConfigKind, FaultKind, Scenario, Workload, WorkloadKind};
use serde_json::{Value, json};

use crate::logs::builtin;
use crate::resources;
use crate::store::Store;
use crate::world::{FaultState, ImageProfile, NodeRuntime, WorkloadModel, World};

/// Container port every simulated application listens on.
pub const APP_PORT: i32 = 8080;

use nightshift_scenario::units::{format_cpu as fmt_cpu, format_memory as fmt_mem};

/// Creates the objects and the world for `scenario`.
pub fn build(store: &Store, scenario: &Scenario) -> World {
    let mut namespaces: Vec<String> = vec![
        "default".into(),
        "kube-system".into(),
        "kube-public".into(),
        "kube-node-lease".into(),
    ];
    for w in &scenario.cluster.workloads {
        if !namespaces.contains(&w.namespace) {
            namespaces.push(w.namespace.clone());
        }
    }
    for c in &scenario.cluster.configs {
        if !namespaces.contains(&c.namespace) {
            namespaces.push(c.namespace.clone());
        }
    }
    let ns_rt = resources::find("", "v1", "namespaces").expect("registered");
    for ns in &namespaces {
        let _ = store.create(
            ns_rt,
            "",
            json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
            false,
        );
    }
    kubernetes_service(store);
    let mut nodes = BTreeMap::new();
    let node_rt = resources::find("", "v1", "nodes").expect("registered");
    for (i, n) in scenario.cluster.nodes.iter().enumerate() {
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        labels.insert("kubernetes.io/hostname".into(), n.name.clone());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), "amd64".into());
        labels.insert(
            "node.kubernetes.io/instance-type".into(),
            "sim.standard".into(),
        );
        labels.extend(n.labels.clone());
        let res = json!({"cpu": fmt_cpu(n.cpu_millis), "memory": fmt_mem(n.memory_bytes), "pods": "110", "ephemeral-storage": "100Gi"});
        let node = json!({
            "metadata": {"name": n.name, "labels": labels},
            "spec": {"podCIDR": format!("10.244.{i}.0/24"), "podCIDRs": [format!("10.244.{i}.0/24")]},
            "status": {
                "capacity": res,
                "allocatable": res,
                "addresses": [{"type": "InternalIP", "address": format!("10.0.0.{}", i + 10)}, {"type": "Hostname", "address": n.name}],
                "nodeInfo": {
                    "machineID": format!("{:032x}", i + 1), "systemUUID": format!("{:032x}", i + 1), "bootID": format!("{:032x}", i + 101),
                    "kernelVersion": "6.1.0-sim", "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.7.24",
                    "kubeletVersion": "v1.34.0", "kubeProxyVersion": "v1.34.0", "operatingSystem": "linux", "architecture": "amd64",
                },
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            },
        });
        if let Ok(e) = store.create(node_rt, "", node, false) {
            crate::controllers::nodes::renew_lease(store, &e.typed(), store.clock().now_ms());
        }
        nodes.insert(
            n.name.clone(),
            NodeRuntime {
                alive: true,
                dead_since: None,
                not_ready_since: None,
                disk_pressure: false,
                last_eviction_ms: 0,
                images: HashSet::new(),
                index: i,
                next_ip: 0,
            },
        );
    }
    for c in &scenario.cluster.configs {
        let (rt, body) = match c.kind {
            ConfigKind::ConfigMap => (
                "configmaps",
                json!({"metadata": {"name": c.name, "namespace": c.namespace}, "data": {"settings.yaml": "log_level: info\n"}}),
            ),
            ConfigKind::Secret => (
                "secrets",
                json!({"metadata": {"name": c.name, "namespace": c.namespace}, "type": "Opaque", "data": {"password": "czNjcjN0LXNpbXVsYXRlZA=="}}),
            ),
        };
        let _ = store.create(
            resources::find("", "v1", rt).expect("registered"),
            &c.namespace,
            body,
            false,
        );
    }
    for ns in &namespaces {
        crate::controllers::namespace::defaults(store, ns);
    }
    let mut workloads = HashMap::new();
    for w in &scenario.cluster.workloads {
        create_workload(store, w);
        let lines = if w.logs.lines.is_empty() {
            builtin(crate::app::DEFAULT_LINES)
        } else {
            Arc::new(w.logs.lines.clone())
        };
        workloads.insert(
            w.key(),
            Arc::new(WorkloadModel {
                behavior: w.behavior.clone(),
                base_replicas: if w.kind == WorkloadKind::DaemonSet {
                    scenario.cluster.nodes.len() as u32
                } else {
                    w.replicas.max(1)
                },
                depends_on: w.depends_on.clone(),
                lines,
                deps: Arc::new(w.depends_on.iter().map(|d| d.host_port()).collect()),
                every_ms: w.logs.every.as_millis() as i64,
            }),
        );
    }
    let mut registry: HashMap<String, ImageProfile> = scenario
        .cluster
        .workloads
        .iter()
        .map(|w| (w.image.clone(), ImageProfile::Healthy))
        .collect();
    for f in &scenario.faults {
        match &f.kind {
            FaultKind::BadRollout {
                image,
                effect,
                error_ratio,
            } => {
                registry.insert(
                    image.clone(),
                    ImageProfile::Bad {
                        effect: *effect,
                        error_ratio: *error_ratio,
                    },
                );
            }
            FaultKind::MemoryLeak {
                bytes_per_minute,
                since_rollout: Some(image),
            } => {
                registry.insert(image.clone(), ImageProfile::Leak(*bytes_per_minute));
            }
            _ => {}
        }
    }
    // Every image pulls except those the scenario says the registry lacks.
    let missing_images = scenario
        .faults
        .iter()
        .filter_map(|f| match &f.kind {
            FaultKind::ImagePull { image } => Some(image.clone()),
            _ => None,
        })
        .collect();
    World {
        scenario: scenario.clone(),
        registry,
        missing_images,
        workloads,
        nodes,
        pods: HashMap::new(),
        faults: FaultState::default(),
        recorder: crate::events::Recorder::new(),
        schedule_retry: HashMap::new(),
        progress: HashMap::new(),
        container_counter: 0,
        client_requests: BTreeMap::new(),
        fully_served: HashSet::new(),
        default_model: Arc::new(crate::kubelet::default_model()),
        endpoints_seen: HashMap::new(),
        seen_versions: HashMap::new(),
    }
}

/// The API server's own Service, `default/kubernetes`, and its Endpoints, as kube-apiserver
/// keeps them: the first address of the service range, port 443 to the server's 6443.
fn kubernetes_service(store: &Store) {
    let svc = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "clusterIP": crate::store::KUBERNETES_SERVICE_IP,
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": APISERVER_PORT}],
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
    });
    let _ = store.create(
        resources::find("", "v1", "services").expect("registered"),
        "default",
        svc,
        false,
    );
    let ep = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{
            "addresses": [{"ip": APISERVER_IP}],
            "ports": [{"name": "https", "port": APISERVER_PORT, "protocol": "TCP"}],
        }],
    });
    let _ = store.create(
        resources::find("", "v1", "endpoints").expect("registered"),
        "default",
        ep,
        false,
    );
}

/// The address the API server advertises in `default/kubernetes`.
pub const APISERVER_IP: &str = "10.0.0.2";
/// The port it advertises.
pub const APISERVER_PORT: i32 = 6443;

/// The pod template of a scenario workload.
pub fn pod_template(w: &Workload) -> Value {
    let mut resources = json!({});
    let r = &w.resources;
    let mut req = serde_json::Map::new();
    if let Some(c) = r.requests.cpu_millis {
        req.insert("cpu".into(), json!(fmt_cpu(c)));
    }
    if let Some(m) = r.requests.memory_bytes {
        req.insert("memory".into(), json!(fmt_mem(m)));
    }
    let mut lim = serde_json::Map::new();
    if let Some(c) = r.limits.cpu_millis {
        lim.insert("cpu".into(), json!(fmt_cpu(c)));
    }
    if let Some(m) = r.limits.memory_bytes {
        lim.insert("memory".into(), json!(fmt_mem(m)));
    }
    if !req.is_empty() {
        resources["requests"] = Value::Object(req);
    }
    if !lim.is_empty() {
        resources["limits"] = Value::Object(lim);
    }
    let mut container = json!({
        "name": w.name,
        "image": w.image,
        "ports": [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}],
        "resources": resources,
    });
    if w.probes.readiness {
        container["readinessProbe"] = json!({"httpGet": {"path": "/ready", "port": APP_PORT, "scheme": "HTTP"}, "periodSeconds": 5, "timeoutSeconds": 1, "failureThreshold": 3, "successThreshold": 1});
    }
    // A liveness probe as charts usually write it, with room above the service's latency; the
    // `probe-misconfig` fault tightens it below the latency under load.
    if w.probes.liveness {
        container["livenessProbe"] = json!({"httpGet": {"path": "/healthz", "port": APP_PORT, "scheme": "HTTP"}, "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3, "successThreshold": 1});
    }
    if !w.env_from.is_empty() {
        let refs: Vec<Value> = w
            .env_from
            .iter()
            .map(|r| match r.kind {
                ConfigKind::ConfigMap => json!({"configMapRef": {"name": r.name}}),
                ConfigKind::Secret => json!({"secretRef": {"name": r.name}}),
            })
            .collect();
        container["envFrom"] = json!(refs);
    }
    json!({"metadata": {"labels": w.labels}, "spec": {"containers": [container]}})
}

fn create_workload(store: &Store, w: &Workload) {
    let template = pod_template(w);
    let selector = json!({"matchLabels": w.labels});
    let (plural, spec) = match w.kind {
        WorkloadKind::Deployment => (
            "deployments",
            json!({"replicas": w.replicas, "selector": selector, "template": template}),
        ),
        WorkloadKind::StatefulSet => (
            "statefulsets",
            json!({"replicas": w.replicas, "selector": selector, "template": template, "serviceName": w.name}),
        ),
        WorkloadKind::DaemonSet => (
            "daemonsets",
            json!({"selector": selector, "template": template}),
        ),
    };
    let obj = json!({"metadata": {"name": w.name, "namespace": w.namespace, "labels": w.labels, "annotations": {}}, "spec": spec});
    let _ = store.create(
        resources::find("apps", "v1", plural).expect("registered"),
        &w.namespace,
        obj,
        false,
    );
    if w.service {
        // The cluster IP is allocated on create, from a hash of the name first.
        let svc = json!({
            "metadata": {"name": w.name, "namespace": w.namespace, "labels": w.labels},
            "spec": {
                "selector": w.labels,
                "ports": [{"name": "http", "port": 80, "targetPort": APP_PORT, "protocol": "TCP"}],
                "type": "ClusterIP",
            },
        });
        let _ = store.create(
            resources::find("", "v1", "services").expect("registered"),
            &w.namespace,
            svc,
            false,
        );
    }
}
