//! Discovery: `/version`, `/api`, `/apis`, `/apis/<group>` and the resource lists of each
//! group version, in the legacy format (kubectl falls back to it when a server does not
//! answer aggregated discovery).

use axum::response::Response;
use serde_json::{Value, json};

use super::request::json_value;
use super::status::ApiError;
use crate::resources::{self, RESOURCE_TYPES, ResourceType};

/// The Kubernetes version the simulated server claims.
pub(super) const GIT_VERSION: &str = "v1.34.0";

/// `GET /version`.
pub async fn version() -> Response {
    json_value(
        200,
        &json!({
            "major": "1",
            "minor": "34",
            "gitVersion": GIT_VERSION,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-08-27T00:00:00Z",
            "goVersion": "go1.24.6",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
    )
}

/// `GET /api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    })
}

fn group_json(group: &str) -> Option<Value> {
    let versions: Vec<Value> = resources::groups()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first()?.clone();
    Some(json!({"name": group, "versions": versions, "preferredVersion": preferred}))
}

/// `GET /apis`.
pub fn groups() -> Value {
    let mut names: Vec<&str> = Vec::new();
    for (g, _) in resources::groups() {
        if !names.contains(&g) {
            names.push(g);
        }
    }
    let groups: Vec<Value> = names.into_iter().filter_map(group_json).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`.
pub fn group(group: &str) -> Result<Value, ApiError> {
    let mut g = group_json(group).ok_or_else(ApiError::unknown_resource)?;
    let obj = g.as_object_mut().expect("built as an object");
    obj.insert("kind".into(), json!("APIGroup"));
    obj.insert("apiVersion".into(), json!("v1"));
    Ok(g)
}

/// `GET /api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(group: &str, version: &str) -> Result<Value, ApiError> {
    let types: Vec<&ResourceType> = RESOURCE_TYPES
        .iter()
        .filter(|rt| rt.group == group && rt.version == version)
        .collect();
    if types.is_empty() {
        return Err(ApiError::unknown_resource());
    }
    let mut list = Vec::new();
    for rt in types {
        let mut main = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs(),
        });
        if !rt.short_names.is_empty() {
            main["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            main["categories"] = json!(rt.categories);
        }
        list.push(main);
        for sub in rt.subresources {
            list.push(subresource(rt, sub));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    }))
}

fn subresource(rt: &ResourceType, sub: &str) -> Value {
    let mut v = json!({
        "name": format!("{}/{sub}", rt.plural),
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": ["get", "patch", "update"],
    });
    match sub {
        "scale" => {
            v["group"] = json!("autoscaling");
            v["version"] = json!("v1");
            v["kind"] = json!("Scale");
        }
        // kubectl drain looks for exactly this entry to pick the eviction API version.
        "eviction" => {
            v["group"] = json!("policy");
            v["version"] = json!("v1");
            v["kind"] = json!("Eviction");
            v["verbs"] = json!(["create"]);
        }
        "log" => v["verbs"] = json!(["get"]),
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resources_include_subresources() {
        let list = resource_list("", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        for want in [
            "pods",
            "pods/log",
            "pods/eviction",
            "pods/status",
            "nodes",
            "namespaces",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(resource_list("", "v2").is_err());
        let groups = groups();
        assert!(
            groups["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "metrics.k8s.io")
        );
    }
}
