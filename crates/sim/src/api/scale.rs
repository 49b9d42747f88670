//! The `scale` subresource of deployments, replica sets and stateful sets, as
//! `autoscaling/v1` `Scale` objects.

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::ApiState;
use super::handlers::{ClientWrite, current, patch_kind, read_modify_write};
use super::patch;
use super::request::{ObjectPath, Query, check_type, json_value};
use super::selectors::LabelSelector;
use super::status::ApiError;
use crate::store::Part;

/// The `Scale` view of a workload.
fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let mut metadata = json!({});
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(f) {
            metadata[f] = v.clone();
        }
    }
    let selector = LabelSelector::from_object(obj.pointer("/spec/selector"))
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// `GET .../<name>/scale`.
pub fn get(state: &ApiState, p: &ObjectPath) -> Result<Response, ApiError> {
    Ok(json_value(200, &scale_of(current(state, p)?.value())))
}

/// `PUT .../<name>/scale`.
pub fn update(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let dry = query.dry_run()?;
    let w = ClientWrite::new(state, p, query, headers, "scale")?;
    let scale: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    check_type(&scale, "autoscaling/v1", "Scale")?;
    write(state, p, dry, &w, &scale)
}

/// `PATCH .../<name>/scale`: the patch applies to the `Scale`, whose replicas are then written.
pub fn patch(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let kind = patch_kind(headers)?;
    let dry = query.dry_run()?;
    let w = ClientWrite::new(state, p, query, headers, "scale")?;
    let doc = patch::parse(kind, body)?;
    let cur = current(state, p)?;
    let scale = patch::apply(kind, &scale_of(cur.value()), &doc)?;
    write(state, p, dry, &w, &scale)
}

fn write(
    state: &ApiState,
    p: &ObjectPath,
    dry: bool,
    w: &ClientWrite,
    scale: &Value,
) -> Result<Response, ApiError> {
    let replicas = match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!("Scale spec.replicas must be an integer, not {v}"))
        })?,
    };
    if replicas < 0 {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0",
                p.name()
            ),
        ));
    }
    let precondition = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
        .map(String::from);
    let entry = read_modify_write(state, p, Part::Main, dry, (w, true), |cur| {
        let mut v = cur.clone();
        v["spec"]["replicas"] = json!(replicas);
        if let Some(rv) = &precondition {
            v["metadata"]["resourceVersion"] = json!(rv);
        }
        Ok(v)
    })?;
    Ok(json_value(200, &scale_of(entry.value())))
}
