//! Field defaults the real API server fills in on write, so clients and controllers see the
//! objects they would see on a real cluster.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// Applies the defaults of `rt` to `obj` in place.
pub fn apply(rt: &ResourceType, obj: &mut Value) {
    match (rt.group, rt.kind) {
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec);
                pod_admission(spec);
            }
            // A new pod (its status empty, or not there) is Pending, with its QoS class.
            let fresh = obj
                .get("status")
                .is_none_or(|s| s.is_null() || s.as_object().is_some_and(|m| m.is_empty()));
            if fresh {
                let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
                obj["status"] = json!({"phase": "Pending", "qosClass": qos});
            }
        }
        ("", "ReplicationController") => {
            if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "minReadySeconds", json!(0));
                // The selector defaults to the template's labels, and the labels of the
                // controller too.
                if let Some(labels) = spec.pointer("/template/metadata/labels").cloned() {
                    set_default(spec, "selector", labels.clone());
                    if obj.pointer("/metadata/labels").is_none_or(Value::is_null) {
                        obj["metadata"]["labels"] = labels;
                    }
                }
            }
            if let Some(spec) = obj.get_mut("spec") {
                template(spec);
            }
        }
        ("batch", "Job") => job(obj),
        ("apps", "Deployment") => {
            let spec = obj.as_object_mut().and_then(|o| o.get_mut("spec"));
            if let Some(spec) = spec {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(spec, "progressDeadlineSeconds", json!(600));
                set_default(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                );
                if spec.pointer("/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = &mut spec["strategy"];
                    set_default(ru, "rollingUpdate", json!({}));
                    set_default(&mut ru["rollingUpdate"], "maxSurge", json!("25%"));
                    set_default(&mut ru["rollingUpdate"], "maxUnavailable", json!("25%"));
                }
                template(spec);
            }
        }
        ("apps", "ReplicaSet") | ("apps", "StatefulSet") => {
            if let Some(spec) = obj.get_mut("spec") {
                set_default(spec, "replicas", json!(1));
                if rt.kind == "StatefulSet" {
                    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
                    set_default(spec, "revisionHistoryLimit", json!(10));
                    set_default(
                        spec,
                        "updateStrategy",
                        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                    );
                }
                template(spec);
            }
        }
        ("apps", "DaemonSet") => {
            if let Some(spec) = obj.get_mut("spec") {
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
                );
                template(spec);
            }
        }
        ("", "Service") => {
            if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
                set_default(spec, "type", json!("ClusterIP"));
                set_default(spec, "sessionAffinity", json!("None"));
                let ty = spec["type"].as_str().unwrap_or("").to_string();
                if ty != "ExternalName" {
                    set_default(spec, "ipFamilies", json!(["IPv4"]));
                    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
                    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
                    if let Some(ip) = spec.get("clusterIP").filter(|ip| ip.is_string()).cloned() {
                        set_default(spec, "clusterIPs", json!([ip]));
                    }
                }
                if ty == "NodePort" || ty == "LoadBalancer" {
                    set_default(spec, "externalTrafficPolicy", json!("Cluster"));
                }
                if ty == "LoadBalancer" {
                    set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
                }
                if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        set_default(p, "protocol", json!("TCP"));
                        if p.get("targetPort").is_none()
                            && let Some(port) = p.get("port").cloned()
                        {
                            p["targetPort"] = port;
                        }
                    }
                }
            }
            set_default(obj, "status", json!({"loadBalancer": {}}));
        }
        ("", "Namespace") => {
            set_default(obj, "spec", json!({"finalizers": ["kubernetes"]}));
            set_default(obj, "status", json!({"phase": "Active"}));
        }
        ("", "Secret") => {
            set_default(obj, "type", json!("Opaque"));
        }
        _ => {}
    }
}

fn template(spec: &mut Value) {
    if let Some(pod_spec) = spec.pointer_mut("/template/spec") {
        self::pod_spec(pod_spec);
    }
}

fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    if let Some(containers) = spec.get_mut("containers").and_then(Value::as_array_mut) {
        for c in containers {
            let latest = c.get("image").and_then(Value::as_str).is_some_and(|i| {
                i.ends_with(":latest") || !i.rsplit('/').next().unwrap_or(i).contains(':')
            });
            set_default(
                c,
                "imagePullPolicy",
                json!(if latest { "Always" } else { "IfNotPresent" }),
            );
            set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
            set_default(c, "terminationMessagePolicy", json!("File"));
            set_default(c, "resources", json!({}));
            // Limits without requests: the requests are the limits.
            if let Some(limits) = c
                .pointer("/resources/limits")
                .and_then(Value::as_object)
                .cloned()
            {
                let r = &mut c["resources"];
                set_default(r, "requests", json!({}));
                for (k, v) in limits {
                    set_default(&mut r["requests"], &k, v);
                }
            }
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_default(p, "protocol", json!("TCP"));
                }
            }
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                if let Some(p) = c.get_mut(probe)
                    && p.is_object()
                {
                    set_default(p, "timeoutSeconds", json!(1));
                    set_default(p, "periodSeconds", json!(10));
                    set_default(p, "successThreshold", json!(1));
                    set_default(p, "failureThreshold", json!(3));
                }
            }
        }
    }
}

/// What the admission plugins of a pod create add: the service account (`ServiceAccount`),
/// priority (`Priority`), tolerations of unreachable and not-ready nodes for five minutes
/// (`DefaultTolerationSeconds`), and service links (`SetDefaults_Pod`).
fn pod_admission(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    let sa = spec
        .get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    spec["serviceAccountName"] = json!(sa);
    spec["serviceAccount"] = json!(sa);
    set_default(spec, "enableServiceLinks", json!(true));
    if spec.get("priorityClassName").is_none_or(Value::is_null) {
        set_default(spec, "priority", json!(0));
        set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
    let mut tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = tolerations.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str);
            let effect = t.get("effect").and_then(Value::as_str);
            (k == Some(key) || (k.is_none_or(str::is_empty) && t["operator"] == "Exists"))
                && effect.is_none_or(|e| e.is_empty() || e == "NoExecute")
        });
        if !tolerated {
            tolerations.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
    spec["tolerations"] = json!(tolerations);
}

/// The QoS class of a pod spec, as the API server sets it on create: `BestEffort` with no CPU
/// or memory request or limit anywhere, `Guaranteed` when every container limits both and
/// requests what it limits, `Burstable` otherwise.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten();
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let req = c.pointer("/resources/requests");
        let lim = c.pointer("/resources/limits");
        for k in ["cpu", "memory"] {
            let l = lim.and_then(|m| m.get(k)).filter(|v| !v.is_null());
            let r = req.and_then(|m| m.get(k)).filter(|v| !v.is_null()).or(l);
            if l.is_some() || r.is_some() {
                any = true;
            }
            let same = match (r, l) {
                (Some(r), Some(l)) => quantity_eq(r, l),
                _ => false,
            };
            if !same {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Whether two quantities are the same amount (`1` and `1000m`, `1Gi` and `1024Mi`).
fn quantity_eq(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (a, b) = (text(a), text(b));
    a == b
        || matches!(
            (crate::quantity::memory(&a), crate::quantity::memory(&b)),
            (Some(x), Some(y)) if x == y
        ) && matches!(
            (crate::quantity::cpu(&a), crate::quantity::cpu(&b)),
            (Some(x), Some(y)) if x == y
        )
}

/// A Job as the API server defaults it: the selector on the controller uid (unless
/// `manualSelector`), the labels the pods carry, and the counts.
fn job(obj: &mut Value) {
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    let indexed = spec.get("completionMode").and_then(Value::as_str) == Some("Indexed");
    let parallelism = spec.get("parallelism").and_then(Value::as_i64);
    set_default(spec, "parallelism", json!(1));
    if spec.get("completions").is_none_or(Value::is_null) && (parallelism.is_none() || indexed) {
        spec["completions"] = json!(1);
    }
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && !uid.is_empty() {
        let labels = json!({
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        });
        set_default(
            spec,
            "selector",
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
        if spec.get("template").is_some_and(Value::is_object) {
            set_default(&mut spec["template"], "metadata", json!({}));
            let meta = &mut spec["template"]["metadata"];
            set_default(meta, "labels", json!({}));
            for (k, v) in labels.as_object().expect("object") {
                set_default(&mut meta["labels"], k, v.clone());
            }
        }
    }
    template(spec);
    // A Job without labels carries its pods' labels, as the API server defaults them.
    let pod_labels = spec.pointer("/template/metadata/labels").cloned();
    if let Some(labels) = pod_labels.filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        && obj
            .pointer("/metadata/labels")
            .is_none_or(|l| l.as_object().is_none_or(|m| m.is_empty()))
        && obj.get("metadata").is_some_and(Value::is_object)
    {
        obj["metadata"]["labels"] = labels;
    }
}

fn set_default(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut()
        && map.get(field).is_none_or(Value::is_null)
    {
        map.insert(field.to_string(), value);
    }
}
