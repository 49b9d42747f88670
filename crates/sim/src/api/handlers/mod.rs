//! The verbs on collections and objects: get, list, create, update, patch, delete and
//! deletecollection, plus the dispatch of every `/api` and `/apis` request.
//!
//! This module routes a request to its verb; the verbs live by what they do: [`read`] (get,
//! list, selectors and paging), [`write`] (create, update, patch) and [`delete`].

mod delete;
mod read;
mod write;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::auth::{self, User};
use super::request::{Format, ObjectPath, Query, Target, json_value, parse_path};
use super::status::ApiError;
use super::{ApiState, discovery, eviction, logs, metrics_api, openapi, protobuf, scale, watch};
use crate::store::{Entry, Part};

pub use delete::delete_options_from;
pub use read::Selectors;
pub use write::{ClientWrite, patch_kind, read_modify_write};

/// Largest request body accepted, as the real API server's limit.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

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
    // The gate puts the caller there; a router built without it serves the administrator.
    let user = parts
        .extensions
        .get::<User>()
        .cloned()
        .unwrap_or_else(User::admin);
    let req = Incoming {
        method: &parts.method,
        headers: &parts.headers,
        user: &user,
    };
    let result = handle(&state, &req, &parts.uri, body).await;
    match result {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(method = %parts.method, uri = %parts.uri, code = e.code, "{}", e.message);
            e.into_response()
        }
    }
}

/// Who asks, and how.
struct Incoming<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    user: &'a User,
}

async fn handle(
    state: &Arc<ApiState>,
    req: &Incoming<'_>,
    uri: &axum::http::Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (method, headers) = (req.method, req.headers);
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
        Target::Object(path) if path.rt.is_review() => {
            if method != Method::POST || path.name.is_some() {
                return Err(ApiError::method_not_allowed());
            }
            auth::answer_review(&state.store, path.rt, req.user, &body)
        }
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
        (None, Method::GET, _) if watching => {
            let encoding = protobuf::Encoding::accepted(headers);
            watch::serve(state, p, query, format, encoding)
        }
        (None, Method::GET, false) => read::list(state, p, query, format),
        (None, Method::POST, false) => write::create(state, p, query, headers, &body),
        (None, Method::DELETE, false) => delete::delete_collection(state, p, query, &body),
        (None | Some("status"), Method::GET, true) => read::get(state, p, format),
        (None, Method::PUT, true) => write::update(state, p, query, headers, &body, Part::Main),
        (Some("status"), Method::PUT, true) => {
            write::update(state, p, query, headers, &body, Part::Status)
        }
        (None, Method::PATCH, true) => write::patch(state, p, query, headers, &body, Part::Main),
        (Some("status"), Method::PATCH, true) => {
            write::patch(state, p, query, headers, &body, Part::Status)
        }
        (None, Method::DELETE, true) => delete::delete(state, p, query, &body),
        (Some("scale"), Method::GET, true) => scale::get(state, p),
        (Some("scale"), Method::PUT, true) => scale::update(state, p, query, headers, &body),
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

/// A streaming response body with a content type.
pub fn streaming(content_type: &'static str, body: Body) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(content_type),
    );
    resp
}
