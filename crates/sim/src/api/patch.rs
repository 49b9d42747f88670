//! The four patch formats the API server accepts: RFC 6902 JSON patch, RFC 7386 merge patch,
//! strategic merge patch and (simplified) server-side apply.
//!
//! Strategic merge knows the merge keys of the fields the simulation uses (containers by
//! name, ports by containerPort, conditions by type, ...); other lists are replaced, as the
//! real server does for lists without a patch strategy (tolerations and taints among them).

use serde_json::{Map, Value};

use super::status::ApiError;

/// A patch format, from the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (JSON bodies, which are YAML too).
    Apply,
}

impl PatchKind {
    /// The format named by a `Content-Type` header; 415 for anything else.
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            _ => Err(ApiError::unsupported_media_type(content_type)),
        }
    }
}

/// Parses a patch body: a JSON document (an array for JSON patch, an object otherwise).
pub fn parse(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| match kind {
        PatchKind::Apply => ApiError::bad_request(format!(
            "error decoding apply patch: the body must be JSON (YAML other than JSON is not supported by the simulated API server): {e}"
        )),
        _ => ApiError::bad_request(format!("error decoding patch: json parse error: {e}")),
    })?;
    match kind {
        PatchKind::Json if !value.is_array() => Err(ApiError::bad_request(
            "error decoding patch: a JSON patch must be an array of operations",
        )),
        PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply if !value.is_object() => Err(
            ApiError::bad_request("error decoding patch: the patch must be a JSON object"),
        ),
        _ => Ok(value),
    }
}

/// Applies a parsed patch to a copy of `target`.
pub fn apply(kind: PatchKind, target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut out = target.clone();
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!("error decoding patch: invalid JSON patch: {e}"))
            })?;
            json_patch::patch(&mut out, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the JSON patch could not be applied: {e}"),
                )
            })?;
        }
        PatchKind::Merge => json_patch::merge(&mut out, patch),
        PatchKind::Strategic | PatchKind::Apply => strategic_merge(&mut out, patch),
    }
    Ok(out)
}

/// Merges a strategic merge patch into `target` in place.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    if merge_map(t, p, "") == Outcome::Delete {
        *target = Value::Object(Map::new());
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    Delete,
}

/// How a list field merges (and, for managed fields, how its items are named).
pub(crate) enum ListStrategy {
    Replace,
    ByKey(&'static str),
    Union,
}

pub(crate) fn list_strategy(field: &str, parent: &str) -> ListStrategy {
    use ListStrategy::*;
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "env"
        | "resourceClaims"
        | "schedulingGates" => ByKey("name"),
        "volumeMounts" => ByKey("mountPath"),
        "volumeDevices" => ByKey("devicePath"),
        "ports"
            if matches!(
                parent,
                "containers" | "initContainers" | "ephemeralContainers"
            ) =>
        {
            ByKey("containerPort")
        }
        "ports" if parent == "spec" => ByKey("port"),
        "conditions" => ByKey("type"),
        "ownerReferences" => ByKey("uid"),
        "hostAliases" | "podIPs" | "hostIPs" => ByKey("ip"),
        "addresses" if parent == "status" => ByKey("type"),
        "topologySpreadConstraints" => ByKey("topologyKey"),
        "finalizers" if parent == "metadata" => Union,
        "podCIDRs" => Union,
        _ => Replace,
    }
}

/// Merges `patch` into the map `target` that sits at field `field`.
fn merge_map(target: &mut Map<String, Value>, patch: &Map<String, Value>, field: &str) -> Outcome {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = strip(patch);
            return Outcome::Keep;
        }
        Some("delete") => return Outcome::Delete,
        _ => {}
    }
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(pm) => match target.get_mut(k) {
                Some(Value::Object(tm)) => {
                    if merge_map(tm, pm, k) == Outcome::Delete {
                        target.remove(k);
                    }
                }
                _ => {
                    if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                        target.remove(k);
                    } else {
                        target.insert(k.clone(), Value::Object(strip(pm)));
                    }
                }
            },
            Value::Array(items) => {
                let merged = merge_list(target.get(k), items, k, field);
                target.insert(k.clone(), merged);
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
    for (k, v) in patch {
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(items)), Some(remove)) = (target.get_mut(list), v.as_array())
        {
            items.retain(|i| !remove.contains(i));
        }
    }
    Outcome::Keep
}

