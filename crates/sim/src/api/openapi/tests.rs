use std::collections::BTreeSet;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::Value;

use super::*;
use crate::resources::RESOURCE_TYPES;

fn doc(served: &Served) -> Value {
    serde_json::from_slice(&served.body).unwrap()
}

fn v3(key: &str) -> Value {
    doc(&documents().v3[key])
}

fn gv_key(group: &str, version: &str) -> String {
    paths::prefix(group, version)[1..].to_string()
}

fn has_gvk(schema: &Value, group: &str, version: &str, kind: &str) -> bool {
    schema["x-kubernetes-group-version-kind"]
        .as_array()
        .is_some_and(|l| l.contains(&schemas::gvk(group, version, kind)))
}

#[test]
fn every_served_kind_has_a_schema_with_its_group_version_kind() {
    for rt in RESOURCE_TYPES {
        let d = v3(&gv_key(rt.group, rt.version));
        let schemas = d["components"]["schemas"].as_object().unwrap();
        let mut kinds = vec![rt.kind];
        if schemas::has_list(rt) {
            kinds.push(rt.list_kind);
        }
        for kind in kinds {
            let found = schemas
                .values()
                .any(|s| has_gvk(s, rt.group, rt.version, kind));
            assert!(found, "no schema of {}/{} {kind}", rt.group, rt.version);
        }
        if rt.group != "metrics.k8s.io" {
            assert!(
                schemas::kind(rt.group, rt.version, rt.kind).is_some(),
                "{} needs a line in schemas::KINDS",
                rt.kind
            );
        }
    }
}

