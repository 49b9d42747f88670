//! The OpenAPI documents, as kube-apiserver 1.34 serves them: `/openapi/v3` (an index of
//! group versions, each with the URL of its document and the document's hash),
//! `/openapi/v3/api/v1` and `/openapi/v3/apis/<group>/<version>` (OpenAPI 3.0), and
//! `/openapi/v2` (Swagger 2.0, every group version in one document).
//!
//! The schemas are generated from the k8s-openapi types the store and the controllers use
//! ([`schemas`]), with the patch and list extensions those types leave out
//! ([`extensions`]); the operations follow [`crate::resources::RESOURCE_TYPES`] ([`paths`]).
//! Nothing is written by hand per kind, so a kind added to the API server is described by
//! the next build. kubectl reads them for `kubectl explain`, for the patches of `kubectl
//! apply` (the merge keys) and to learn that the server validates fields itself
//! (`fieldValidation` on every `PATCH`).
//!
//! The documents are built once, on first use, and served with an `ETag` (the SHA-512 of the
//! JSON, as kube-apiserver computes it); a `?hash=` URL that matches is cacheable for a year,
//! one that no longer does is redirected to the current one. Only JSON is served: a client
//! that accepts nothing but the protobuf encoding gets a 406, as from a kube-apiserver without
//! it.

mod extensions;
mod params;
mod paths;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use super::status::ApiError;
use schemas::{Definitions, REF_PREFIX};

/// What the `info` of every document says.
const TITLE: &str = "Kubernetes";

/// One serialized document and its entity tag.
struct Served {
    body: Bytes,
    etag: String,
}

impl Served {
    fn new(doc: &Value) -> Self {
        let body = Bytes::from(serde_json::to_vec(doc).expect("a JSON value serializes"));
        let etag = Sha512::digest(&body)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Served { body, etag }
    }
}

/// Every document, built once.
struct Documents {
    /// `/openapi/v3`.
    root: Bytes,
    /// `/openapi/v2`.
    v2: Served,
    /// `/openapi/v3/<key>`, by key (`api/v1`, `apis/apps/v1`).
    v3: BTreeMap<String, Served>,
}

static DOCUMENTS: OnceLock<Documents> = OnceLock::new();

fn documents() -> &'static Documents {
    DOCUMENTS.get_or_init(|| {
        let started = Instant::now();
        let docs = build();
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            v2_bytes = docs.v2.body.len(),
            v3_bytes = docs.v3.values().map(|d| d.body.len()).sum::<usize>(),
            "built the OpenAPI documents"
        );
        docs
    })
}

fn build() -> Documents {
    build_with(&schemas::build())
}

fn build_with(defs: &Definitions) -> Documents {
    let mut v3 = BTreeMap::new();
    let mut all_paths = Map::new();
    for (group, version) in schemas::group_versions() {
        let paths = paths::paths(defs, group, version);
        if paths.is_empty() {
            continue;
        }
        let key = paths::prefix(group, version)[1..].to_string();
        v3.insert(key, Served::new(&v3_document(defs, &paths)));
        all_paths.extend(paths);
    }
    let root: Map<String, Value> = v3
        .iter()
        .map(|(key, doc)| {
            let url = format!("/openapi/v3/{key}?hash={}", doc.etag);
            (key.clone(), json!({"serverRelativeURL": url}))
        })
        .collect();
    let root = serde_json::to_vec(&json!({"paths": root})).expect("a JSON value serializes");
    Documents {
        root: root.into(),
        v2: Served::new(&v2_document(defs, all_paths)),
        v3,
    }
}

/// The definitions the paths refer to, transitively, with `$ref`s under `prefix`.
fn used_definitions(
    defs: &Definitions,
    paths: &Map<String, Value>,
    prefix: &str,
) -> Map<String, Value> {
    let mut roots = Vec::new();
    for item in paths.values() {
        schemas::refs(item, &mut roots);
    }
    schemas::closure(&defs.schemas, roots)
        .into_iter()
        .filter_map(|name| {
            let mut schema = defs.schemas.get(&name)?.clone();
            rewrite_refs(&mut schema, prefix, prefix.contains("components"));
            Some((name, schema))
        })
        .collect()
}

/// Moves `$ref`s from [`REF_PREFIX`] to `prefix`. OpenAPI 3 ignores what sits beside a
/// `$ref`; with `all_of`, a `$ref` with a description beside it becomes `allOf: [{$ref}]`, as
/// kube-apiserver writes it.
fn rewrite_refs(value: &mut Value, prefix: &str, all_of: bool) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(name) = r.strip_prefix(REF_PREFIX)
            {
                let r = Value::String(format!("{prefix}{name}"));
                if all_of && map.len() > 1 {
                    map.remove("$ref");
                    map.insert("allOf".into(), json!([{"$ref": r}]));
                } else {
                    map.insert("$ref".into(), r);
                }
            }
            for (k, v) in map.iter_mut() {
                if k != "$ref" {
                    rewrite_refs(v, prefix, all_of);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| rewrite_refs(v, prefix, all_of)),
        _ => {}
    }
}

fn v3_document(defs: &Definitions, paths: &Map<String, Value>) -> Value {
    let prefix = "#/components/schemas/";
    let mut schemas = used_definitions(defs, paths, prefix);
    schemas::openapi3_scalar_unions(&mut schemas);
    let mut paths = Value::Object(paths.clone());
    rewrite_refs(&mut paths, prefix, true);
    json!({
        "openapi": "3.0.0",
        "info": {"title": TITLE, "version": super::discovery::GIT_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            }},
        },
    })
}

