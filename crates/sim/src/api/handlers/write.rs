//! Writing: create, update (of the object or its status) and patch, including server-side
//! apply, with retries when another writer got in between.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::current;
use crate::api::ApiState;
use crate::api::openapi::fields::{self, Write};
use crate::api::patch::{self, PatchKind};
use crate::api::request::{ObjectPath, Query, check_type, decode_object, json_bytes};
use crate::api::status::ApiError;
use crate::store::{Entry, Part, StoreError};

/// How many times a patch is retried when the object changed between read and write.
const PATCH_ATTEMPTS: usize = 8;

pub(super) fn create(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    if p.rt.namespaced && p.namespace.is_none() {
        return Err(ApiError::method_not_allowed());
    }
    let dry = query.dry_run()?;
    let mut obj = decode_object(p.rt, body)?;
    let validation = query.get("fieldValidation");
    let warnings = fields::admit(p.rt, validation, Write::Create, &mut obj, None)?;
    let entry = state
        .store
        .create(p.rt, p.ns(), obj, dry)
        .map_err(|e| ApiError::from_store(p.rt, e))?;
    Ok(fields::with_warnings(
        json_bytes(201, entry.json().clone()),
        &warnings,
    ))
}

pub(super) fn update(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    body: &[u8],
    part: Part,
) -> Result<Response, ApiError> {
    let dry = query.dry_run()?;
    let mut obj = decode_object(p.rt, body)?;
    let stored = state.store.get(p.rt, p.ns(), p.name());
    let before = stored.as_ref().map(|e| e.value());
    let validation = query.get("fieldValidation");
    let warnings = fields::admit(p.rt, validation, Write::Update, &mut obj, before)?;
    let entry = state
        .store
        .update(p.rt, p.ns(), p.name(), obj, part, dry)
        .map_err(|e| ApiError::from_store(p.rt, e))?;
    Ok(fields::with_warnings(
        json_bytes(200, entry.json().clone()),
        &warnings,
    ))
}

/// The content type of a patch request.
pub fn patch_kind(headers: &HeaderMap) -> Result<PatchKind, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    PatchKind::from_content_type(ct)
}

/// Reads an object, applies `change` to its JSON and writes it back, retrying when another
/// writer got in between, unless the change itself set a resource version (a precondition).
pub fn read_modify_write(
    state: &ApiState,
    p: &ObjectPath,
    part: Part,
    dry: bool,
    change: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Arc<Entry>, ApiError> {
    for _ in 0..PATCH_ATTEMPTS {
        let cur = current(state, p)?;
        let cur_rv = cur.resource_version().to_string();
        let mut new = change(cur.value())?;
        let explicit = new
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| rv != cur_rv);
        if !explicit && new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"]["resourceVersion"] = json!(cur_rv);
        }
        match state.store.update(p.rt, p.ns(), p.name(), new, part, dry) {
            Err(StoreError::Conflict { .. }) if !explicit => continue,
            r => return r.map_err(|e| ApiError::from_store(p.rt, e)),
        }
    }
    Err(ApiError::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{}\": the object kept changing while the patch was applied; please retry",
            p.rt.plural,
            p.name()
        ),
    ))
}

pub(super) fn patch(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
    part: Part,
) -> Result<Response, ApiError> {
    let kind = patch_kind(headers)?;
    let dry = query.dry_run()?;
    let doc = patch::parse(kind, body)?;
    if kind == PatchKind::Apply {
        if query.get("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "fieldManager is required for apply requests: add ?fieldManager=<your controller's name>",
            ));
        }
        check_type(&doc, &p.rt.api_version(), p.rt.kind)?;
        if part == Part::Main && state.store.get(p.rt, p.ns(), p.name()).is_none() {
            // Merging into nothing drops the patch directives and null fields.
            let mut obj = json!({});
            patch::strategic_merge(&mut obj, &doc);
            if obj.get("metadata").is_none_or(|m| !m.is_object()) {
                obj["metadata"] = json!({});
            }
            let named = obj["metadata"]
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !named.is_empty() && named != p.name() {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({named}) does not match the name on the URL ({})",
                    p.name()
                )));
            }
            obj["metadata"]["name"] = json!(p.name());
            let validation = query.get("fieldValidation");
            let warnings = fields::admit(p.rt, validation, Write::Patch, &mut obj, None)?;
            match state.store.create(p.rt, p.ns(), obj, dry) {
                Ok(entry) => {
                    let resp = json_bytes(201, entry.json().clone());
                    return Ok(fields::with_warnings(resp, &warnings));
                }
                // Someone else created it first: fall through and merge into theirs.
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(ApiError::from_store(p.rt, e)),
            }
        }
    }
    let warnings = std::cell::RefCell::new(Vec::new());
    let entry = read_modify_write(state, p, part, dry, |cur| {
        let mut new = patch::apply(kind, cur, &doc)?;
        let validation = query.get("fieldValidation");
        *warnings.borrow_mut() =
            fields::admit(p.rt, validation, Write::Patch, &mut new, Some(cur))?;
        Ok(new)
    })?;
    let resp = json_bytes(200, entry.json().clone());
    Ok(fields::with_warnings(resp, &warnings.borrow()))
}
