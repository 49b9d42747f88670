//! A minimal OpenAPI v3 description: one `PATCH` operation per resource type, tagged with its
//! group, version and kind and declaring the `fieldValidation` parameter.
//!
//! kubectl 1.32 reads it before `create -f` and `apply -f` to decide whether the server
//! validates fields itself; without it kubectl falls back to client-side validation, which
//! needs the full OpenAPI v2 document and fails. The operations carry no request bodies, so
//! `kubectl apply` computes its patches from its built-in types. There are no schemas:
//! `kubectl explain` is not supported.

use serde_json::{Map, Value, json};

use super::status::ApiError;
use crate::resources::{self, RESOURCE_TYPES};

/// Changes whenever the documents do, so kubectl's cache notices.
const HASH: &str = "nightshift-sim-1";

/// `GET /openapi/v3`: where each group version's document is.
pub fn root() -> Value {
    let mut paths = Map::new();
    let mut gvs = vec![(String::new(), "v1".to_string())];
    gvs.extend(
        resources::groups()
            .into_iter()
            .map(|(g, v)| (g.to_string(), v.to_string())),
    );
    for (g, v) in gvs {
        let path = gv_path(&g, &v);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={HASH}")}),
        );
    }
    json!({"paths": paths})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`.
pub fn group_version(path: &str) -> Result<Value, ApiError> {
    let mut paths = Map::new();
    for rt in RESOURCE_TYPES
        .iter()
        .filter(|rt| rt.writable && gv_path(rt.group, rt.version) == path)
    {
        let prefix = format!("/{path}");
        let url = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{prefix}/{}/{{name}}", rt.plural)
        };
        paths.insert(
            url,
            json!({"patch": {
                "operationId": format!("patch{}", rt.kind),
                "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                ],
                "responses": {"200": {"description": "OK"}},
            }}),
        );
    }
    if paths.is_empty() {
        return Err(ApiError::unknown_resource());
    }
    Ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
        "components": {},
    }))
}