fn v2_document(defs: &Definitions, paths: Map<String, Value>) -> Value {
    let prefix = "#/definitions/";
    let definitions = used_definitions(defs, &paths, prefix);
    let mut paths: Map<String, Value> = paths
        .into_iter()
        .map(|(path, item)| (path, v2_path_item(item)))
        .collect();
    for item in paths.values_mut() {
        rewrite_refs(item, prefix, false);
    }
    json!({
        "swagger": "2.0",
        "info": {"title": TITLE, "version": super::discovery::GIT_VERSION},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": {
            "description": "Bearer Token authentication",
            "in": "header",
            "name": "authorization",
            "type": "apiKey",
        }},
        "security": [{"BearerToken": []}],
    })
}

/// A v3 path item in Swagger 2.0 form: parameter types inline, the request body as a `body`
/// parameter, one schema per response and the media types in `consumes` and `produces`.
fn v2_path_item(item: Value) -> Value {
    let Value::Object(item) = item else {
        return item;
    };
    let mut out = Map::new();
    for (key, value) in item {
        let value = match key.as_str() {
            "parameters" => v2_parameters(value),
            _ => v2_operation(value),
        };
        out.insert(key, value);
    }
    Value::Object(out)
}

fn v2_parameters(params: Value) -> Value {
    let Value::Array(params) = params else {
        return params;
    };
    let params = params.into_iter().map(|mut p| {
        if let Some(Value::Object(schema)) = p.as_object_mut().and_then(|p| p.remove("schema")) {
            p.as_object_mut().expect("checked above").extend(schema);
        }
        p
    });
    Value::Array(params.collect())
}

fn v2_operation(op: Value) -> Value {
    let Value::Object(mut op) = op else {
        return op;
    };
    let mut params = op.remove("parameters").map(v2_parameters);
    if let Some(body) = op.remove("requestBody") {
        let content = body["content"].as_object().cloned().unwrap_or_default();
        let schema = content
            .values()
            .next()
            .map(|c| c["schema"].clone())
            .unwrap_or(Value::Null);
        let mut param = json!({"in": "body", "name": "body", "schema": schema});
        if body["required"] == json!(true) {
            param["required"] = json!(true);
        }
        let list = params.get_or_insert_with(|| json!([]));
        if let Value::Array(list) = list {
            list.insert(0, param);
        }
        op.insert("consumes".into(), json!(content.keys().collect::<Vec<_>>()));
    }
    if let Some(params) = params {
        op.insert("parameters".into(), params);
    }
    let mut produces: Vec<String> = Vec::new();
    if let Some(Value::Object(responses)) = op.get_mut("responses") {
        for response in responses.values_mut() {
            let Some(Value::Object(content)) =
                response.as_object_mut().and_then(|r| r.remove("content"))
            else {
                continue;
            };
            for media in content.keys() {
                if !produces.contains(media) {
                    produces.push(media.clone());
                }
            }
            if let Some(schema) = content.values().next().map(|c| c["schema"].clone()) {
                response["schema"] = schema;
            }
        }
    }
    if !produces.is_empty() {
        op.insert("produces".into(), json!(produces));
    }
    op.insert("schemes".into(), json!(["https"]));
    Value::Object(op)
}

/// Serves `/openapi/...`; `None` for every other path.
pub fn serve(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Result<Response, ApiError>> {
    let rest = path.strip_prefix("/openapi")?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        return Some(Err(ApiError::method_not_allowed()));
    }
    let docs = documents();
    let v3_json = ["application/json"];
    Some(match rest {
        "/v3" => Ok(json_response(docs.root.clone())),
        "/v2" => Ok(document(&docs.v2, headers, &["application/json"], None)),
        _ => match rest
            .strip_prefix("/v3/")
            .and_then(|key| docs.v3.get(key).map(|d| (key, d)))
        {
            Some((key, doc)) => {
                let hash = query
                    .into_iter()
                    .flat_map(|q| q.split('&'))
                    .find_map(|kv| kv.strip_prefix("hash="));
                match hash {
                    Some(h) if h != doc.etag => {
                        Ok(redirect(&format!("/openapi/v3/{key}?hash={}", doc.etag)))
                    }
                    _ => Ok(document(doc, headers, &v3_json, hash)),
                }
            }
            None => Err(ApiError::unknown_resource()),
        },
    })
}

fn json_response(body: Bytes) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::MOVED_PERMANENTLY.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// A document in the first media type of the `Accept` header that it is served in, with its
/// `ETag`; 304 when the client has it already, 406 when it accepts none of `served`.
fn document(doc: &Served, headers: &HeaderMap, served: &[&str], hash: Option<&str>) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    if !accepts(accept, served) {
        let mut resp = StatusCode::NOT_ACCEPTABLE.into_response();
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
        return resp;
    }
    let etag = format!("\"{}\"", doc.etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(doc.body.clone())
    };
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if hash.is_some() {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        let expires = chrono::Utc::now() + chrono::Duration::days(365);
        let expires = expires.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        if let Ok(v) = HeaderValue::from_str(&expires) {
            h.insert(header::EXPIRES, v);
        }
    }
    resp
}

/// Whether an `Accept` header takes one of `served` (`*/*` and `type/*` included), clauses
/// with `q=0` excepted.
fn accepts(accept: &str, served: &[&str]) -> bool {
    accept.split(',').any(|clause| {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                == Some(0.0)
        });
        if refused {
            return false;
        }
        served.iter().any(|s| {
            media == "*/*"
                || media == *s
                || media
                    .strip_suffix("/*")
                    .is_some_and(|t| s.split('/').next() == Some(t))
        })
    })
}