fn assert_refs_resolve(value: &Value, prefix: &str, names: &Map<String, Value>, what: &str) {
    let mut refs = Vec::new();
    collect_refs(value, &mut refs);
    assert!(!refs.is_empty(), "{what}: no $ref");
    for r in refs {
        let name = r
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{what}: {r} is not under {prefix}"));
        assert!(names.contains_key(name), "{what}: {r} does not resolve");
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves() {
    for key in documents().v3.keys() {
        let d = v3(key);
        let names = d["components"]["schemas"].as_object().unwrap();
        assert_refs_resolve(&d, "#/components/schemas/", names, key);
    }
    let d = doc(&documents().v2);
    assert_refs_resolve(
        &d,
        "#/definitions/",
        d["definitions"].as_object().unwrap(),
        "v2",
    );
}

#[test]
fn openapi_3_puts_refs_with_siblings_in_all_of() {
    let d = v3("apis/apps/v1");
    let deployment = &d["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    let metadata = &deployment["properties"]["metadata"];
    assert_eq!(
        metadata["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(
        metadata["description"]
            .as_str()
            .unwrap()
            .starts_with("Standard object's metadata")
    );
    assert!(metadata.get("$ref").is_none());
    // Swagger 2.0 keeps them side by side, as kube-apiserver's /openapi/v2 does.
    let d = doc(&documents().v2);
    let metadata = &d["definitions"]["io.k8s.api.apps.v1.Deployment"]["properties"]["metadata"];
    assert_eq!(
        metadata["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
}

#[test]
fn descriptions_and_extensions_come_through() {
    let d = v3("api/v1");
    let s = &d["components"]["schemas"];
    let containers = &s["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert!(
        containers["description"]
            .as_str()
            .unwrap()
            .starts_with("List of containers belonging to the pod.")
    );
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(
        containers["x-kubernetes-list-map-keys"],
        serde_json::json!(["name"])
    );
    let ports = &s["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        serde_json::json!(["containerPort", "protocol"])
    );
    let finalizers =
        &s["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["finalizers"];
    assert_eq!(finalizers["x-kubernetes-list-type"], "set");
    let int_or_string = &s["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(int_or_string["oneOf"][1]["type"], "integer");
    assert!(int_or_string.get("type").is_none());
    let v2 = doc(&documents().v2);
    let int_or_string = &v2["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(int_or_string["format"], "int-or-string");
    let quantity = &v2["definitions"]["io.k8s.apimachinery.pkg.api.resource.Quantity"];
    assert_eq!(
        (&quantity["type"], quantity.get("format")),
        (&"string".into(), None)
    );
    let d = v3("apis/apps/v1");
    let replicas =
        &d["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"];
    assert!(
        replicas["description"]
            .as_str()
            .unwrap()
            .starts_with("Number of desired pods.")
    );
}

#[test]
fn every_extension_names_a_property_of_the_generated_schemas() {
    let defs = schemas::build();
    for ext in extensions::all() {
        let def = defs
            .schemas
            .get(ext.definition)
            .unwrap_or_else(|| panic!("no definition {}", ext.definition));
        let Some(property) = ext.property else {
            continue;
        };
        let prop = &def["properties"][property];
        assert!(
            prop.is_object(),
            "{} has no property {property}",
            ext.definition
        );
        for (name, _) in &ext.values {
            if matches!(
                *name,
                "x-kubernetes-list-map-keys" | "x-kubernetes-patch-merge-key"
            ) {
                assert_eq!(
                    prop["type"], "array",
                    "{}.{property} is no list",
                    ext.definition
                );
            }
        }
    }
}

fn operations(d: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method != "parameters" {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn every_patch_declares_field_validation_and_the_patch_types() {
    let mut patched = BTreeSet::new();
    for key in documents().v3.keys() {
        for (path, method, op) in operations(&v3(key)) {
            assert!(
                op["x-kubernetes-action"].is_string() || path.ends_with('/'),
                "{path} {method}"
            );
            if method != "patch" {
                continue;
            }
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert!(names.contains(&"fieldValidation"), "{path}");
            let content = op["requestBody"]["content"].as_object().unwrap();
            assert!(
                content.contains_key("application/strategic-merge-patch+json"),
                "{path}"
            );
            let gvk = &op["x-kubernetes-group-version-kind"];
            patched.insert(format!(
                "{}/{}",
                gvk["group"].as_str().unwrap(),
                gvk["kind"].as_str().unwrap()
            ));
        }
    }
    for rt in RESOURCE_TYPES.iter().filter(|rt| rt.writable) {
        assert!(
            patched.contains(&format!("{}/{}", rt.group, rt.kind)),
            "{} has no PATCH",
            rt.kind
        );
    }
}

#[test]
fn paths_cover_what_the_router_serves() {
    let d = v3("apis/apps/v1");
    let paths = d["paths"].as_object().unwrap();
    for (path, method, action) in [
        ("/apis/apps/v1/deployments", "get", "list"),
        (
            "/apis/apps/v1/namespaces/{namespace}/deployments",
            "post",
            "post",
        ),
        (
            "/apis/apps/v1/namespaces/{namespace}/deployments",
            "delete",
            "deletecollection",
        ),
        (
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
            "put",
            "put",
        ),
        (
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
            "patch",
            "patch",
        ),
        (
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
            "get",
            "get",
        ),
        (
            "/apis/apps/v1/watch/namespaces/{namespace}/deployments",
            "get",
            "watchlist",
        ),
        (
            "/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}",
            "get",
            "watch",
        ),
    ] {
        assert_eq!(
            paths[path][method]["x-kubernetes-action"], action,
            "{path} {method}"
        );
    }
    let scale = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["get"];
    assert_eq!(
        scale["x-kubernetes-group-version-kind"]["group"],
        "autoscaling"
    );
    assert_eq!(scale["operationId"], "readAppsV1NamespacedDeploymentScale");
    let d = v3("api/v1");
    let paths = d["paths"].as_object().unwrap();
    assert_eq!(
        paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]["x-kubernetes-group-version-kind"]
            ["kind"],
        "Eviction"
    );
    assert_eq!(
        paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]["operationId"],
        "readCoreV1NamespacedPodLog"
    );
    assert_eq!(
        paths["/api/v1/nodes/{name}"]["get"]["operationId"],
        "readCoreV1Node"
    );
    assert_eq!(
        paths["/api/v1/pods"]["get"]["operationId"],
        "listCoreV1PodForAllNamespaces"
    );
    let d = v3("apis/rbac.authorization.k8s.io/v1");
    assert_eq!(
        d["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["post"]["operationId"],
        "createRbacAuthorizationV1ClusterRole"
    );
}

#[test]
fn swagger_2_has_no_openapi_3_constructs() {
    let d = doc(&documents().v2);
    assert_eq!(d["swagger"], "2.0");
    let text = serde_json::to_string(&d).unwrap();
    for v3_only in [
        "\"requestBody\"",
        "\"content\"",
        "#/components/",
        "\"allOf\"",
    ] {
        assert!(!text.contains(v3_only), "{v3_only}");
    }
    let patch = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["parameters"][0]["in"], "body");
    assert!(
        patch["consumes"]
            .as_array()
            .unwrap()
            .contains(&"application/strategic-merge-patch+json".into())
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["type"] == "string")
    );
    assert_eq!(
        patch["responses"]["200"]["schema"]["$ref"],
        "#/definitions/io.k8s.api.apps.v1.Deployment"
    );
}

#[test]
fn the_root_names_each_document_by_its_hash() {
    let root: Value = serde_json::from_slice(&documents().root).unwrap();
    let paths = root["paths"].as_object().unwrap();
    for (group, version) in schemas::group_versions() {
        let key = gv_key(group, version);
        let doc = &documents().v3[&key];
        let expected = format!("{:X}", Sha512::digest(&doc.body));
        assert_eq!(
            paths[&key]["serverRelativeURL"],
            format!("/openapi/v3/{key}?hash={expected}")
        );
    }
}

fn get(path: &str, query: Option<&str>, headers: &[(header::HeaderName, &str)]) -> Response {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(k, HeaderValue::from_str(v).unwrap());
    }
    serve(&Method::GET, path, query, &h)
        .expect("an OpenAPI path")
        .unwrap()
}

#[test]
fn serving_negotiates_caches_and_redirects() {
    const PROTO_V2: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    assert_eq!(get("/openapi/v2", None, &[]).status(), StatusCode::OK);
    assert_eq!(
        get("/openapi/v2", None, &[(header::ACCEPT, PROTO_V2)]).status(),
        StatusCode::NOT_ACCEPTABLE
    );
    let both = format!("{PROTO_V2}, application/json");
    assert_eq!(
        get("/openapi/v2", None, &[(header::ACCEPT, &both)]).status(),
        StatusCode::OK
    );

    let etag = &documents().v3["apis/apps/v1"].etag;
    let resp = get(
        "/openapi/v3/apis/apps/v1",
        Some(&format!("hash={etag}")),
        &[],
    );
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
    assert_eq!(resp.headers()[header::ETAG], format!("\"{etag}\""));
    let resp = get("/openapi/v3/apis/apps/v1", Some("hash=OLD"), &[]);
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        resp.headers()[header::LOCATION],
        format!("/openapi/v3/apis/apps/v1?hash={etag}")
    );
    let quoted = format!("\"{etag}\"");
    let resp = get(
        "/openapi/v3/apis/apps/v1",
        None,
        &[(header::IF_NONE_MATCH, &quoted)],
    );
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    let missing = serve(
        &Method::GET,
        "/openapi/v3/apis/widgets/v1",
        None,
        &HeaderMap::new(),
    );
    assert_eq!(missing.unwrap().unwrap_err().code, 404);
    assert!(serve(&Method::GET, "/openapis", None, &HeaderMap::new()).is_none());
}

#[test]
fn sizes_and_build_time() {
    let started = Instant::now();
    let defs = schemas::build();
    let generated = started.elapsed();
    let docs = build_with(&defs);
    let elapsed = started.elapsed();
    println!("schemas generated in {generated:?}");
    let v3_total: usize = docs.v3.values().map(|d| d.body.len()).sum();
    println!(
        "built in {elapsed:?}: v2 {} bytes, v3 {} documents, {v3_total} bytes in all",
        docs.v2.body.len(),
        docs.v3.len()
    );
    for (key, d) in &docs.v3 {
        println!("  {key}: {} bytes", d.body.len());
    }
    assert!(docs.v2.body.len() > 100_000);
}