fn merge_list(target: Option<&Value>, patch: &[Value], field: &str, parent: &str) -> Value {
    let is_replace_directive =
        |v: &Value| v.get("$patch").and_then(Value::as_str) == Some("replace");
    let strategy = if patch.iter().any(is_replace_directive) {
        ListStrategy::Replace
    } else {
        list_strategy(field, parent)
    };
    let mut out: Vec<Value> = match (&strategy, target) {
        (ListStrategy::Replace, _) | (_, None) => Vec::new(),
        (_, Some(Value::Array(items))) => items.clone(),
        (_, Some(_)) => Vec::new(),
    };
    match strategy {
        ListStrategy::Replace => {
            for item in patch.iter().filter(|v| !is_replace_directive(v)) {
                out.push(strip_value(item));
            }
        }
        ListStrategy::Union => {
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
        }
        ListStrategy::ByKey(key) => {
            for item in patch {
                let Some(pm) = item.as_object() else {
                    out.push(item.clone());
                    continue;
                };
                let id = pm.get(key);
                let pos = id.and_then(|id| out.iter().position(|t| t.get(key) == Some(id)));
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    out.retain(|t| id.is_none() || t.get(key) != id);
                    continue;
                }
                match pos {
                    Some(i) => {
                        if let Some(tm) = out[i].as_object_mut()
                            && merge_map(tm, pm, field) == Outcome::Delete
                        {
                            out.remove(i);
                        }
                    }
                    None => out.push(Value::Object(strip(pm))),
                }
            }
        }
    }
    Value::Array(out)
}

/// A patch map as a plain value: without directives and without null fields.
fn strip(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}

fn strip_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip(m)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(target: Value, patch: Value) -> Value {
        let mut t = target;
        strategic_merge(&mut t, &patch);
        t
    }

    #[test]
    fn containers_merge_by_name() {
        let pod = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "s:1"}
        ]}});
        let out = smp(
            pod,
            json!({"spec": {"containers": [
                {"name": "app", "image": "a:2", "env": [{"name": "B", "value": "2"}]},
                {"name": "side", "$patch": "delete"},
                {"name": "new", "image": "n:1"}
            ]}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"containers": [
                {"name": "app", "image": "a:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "new", "image": "n:1"}
            ]}})
        );
    }

    #[test]
    fn directives_and_nulls() {
        let obj = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
                         "spec": {"tolerations": [{"key": "k1"}], "selector": {"x": "y"}}});
        let out = smp(
            obj,
            json!({"metadata": {"labels": {"a": null, "c": "3"}, "finalizers": ["y"]},
                   "spec": {"tolerations": [{"key": "k2"}], "selector": {"$patch": "replace", "z": "w"}}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}, "finalizers": ["x", "y"]},
                   "spec": {"tolerations": [{"key": "k2"}], "selector": {"z": "w"}}})
        );
    }

    #[test]
    fn conditions_merge_by_type_and_lists_can_be_replaced() {
        let obj = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "X", "status": "True"}]}});
        let out = smp(
            obj.clone(),
            json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert_eq!(out["status"]["conditions"][0]["status"], "True");
        assert_eq!(out["status"]["conditions"].as_array().unwrap().len(), 2);
        let out = smp(
            obj,
            json!({"status": {"conditions": [{"$patch": "replace"}, {"type": "Y"}]}}),
        );
        assert_eq!(out["status"]["conditions"], json!([{"type": "Y"}]));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchKind::from_content_type("application/merge-patch+json; charset=utf-8").unwrap(),
            PatchKind::Merge
        );
        assert_eq!(
            PatchKind::from_content_type("text/plain").unwrap_err().code,
            415
        );
    }
}
