//! Unknown fields in written objects, found with the schemas of the OpenAPI documents, and
//! what the `fieldValidation` parameter says to do about them, as kube-apiserver's strict
//! decoding does: `Strict` refuses the write (400), `Warn` (the default) and `Ignore` drop the
//! fields, `Warn` with a `Warning` header per field (kubectl prints them).
//!
//! Paths are written as kube-apiserver writes them: `spec.replcas`,
//! `spec.template.spec.containers[0].imagee`. A patch is answered for the fields it adds: a
//! field the stored object already had is left alone.

use std::collections::BTreeSet;

use axum::http::HeaderValue;
use axum::response::Response;
use serde_json::{Map, Value};

use super::definitions;
use super::schemas::REF_PREFIX;
use crate::api::status::ApiError;
use crate::resources::ResourceType;

/// What a write is, for the wording of the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `POST`.
    Create,
    /// `PUT`.
    Update,
    /// `PATCH`.
    Patch,
}

impl Write {
    fn options(self) -> &'static str {
        match self {
            Write::Create => "CreateOptions",
            Write::Update => "UpdateOptions",
            Write::Patch => "PatchOptions",
        }
    }
}

/// Checks `obj`, about to be written as a `rt`, for unknown fields, and drops them unless the
/// write is refused; `before` is the stored object a patch started from. Returns the warnings
/// to send.
pub fn admit(
    rt: &ResourceType,
    directive: Option<&str>,
    write: Write,
    obj: &mut Value,
    before: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    let directive = match directive.unwrap_or("") {
        "" | "Warn" => "Warn",
        d @ ("Ignore" | "Strict") => d,
        other => {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "{}.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\"",
                    write.options()
                ),
            ));
        }
    };
    let Some(schema) = kind_schema(rt) else {
        return Ok(Vec::new());
    };
    let mut known_before = BTreeSet::new();
    if let Some(before) = before {
        known_before.extend(unknown_paths(schema, before));
    }
    let mut found = Vec::new();
    walk(
        schema,
        obj,
        "",
        &mut found,
        &known_before,
        directive != "Strict",
    );
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let messages: Vec<String> = found
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match directive {
        "Strict" => {
            let strict = format!("strict decoding error: {}", messages.join(", "));
            Err(ApiError::bad_request(match write {
                Write::Patch => strict,
                _ => format!(
                    "{kind} in version \"{}\" cannot be handled as a {kind}: {strict}",
                    rt.version,
                    kind = rt.kind
                ),
            }))
        }
        "Ignore" => Ok(Vec::new()),
        _ => Ok(messages),
    }
}

/// Adds a `Warning: 299 - "..."` header per warning.
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

fn kind_schema(rt: &ResourceType) -> Option<&'static Value> {
    let defs = definitions();
    let name = defs.name(rt.group, rt.version, rt.kind)?;
    defs.schemas.get(name)
}

fn unknown_paths(schema: &Value, obj: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(
        schema,
        &mut obj.clone(),
        "",
        &mut found,
        &BTreeSet::new(),
        false,
    );
    found
}

fn resolve(schema: &Value) -> &Value {
    let mut s = schema;
    for _ in 0..8 {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => match definitions().schemas.get(r.trim_start_matches(REF_PREFIX)) {
                Some(target) => s = target,
                None => break,
            },
            None => break,
        }
    }
    s
}

/// Collects the unknown fields under `path` (those not in `keep`), removing them with `prune`.
fn walk(
    schema: &Value,
    value: &mut Value,
    path: &str,
    found: &mut Vec<String>,
    keep: &BTreeSet<String>,
    prune: bool,
) {
    let schema = resolve(schema);
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = schema.get("properties") {
                object(props, map, path, found, keep, prune);
            } else if let Some(items) = schema.get("additionalProperties").filter(|s| s.is_object())
            {
                for (k, v) in map.iter_mut() {
                    walk(items, v, &join(path, k), found, keep, prune);
                }
            }
        }
        Value::Array(list) => {
            if let Some(items) = schema.get("items") {
                for (i, v) in list.iter_mut().enumerate() {
                    walk(items, v, &format!("{path}[{i}]"), found, keep, prune);
                }
            }
        }
        _ => {}
    }
}

fn object(
    props: &Map<String, Value>,
    map: &mut Map<String, Value>,
    path: &str,
    found: &mut Vec<String>,
    keep: &BTreeSet<String>,
    prune: bool,
) {
    let mut drop = Vec::new();
    for (k, v) in map.iter_mut() {
        let at = join(path, k);
        match props.get(k) {
            Some(p) => walk(p, v, &at, found, keep, prune),
            None if keep.contains(&at) => {}
            None => {
                found.push(at);
                drop.push(k.clone());
            }
        }
    }
    if prune {
        for k in drop {
            map.remove(&k);
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
