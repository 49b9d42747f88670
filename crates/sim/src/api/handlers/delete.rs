//! Deleting: one object or a collection, with the options of the query and of the
//! `DeleteOptions` body.

use axum::response::Response;
use serde_json::{Value, json};

use super::read::{Selectors, list_body};
use crate::api::ApiState;
use crate::api::request::{ObjectPath, Query, dry_run_values, json_bytes, json_value};
use crate::api::status::{ApiError, deleted_details, success};
use crate::store::{DeleteOptions, Propagation, StoreError};

/// Reads deletion options from the query and the `DeleteOptions` body (the body wins).
pub fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions {
        grace_period_seconds: query.number("gracePeriodSeconds")?,
        dry_run: query.dry_run()?,
        ..DeleteOptions::default()
    };
    if let Some(p) = query.get("propagationPolicy") {
        opts.propagation = propagation(p)?;
    }
    if query.get("orphanDependents") == Some("true") {
        opts.propagation = Propagation::Orphan;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(opts);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    delete_options_from(&mut opts, &v)?;
    Ok(opts)
}

/// Applies a `DeleteOptions` object onto `opts`.
pub fn delete_options_from(opts: &mut DeleteOptions, v: &Value) -> Result<(), ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the DeleteOptions body must be a JSON object",
        ));
    }
    if let Some(g) = v.get("gracePeriodSeconds").filter(|g| !g.is_null()) {
        let g = g.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!("gracePeriodSeconds must be an integer, not {g}"))
        })?;
        opts.grace_period_seconds = Some(g.max(0));
    }
    if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
        opts.propagation = propagation(p)?;
    }
    if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
        opts.propagation = Propagation::Orphan;
    }
    if let Some(uid) = v.pointer("/preconditions/uid").and_then(Value::as_str) {
        opts.uid = Some(uid.to_string());
    }
    if let Some(rv) = v
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
    {
        opts.resource_version = Some(rv.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "preconditions.resourceVersion {rv:?} is not valid: it must be a resource version the server returned"
            ))
        })?);
    }
    if let Some(values) = v.get("dryRun").and_then(Value::as_array) {
        opts.dry_run |= dry_run_values(values.iter().filter_map(Value::as_str))?;
    }
    Ok(())
}

fn propagation(p: &str) -> Result<Propagation, ApiError> {
    match p {
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        "Orphan" => Ok(Propagation::Orphan),
        other => Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}

pub(super) fn delete(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    let opts = delete_options(query, body)?;
    let entry = state
        .store
        .delete(p.rt, p.ns(), p.name(), &opts)
        .map_err(|e| ApiError::from_store(p.rt, e))?;
    // kube-apiserver answers with the object while it still exists (a graceful deletion or
    // one waiting on finalizers) and for pods, whose storage returns the deleted object;
    // otherwise with a Status of success naming what was deleted.
    let pending = entry
        .value()
        .pointer("/metadata/deletionTimestamp")
        .is_some();
    if pending || (p.rt.group.is_empty() && p.rt.kind == "Pod") {
        return Ok(json_bytes(200, entry.json().clone()));
    }
    let details = deleted_details(p.rt, entry.value());
    Ok(json_value(200, &success(None, Some(details))))
}

pub(super) fn delete_collection(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut opts = delete_options(query, body)?;
    opts.uid = None;
    opts.resource_version = None;
    let selectors = Selectors::from_query(query, p.rt)?;
    let (all, _) = state.store.list(p.rt, p.namespace.as_deref());
    let mut deleted = Vec::new();
    for e in all.iter().filter(|e| selectors.matches(e.value())) {
        match state.store.delete(p.rt, e.namespace(), e.name(), &opts) {
            Ok(entry) => deleted.push(entry),
            Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(ApiError::from_store(p.rt, err)),
        }
    }
    let meta = json!({"resourceVersion": state.store.resource_version().to_string()});
    Ok(json_bytes(200, list_body(p.rt, &meta, &deleted)))
}
