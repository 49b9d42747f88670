//! Writing: create, update (of the object or its status) and patch, including server-side
//! apply, with retries when another writer got in between. Every client write goes through
//! the same steps, whatever the kind: undeclared fields per `fieldValidation`, then (under
//! the store's lock, after defaulting) Secret `stringData`, values the server allocated,
//! immutable fields and managed fields.

use std::cell::RefCell;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};

use super::current;
use crate::api::ApiState;
use crate::api::fields::{self, FieldValidation, Wording, add_warnings};
use crate::api::managed::{self, Writer};
use crate::api::patch::{self, PatchKind};
use crate::api::request::{ObjectPath, Query, check_type, decode_object, json_bytes};
use crate::api::status::ApiError;
use crate::clock::rfc3339;
use crate::resources::ResourceType;
use crate::store::{Entry, Part, StoreError, check_immutable, validate};

/// How many times a patch is retried when the object changed between read and write.
const PATCH_ATTEMPTS: usize = 8;

/// Who writes and how strictly: the request's field manager and field validation.
pub struct ClientWrite {
    /// The field manager, API version, subresource and time of the write.
    pub writer: Writer,
    /// What to do with fields the type does not declare.
    pub validation: FieldValidation,
    rt: &'static ResourceType,
}

impl ClientWrite {
    /// Reads `fieldManager` (or the `User-Agent`) and `fieldValidation` of a request on
    /// `subresource` (`""`, `status` or `scale`).
    pub fn new(
        state: &ApiState,
        p: &ObjectPath,
        query: &Query,
        headers: &HeaderMap,
        subresource: &'static str,
    ) -> Result<Self, ApiError> {
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let manager = managed::manager_name(query.get("fieldManager"), agent)?;
        Ok(ClientWrite {
            writer: Writer {
                manager,
                api_version: p.rt.api_version(),
                subresource,
                now: rfc3339(state.store.clock().now_ms()),
            },
            validation: FieldValidation::from_query(query, state.field_validation)?,
            rt: p.rt,
        })
    }

    /// The store's admission step for this write: `record` says whether managed fields are
    /// recorded as an update (server-side apply records its own).
    fn admit(
        &self,
        record: bool,
    ) -> impl Fn(Option<&Value>, &mut Value) -> Result<(), StoreError> + '_ {
        move |old, new| {
            string_data(self.rt, new);
            if let Some(old) = old {
                keep_allocated(self.rt, old, new);
                validate(self.rt, new)?;
                check_immutable(self.rt, old, new)?;
            }
            if record {
                managed::record_update(&self.writer, old, new);
            }
            Ok(())
        }
    }
}

/// A Secret's `stringData` merged into `data` as base64, as the API server does on write.
fn string_data(rt: &ResourceType, obj: &mut Value) {
    if !(rt.group.is_empty() && rt.kind == "Secret") {
        return;
    }
    let Some(Value::Object(plain)) = obj.as_object_mut().and_then(|m| m.remove("stringData"))
    else {
        return;
    };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = json!({});
    }
    for (k, v) in plain {
        let text = v.as_str().unwrap_or_default();
        obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// What the server allocated and an update left out stays: a Service's cluster IPs and
/// node ports (kube-apiserver copies them so `kubectl replace` of a manifest works).
fn keep_allocated(rt: &ResourceType, old: &Value, new: &mut Value) {
    let service = rt.group.is_empty() && rt.kind == "Service";
    if !(service && new.get("spec").is_some_and(Value::is_object)) {
        return;
    }
    for f in ["clusterIP", "clusterIPs"] {
        if new["spec"].get(f).is_none_or(|v| v.is_null() || v == "")
            && let Some(was) = old.pointer(&format!("/spec/{f}"))
        {
            new["spec"][f] = was.clone();
        }
    }
    let old_ports = old
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter(|p| p.get("nodePort").is_none()) {
            let same = old_ports.iter().find(|o| o.get("port") == port.get("port"));
            if let Some(np) = same.and_then(|o| o.get("nodePort")) {
                port["nodePort"] = np.clone();
            }
        }
    }
}

