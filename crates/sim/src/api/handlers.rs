//! The verbs on collections and objects: get, list, create, update, patch, delete and
//! deletecollection, plus the dispatch of every `/api` and `/apis` request.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use super::patch::{self, PatchKind};
use super::request::{
    Format, ObjectPath, Query, Target, check_type, decode_object, dry_run_values, json_bytes,
    json_value, parse_path,
};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::{
    ApiState, discovery, eviction, logs, metrics_api, openapi, protobuf, scale, tables, watch,
};
use crate::resources::ResourceType;
use crate::store::{DeleteOptions, Entry, Part, Propagation, StoreError};

/// Largest request body accepted, as the real API server's limit.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How many times a patch is retried when the object changed between read and write.
const PATCH_ATTEMPTS: usize = 8;

/// Serves every request the router has no explicit route for.
pub async fn dispatch(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("the request body could not be read (at most {MAX_BODY_BYTES} bytes are accepted): {e}"),
            )
            .into_response();
        }
    };
    let result = handle(&state, &parts.method, &parts.uri, &parts.headers, body).await;
    match result {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(method = %parts.method, uri = %parts.uri, code = e.code, "{}", e.message);
            e.into_response()
        }
    }
}

async fn handle(
    state: &Arc<ApiState>,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = Query::parse(uri.query())?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = if content_type.starts_with(protobuf::MEDIA_TYPE) && !body.is_empty() {
        Bytes::from(protobuf::to_json(&body)?.to_string())
    } else {
        body
    };
    let path = uri.path().trim_end_matches('/');
    if method == Method::GET && path == "/openapi/v3" {
        return Ok(json_value(200, &openapi::root()));
    }
    if method == Method::GET
        && let Some(gv) = path.strip_prefix("/openapi/v3/")
    {
        return Ok(json_value(200, &openapi::group_version(gv)?));
    }
    let target = parse_path(path).ok_or_else(ApiError::unknown_resource)?;
    let discovery_doc = |v: Result<Value, ApiError>| -> Result<Response, ApiError> {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        Ok(json_value(200, &v?))
    };
    match target {
        Target::CoreVersions => discovery_doc(Ok(discovery::core_versions())),
        Target::Groups => discovery_doc(Ok(discovery::groups())),
        Target::Group(g) => discovery_doc(discovery::group(&g)),
        Target::Resources(g, v) => discovery_doc(discovery::resource_list(&g, &v)),
        Target::Object(path) => object(state, method, &path, &query, headers, body).await,
    }
}

async fn object(
    state: &Arc<ApiState>,
    method: &Method,
    p: &ObjectPath,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if p.rt.group == "metrics.k8s.io" {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        return metrics_api::serve(state, p, query);
    }
    let format = Format::from_headers(headers);
    let named = p.name.is_some();
    let watching = p.legacy_watch || query.flag("watch");
    match (p.sub.as_deref(), method.clone(), named) {
        (None, Method::GET, _) if watching => watch::serve(state, p, query, format),
        (None, Method::GET, false) => list(state, p, query, format),
        (None, Method::POST, false) => create(state, p, query, &body),
        (None, Method::DELETE, false) => delete_collection(state, p, query, &body),
        (None | Some("status"), Method::GET, true) => get(state, p, format),
        (None, Method::PUT, true) => update(state, p, query, &body, Part::Main),
        (Some("status"), Method::PUT, true) => update(state, p, query, &body, Part::Status),
        (None, Method::PATCH, true) => patch(state, p, query, headers, &body, Part::Main),
        (Some("status"), Method::PATCH, true) => {
            patch(state, p, query, headers, &body, Part::Status)
        }
        (None, Method::DELETE, true) => delete(state, p, query, &body),
        (Some("scale"), Method::GET, true) => scale::get(state, p),
        (Some("scale"), Method::PUT, true) => scale::update(state, p, query, &body),
        (Some("scale"), Method::PATCH, true) => scale::patch(state, p, query, headers, &body),
        (Some("log"), Method::GET, true) => logs::serve(state, p, query),
        (Some("eviction"), Method::POST, true) => eviction::serve(state, p, query, &body),
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The current object, or 404.
pub fn current(state: &ApiState, p: &ObjectPath) -> Result<Arc<Entry>, ApiError> {
    state
        .store
        .get(p.rt, p.ns(), p.name())
        .ok_or_else(|| ApiError::not_found(p.rt, p.name()))
}

fn get(state: &ApiState, p: &ObjectPath, format: Format) -> Result<Response, ApiError> {
    let entry = current(state, p)?;
    Ok(match format {
        Format::Object => json_bytes(200, entry.json().clone()),
        Format::Metadata => json_value(200, &tables::partial_metadata(entry.value())),
        Format::Table => {
            let now = state.store.clock().now_ms();
            let rv = entry.resource_version().to_string();
            json_value(
                200,
                &tables::table(
                    p.rt,
                    &[entry.value()],
                    now,
                    &rv,
                    None,
                    tables::RowObject::Metadata,
                ),
            )
        }
    })
}

/// Label and field selectors of a request.
pub struct Selectors {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
}

impl Selectors {
    /// Parses `labelSelector` and `fieldSelector`; 400 on bad syntax.
    pub fn from_query(query: &Query) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        Ok(Selectors { labels, fields })
    }

    /// Whether neither selector has requirements.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether an object matches both.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj) && (self.fields.is_empty() || self.fields.matches(obj))
    }
}

/// Position of a paged list: where the next page starts and the version of the first page.
struct ContinueToken {
    rv: u64,
    namespace: String,
    name: String,
}

