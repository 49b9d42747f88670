//! Semantic validation the real API server performs on write (beyond parsing), answered as 422.

use serde_json::Value;

use crate::resources::ResourceType;
use crate::store::StoreError;

/// Validates `obj` of type `rt`.
pub fn validate(rt: &ResourceType, obj: &Value) -> Result<(), StoreError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let fail = |message: String| StoreError::Invalid {
        kind: rt.kind.to_string(),
        name: name.clone(),
        message,
    };
    match (rt.group, rt.kind) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
                && r < 0
            {
                return Err(fail(format!(
                    "spec.replicas: Invalid value: {r}: must be greater than or equal to 0"
                )));
            }
            let selector = obj
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object);
            let labels = obj
                .pointer("/spec/template/metadata/labels")
                .and_then(Value::as_object);
            match (selector, labels) {
                (None, _) if obj.pointer("/spec/selector/matchExpressions").is_none() => {
                    return Err(fail("spec.selector: Required value".into()));
                }
                (Some(sel), labels) => {
                    for (k, v) in sel {
                        if labels.and_then(|l| l.get(k)) != Some(v) {
                            return Err(fail(
                                "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`".into(),
                            ));
                        }
                    }
                }
                _ => {}
            }
            if let Some(spec) = obj.pointer("/spec/template/spec") {
                containers(spec, "spec.template.spec").map_err(fail)?;
            } else {
                return Err(fail("spec.template.spec.containers: Required value".into()));
            }
        }
        ("", "Pod") => {
            let spec = obj
                .get("spec")
                .ok_or_else(|| fail("spec.containers: Required value".into()))?;
            containers(spec, "spec").map_err(fail)?;
        }
        _ => {}
    }
    Ok(())
}

fn containers(spec: &Value, path: &str) -> Result<(), String> {
    let list = spec
        .get("containers")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    let Some(list) = list else {
        return Err(format!("{path}.containers: Required value"));
    };
    for (i, c) in list.iter().enumerate() {
        if c.get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("{path}.containers[{i}].name: Required value"));
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("{path}.containers[{i}].image: Required value"));
        }
    }
    Ok(())
}
