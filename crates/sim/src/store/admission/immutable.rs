//! The fields a client may not change once an object exists, with the messages of
//! kube-apiserver 1.34's update validation. Only clients' writes are checked: the simulated
//! controllers change what the real ones change through subresources the sim does not
//! serve separately (a pod's `spec.nodeName` is set by the scheduler's binding).

use serde_json::{Map, Value};

use super::Invalid;
use crate::resources::ResourceType;

/// The message for a pod update that changes what a pod may not change.
const POD_FORBIDDEN: &str = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// The message for a StatefulSet update that changes a fixed part of its spec.
const STATEFULSET_FORBIDDEN: &str = "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

/// Checks that `new` changes nothing of `old` that is immutable for its type.
pub fn check_immutable(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), Invalid> {
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let fail = |message: String| Err(Invalid::new(rt, name, message));
    let spec = |v: &'_ Value| v.get("spec").cloned().unwrap_or(Value::Null);
    match (rt.group, rt.kind) {
        ("", "Pod")
            if pod_fixed_spec(&spec(old)) != pod_fixed_spec(&spec(new))
                || !tolerations_only_added(old, new) =>
        {
            return fail(POD_FORBIDDEN.into());
        }
        ("", "Service") => {
            let ip = |v: &Value| {
                v.pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let external =
                |v: &Value| v.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
            let (was, is) = (ip(old), ip(new));
            if !was.is_empty() && was != is && !external(old) && !external(new) {
                return fail(format!(
                    "spec.clusterIPs[0]: Invalid value: []string{{{is:?}}}: may not change once set"
                ));
            }
        }
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") | ("batch", "Job") => {
            let (was, is) = (old.pointer("/spec/selector"), new.pointer("/spec/selector"));
            if was.is_some() && was != is {
                return fail(format!(
                    "spec.selector: Invalid value: {}: field is immutable",
                    go_label_selector(is.unwrap_or(&Value::Null))
                ));
            }
            if rt.kind == "Job" {
                if old.pointer("/spec/template") != new.pointer("/spec/template") {
                    return fail(
                        "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable".into(),
                    );
                }
                let completions = |v: &Value| v.pointer("/spec/completions").cloned();
                if completions(old) != completions(new) {
                    return fail(format!(
                        "spec.completions: Invalid value: {}: field is immutable",
                        completions(new).unwrap_or(Value::Null)
                    ));
                }
            }
        }
        ("apps", "StatefulSet") => {
            let fixed = |v: &Value| {
                let mut s = spec(v);
                if let Some(m) = s.as_object_mut() {
                    for f in [
                        "replicas",
                        "ordinals",
                        "template",
                        "updateStrategy",
                        "revisionHistoryLimit",
                        "persistentVolumeClaimRetentionPolicy",
                        "minReadySeconds",
                    ] {
                        m.remove(f);
                    }
                }
                s
            };
            if fixed(old) != fixed(new) {
                return fail(STATEFULSET_FORBIDDEN.into());
            }
        }
        ("", "Secret" | "ConfigMap") => {
            if rt.kind == "Secret" {
                let ty = |v: &Value| {
                    v.get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("Opaque")
                        .to_string()
                };
                if ty(old) != ty(new) {
                    return fail(format!(
                        "type: Invalid value: {:?}: field is immutable",
                        ty(new)
                    ));
                }
            }
            if old.get("immutable").and_then(Value::as_bool) == Some(true) {
                if new.get("immutable").and_then(Value::as_bool) != Some(true) {
                    return fail(
                        "immutable: Forbidden: field is immutable when `immutable` is set".into(),
                    );
                }
                for field in ["data", "binaryData"] {
                    if old.get(field) != new.get(field) {
                        return fail(format!(
                            "{field}: Forbidden: field is immutable when `immutable` is set"
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A pod spec without what an update may change.
fn pod_fixed_spec(spec: &Value) -> Value {
    let mut s = spec.clone();
    let Some(m) = s.as_object_mut() else {
        return s;
    };
    for f in [
        "activeDeadlineSeconds",
        "terminationGracePeriodSeconds",
        "tolerations",
        "schedulingGates",
        "ephemeralContainers",
    ] {
        m.remove(f);
    }
    for list in ["containers", "initContainers"] {
        if let Some(items) = m.get_mut(list).and_then(Value::as_array_mut) {
            for c in items.iter_mut().filter_map(Value::as_object_mut) {
                c.remove("image");
            }
        }
    }
    s
}

/// Whether every toleration of `old` is still in `new` (new ones may be added).
fn tolerations_only_added(old: &Value, new: &Value) -> bool {
    let list = |v: &Value| {
        v.pointer("/spec/tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let now = list(new);
    list(old).iter().all(|t| now.contains(t))
}

/// A label selector as Go prints a `v1.LabelSelector` value in validation messages.
fn go_label_selector(sel: &Value) -> String {
    let labels = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    let expressions = match sel.get("matchExpressions").and_then(Value::as_array) {
        Some(e) if !e.is_empty() => {
            format!("[]v1.LabelSelectorRequirement{{...{} items}}", e.len())
        }
        _ => "[]v1.LabelSelectorRequirement(nil)".to_string(),
    };
    format!(
        "v1.LabelSelector{{MatchLabels:map[string]string{{{}}}, MatchExpressions:{expressions}}}",
        pairs.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources;

    fn rt(group: &str, plural: &str) -> &'static ResourceType {
        resources::find(group, "v1", plural).unwrap()
    }

    #[test]
    fn pods_change_only_images_and_a_few_fields() {
        let old = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "i:1", "resources": {"limits": {"memory": "64Mi"}}}]}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("i:2");
        new["spec"]["activeDeadlineSeconds"] = json!(60);
        new["spec"]["tolerations"] = json!([{"key": "k", "operator": "Exists"}]);
        assert!(check_immutable(rt("", "pods"), &old, &new).is_ok());
        let mut moved = old.clone();
        moved["spec"]["nodeName"] = json!("b");
        let err = check_immutable(rt("", "pods"), &old, &moved).unwrap_err();
        assert!(err.message.starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"));
        let mut resized = old.clone();
        resized["spec"]["containers"][0]["resources"]["limits"]["memory"] = json!("128Mi");
        assert!(check_immutable(rt("", "pods"), &old, &resized).is_err());
        let mut fewer = new.clone();
        fewer["spec"]["tolerations"] = json!([]);
        assert!(check_immutable(rt("", "pods"), &new, &fewer).is_err());
    }

    #[test]
    fn selectors_cluster_ips_and_immutable_data() {
        let old = json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}});
        let mut new = old.clone();
        new["spec"]["selector"]["matchLabels"]["app"] = json!("api");
        let err = check_immutable(rt("apps", "deployments"), &old, &new).unwrap_err();
        assert_eq!(
            err.message,
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"api\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        );
        let svc = json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.96.0.5"}});
        let mut moved = svc.clone();
        moved["spec"]["clusterIP"] = json!("10.96.0.6");
        let err = check_immutable(rt("", "services"), &svc, &moved).unwrap_err();
        assert_eq!(
            err.message,
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.6\"}: may not change once set"
        );
        let cm = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let mut changed = cm.clone();
        changed["data"]["a"] = json!("2");
        let err = check_immutable(rt("", "configmaps"), &cm, &changed).unwrap_err();
        assert_eq!(
            err.message,
            "data: Forbidden: field is immutable when `immutable` is set"
        );
        let mut labelled = cm.clone();
        labelled["metadata"]["labels"] = json!({"x": "y"});
        assert!(check_immutable(rt("", "configmaps"), &cm, &labelled).is_ok());
    }
}