pub(super) fn create(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    if p.rt.namespaced && p.namespace.is_none() {
        return Err(ApiError::method_not_allowed());
    }
    let dry = query.dry_run()?;
    let w = ClientWrite::new(state, p, query, headers, "")?;
    let mut obj = decode_object(p.rt, body)?;
    let warnings = fields::check(p.rt, &mut obj, w.validation, Wording::Decode)?;
    let entry = state
        .store
        .create_admitted(p.rt, p.ns(), obj, dry, &w.admit(true))
        .map_err(|e| ApiError::from_store(p.rt, e))?;
    let mut resp = json_bytes(201, entry.json().clone());
    add_warnings(&mut resp, &warnings);
    Ok(resp)
}

pub(super) fn update(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
    part: Part,
) -> Result<Response, ApiError> {
    let dry = query.dry_run()?;
    let w = ClientWrite::new(state, p, query, headers, subresource(part))?;
    let mut obj = decode_object(p.rt, body)?;
    let warnings = fields::check(p.rt, &mut obj, w.validation, Wording::Decode)?;
    let entry = state
        .store
        .update_admitted(p.rt, p.ns(), p.name(), obj, part, dry, &w.admit(true))
        .map_err(|e| ApiError::from_store(p.rt, e))?;
    let mut resp = json_bytes(200, entry.json().clone());
    add_warnings(&mut resp, &warnings);
    Ok(resp)
}

fn subresource(part: Part) -> &'static str {
    match part {
        Part::Main => "",
        Part::Status => "status",
    }
}

/// The content type of a patch request.
pub fn patch_kind(headers: &HeaderMap) -> Result<PatchKind, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    PatchKind::from_content_type(ct)
}

/// Reads an object, applies `change` to its JSON and writes it back as `w`, retrying when
/// another writer got in between, unless the change itself set a resource version (a
/// precondition). `record` says whether the write is recorded in the managed fields as an
/// update (an apply's `change` records it itself).
pub fn read_modify_write(
    state: &ApiState,
    p: &ObjectPath,
    part: Part,
    dry: bool,
    (w, record): (&ClientWrite, bool),
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
        let admit = w.admit(record);
        match state
            .store
            .update_admitted(p.rt, p.ns(), p.name(), new, part, dry, &admit)
        {
            Err(StoreError::Conflict { .. }) if !explicit => continue,
            r => return r.map_err(|e| ApiError::from_store(p.rt, e)),
        }
    }
    Err(ApiError::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{}\": the object kept changing while the patch was applied; please retry",
            p.rt.qualified(),
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
    let w = ClientWrite::new(state, p, query, headers, subresource(part))?;
    let mut doc = patch::parse(kind, body)?;
    let force = query.flag("force");
    if force && kind != PatchKind::Apply {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
        )
        .with_details(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
            {"reason": "FieldValueForbidden", "message": "Forbidden: may not be specified for non-apply patch", "field": "force"}
        ]})));
    }
    if kind != PatchKind::Apply {
        let warnings = RefCell::new(Vec::new());
        let entry = read_modify_write(state, p, part, dry, (&w, true), |cur| {
            let mut new = patch::apply(kind, cur, &doc)?;
            *warnings.borrow_mut() = fields::check(p.rt, &mut new, w.validation, Wording::Decode)?;
            Ok(new)
        })?;
        let mut resp = json_bytes(200, entry.json().clone());
        add_warnings(&mut resp, &warnings.into_inner());
        return Ok(resp);
    }
    if query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        )
        .with_details(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
            {"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}
        ]})));
    }
    check_type(&doc, &p.rt.api_version(), p.rt.kind)?;
    let warnings = fields::check(p.rt, &mut doc, w.validation, Wording::Apply)?;
    let merge = |cur: &Value, config: &Value| patch::apply(kind, cur, config);
    if part == Part::Main && state.store.get(p.rt, p.ns(), p.name()).is_none() {
        let mut obj = managed::apply(&w.writer, &json!({}), &doc, force, merge)?;
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
        match state
            .store
            .create_admitted(p.rt, p.ns(), obj, dry, &w.admit(false))
        {
            Ok(entry) => {
                let mut resp = json_bytes(201, entry.json().clone());
                add_warnings(&mut resp, &warnings);
                return Ok(resp);
            }
            // Someone else created it first: fall through and merge into theirs.
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(ApiError::from_store(p.rt, e)),
        }
    }
    let entry = read_modify_write(state, p, part, dry, (&w, false), |cur| {
        managed::apply(&w.writer, cur, &doc, force, merge)
    })?;
    let mut resp = json_bytes(200, entry.json().clone());
    add_warnings(&mut resp, &warnings);
    Ok(resp)
}