impl ContinueToken {
    fn encode(&self) -> String {
        let raw = format!("{}/{}/{}", self.rv, self.namespace, self.name);
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(token: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::bad_request(format!(
                "continue key {token:?} is not valid: pass the continue value of the previous page unchanged"
            ))
        };
        if !token.len().is_multiple_of(2) {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let raw = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, '/');
        let rv = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
        let namespace = parts.next().ok_or_else(bad)?.to_string();
        let name = parts.next().ok_or_else(bad)?.to_string();
        Ok(ContinueToken {
            rv,
            namespace,
            name,
        })
    }
}

/// One page of a list.
pub struct Page {
    /// The selected objects.
    pub items: Vec<Arc<Entry>>,
    /// `metadata.resourceVersion` of the list.
    pub rv: u64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Objects after this page (only for lists without selectors, as the real server).
    pub remaining: Option<usize>,
}

/// Selects the objects of a list request: namespace, selectors, `limit` and `continue`.
pub fn select(state: &ApiState, p: &ObjectPath, query: &Query) -> Result<Page, ApiError> {
    let selectors = Selectors::from_query(query)?;
    let limit = query
        .number("limit")?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let token = query
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(ContinueToken::decode)
        .transpose()?;
    let (all, store_rv) = state.store.list(p.rt, p.namespace.as_deref());
    let start = match &token {
        Some(t) => all.partition_point(|e| {
            (e.namespace(), e.name()) <= (t.namespace.as_str(), t.name.as_str())
        }),
        None => 0,
    };
    let rv = token.as_ref().map_or(store_rv, |t| t.rv);
    let mut items = Vec::new();
    let mut next = None;
    for (i, e) in all.iter().enumerate().skip(start) {
        if !selectors.matches(e.value()) {
            continue;
        }
        if limit.is_some_and(|l| items.len() == l) {
            next = Some(i);
            break;
        }
        items.push(e.clone());
    }
    let continue_token = next.and_then(|_| items.last()).map(|last| {
        ContinueToken {
            rv,
            namespace: last.namespace().to_string(),
            name: last.name().to_string(),
        }
        .encode()
    });
    let remaining = match next {
        Some(i) if selectors.is_empty() => Some(all.len() - i),
        _ => None,
    };
    Ok(Page {
        items,
        rv,
        continue_token,
        remaining,
    })
}

fn list_metadata(page: &Page) -> Value {
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    meta
}

/// A list body built from the objects' cached JSON, without serializing them again.
pub fn list_body(rt: &ResourceType, metadata: &Value, items: &[Arc<Entry>]) -> Bytes {
    let size: usize = items.iter().map(|e| e.json().len() + 1).sum();
    let mut buf = BytesMut::with_capacity(size + 256);
    buf.put_slice(b"{\"kind\":");
    buf.put_slice(json!(rt.list_kind).to_string().as_bytes());
    buf.put_slice(b",\"apiVersion\":");
    buf.put_slice(json!(rt.api_version()).to_string().as_bytes());
    buf.put_slice(b",\"metadata\":");
    buf.put_slice(metadata.to_string().as_bytes());
    buf.put_slice(b",\"items\":[");
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(e.json());
    }
    buf.put_slice(b"]}");
    buf.freeze()
}

fn list(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    format: Format,
) -> Result<Response, ApiError> {
    let page = select(state, p, query)?;
    let meta = list_metadata(&page);
    Ok(match format {
        Format::Object => json_bytes(200, list_body(p.rt, &meta, &page.items)),
        Format::Metadata => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|e| tables::partial_metadata(e.value()))
                .collect();
            json_value(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
            )
        }
        Format::Table => {
            let now = state.store.clock().now_ms();
            let row_object = tables::RowObject::from_query(query.get("includeObject"));
            let values: Vec<&Value> = page.items.iter().map(|e| e.value()).collect();
            let mut table = tables::table(
                p.rt,
                &values,
                now,
                &page.rv.to_string(),
                page.continue_token.as_deref(),
                row_object,
            );
            if let Some(r) = page.remaining {
                table["metadata"]["remainingItemCount"] = json!(r);
            }
            json_value(200, &table)
        }
    })
}

fn create(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    if p.rt.namespaced && p.namespace.is_none() {
        return Err(ApiError::method_not_allowed());
    }
    let dry = query.dry_run()?;
    let obj = decode_object(p.rt, body)?;
    let entry = state
        .store
        .create(p.rt, p.ns(), obj, dry)
        .map_err(|e| ApiError::from_store(p.rt, e))?;
    Ok(json_bytes(201, entry.json().clone()))
}

fn update(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    body: &[u8],
    part: Part,
) -> Result<Response, ApiError> {
    let dry = query.dry_run()?;
    let obj = decode_object(p.rt, body)?;
    let entry = state
        .store
        .update(p.rt, p.ns(), p.name(), obj, part, dry)
        .map_err(|e| ApiError::from_store(p.rt, e))?;
    Ok(json_bytes(200, entry.json().clone()))
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

fn patch(
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
            match state.store.create(p.rt, p.ns(), obj, dry) {
                Ok(entry) => return Ok(json_bytes(201, entry.json().clone())),
                // Someone else created it first: fall through and merge into theirs.
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(ApiError::from_store(p.rt, e)),
            }
        }
    }
    let entry = read_modify_write(state, p, part, dry, |cur| patch::apply(kind, cur, &doc))?;
    Ok(json_bytes(200, entry.json().clone()))
}

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

fn delete(
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
    Ok(json_bytes(200, entry.json().clone()))
}

fn delete_collection(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut opts = delete_options(query, body)?;
    opts.uid = None;
    opts.resource_version = None;
    let selectors = Selectors::from_query(query)?;
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

/// A streaming response body with a content type.
pub fn streaming(content_type: &'static str, body: Body) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(content_type),
    );
    resp
}
