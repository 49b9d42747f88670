//! The operations of a group version's document, as kube-apiserver names and describes them:
//! every endpoint the router serves for [`RESOURCE_TYPES`], collection and object, namespaced
//! and across namespaces, the legacy `/watch/` paths and the `status`, `scale`, `log` and
//! `eviction` subresources, each with its `x-kubernetes-action`,
//! `x-kubernetes-group-version-kind`, parameters, request body and responses.

use serde_json::{Map, Value, json};

use super::params;
use super::schemas::{Definitions, REF_PREFIX, gvk};
use crate::resources::{RESOURCE_TYPES, ResourceType};

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// `CoreV1`, `AppsV1`, `RbacAuthorizationV1`: the middle of the operation ids.
fn stem(group: &str, version: &str) -> String {
    let group = if group.is_empty() {
        "core"
    } else {
        group.trim_end_matches(".k8s.io")
    };
    group.split('.').chain([version]).map(capitalized).collect()
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// `core_v1`, `apps_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    let s = stem(group, version);
    let group_part = &s[..s.len() - version.len()];
    let mut chars = group_part.chars();
    let lower = chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default();
    format!("{lower}_{version}")
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

const OBJECT_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
const LIST_TYPES: &[&str] = &[
    "application/json",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/yaml",
];

fn content(schema: &Value, types: &[&str]) -> Value {
    let map: Map<String, Value> = types
        .iter()
        .map(|t| (t.to_string(), json!({"schema": schema})))
        .collect();
    Value::Object(map)
}

fn responses(codes: &[&str], schema: &Value, types: &[&str]) -> Value {
    let mut map = Map::new();
    for code in codes {
        let description = match *code {
            "201" => "Created",
            "202" => "Accepted",
            _ => "OK",
        };
        map.insert(
            code.to_string(),
            json!({"content": content(schema, types), "description": description}),
        );
    }
    map.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(map)
}

/// One resource type's operations, added to `paths`.
struct Builder<'a> {
    rt: &'a ResourceType,
    paths: &'a mut Map<String, Value>,
    stem: String,
    tag: String,
    gvk: Value,
    kind: Value,
    list: Value,
}

impl Builder<'_> {
    fn operation(
        &self,
        action: &str,
        id: String,
        description: String,
        params: Vec<Value>,
        body: Option<Value>,
        responses: Value,
    ) -> Value {
        let mut op = json!({
            "description": description,
            "operationId": id,
            "responses": responses,
            "tags": [self.tag],
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": self.gvk,
        });
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(body) = body {
            op["requestBody"] = body;
        }
        op
    }

    fn add(&mut self, path: String, params: Vec<Value>, ops: Vec<(&str, Value)>) {
        let item = self
            .paths
            .entry(path)
            .or_insert_with(|| json!({"parameters": params}));
        for (method, op) in ops {
            item[method] = op;
        }
    }

    /// `get`, `list` and `watch` for the read-only metrics; everything for the rest.
    fn collection(&mut self, prefix: &str, namespaced: bool) {
        let (rt, stem) = (self.rt, self.stem.clone());
        let (ns, ns_params) = if namespaced {
            ("Namespaced", vec![params::namespace(), params::pretty()])
        } else {
            ("", vec![params::pretty()])
        };
        let path = if namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{prefix}/{}", rt.plural)
        };
        let mut ops = vec![(
            "get",
            self.operation(
                "list",
                format!("list{stem}{ns}{}", rt.kind),
                format!("list or watch objects of kind {}", rt.kind),
                params::list(),
                None,
                responses(&["200"], &self.list, LIST_TYPES),
            ),
        )];
        if rt.writable {
            ops.push((
                "post",
                self.operation(
                    "post",
                    format!("create{stem}{ns}{}", rt.kind),
                    format!("create {}", article(rt.kind)),
                    params::write(),
                    Some(json!({"content": {"*/*": {"schema": self.kind}}, "required": true})),
                    responses(&["200", "201", "202"], &self.kind, OBJECT_TYPES),
                ),
            ));
            let mut delete_params = params::delete();
            delete_params.extend(params::list());
            ops.push((
                "delete",
                self.operation(
                    "deletecollection",
                    format!("delete{stem}Collection{ns}{}", rt.kind),
                    format!("delete collection of {}", rt.kind),
                    delete_params,
                    Some(delete_body()),
                    responses(&["200"], &status(), OBJECT_TYPES),
                ),
            ));
        }
        self.add(path.clone(), ns_params.clone(), ops);
        if rt.writable {
            let mut watch_params = ns_params;
            watch_params.extend(params::list());
            let watch_path = path.replacen(prefix, &format!("{prefix}/watch"), 1);
            let op = self.operation(
                "watchlist",
                format!("watch{stem}{ns}{}List", rt.kind),
                format!(
                    "watch individual changes to a list of {}. deprecated: use the 'watch' parameter with a list operation instead.",
                    rt.kind
                ),
                Vec::new(),
                None,
                responses(&["200"], &watch_event(), LIST_TYPES),
            );
            self.add(watch_path, watch_params, vec![("get", op)]);
        }
    }

    /// Every namespace's objects of a namespaced type: `list` and the legacy `watch`.
    fn all_namespaces(&mut self, prefix: &str) {
        let (rt, stem) = (self.rt, self.stem.clone());
        let mut path_params = params::list();
        path_params.push(params::pretty());
        let op = self.operation(
            "list",
            format!("list{stem}{}ForAllNamespaces", rt.kind),
            format!("list or watch objects of kind {}", rt.kind),
            Vec::new(),
            None,
            responses(&["200"], &self.list, LIST_TYPES),
        );
        self.add(
            format!("{prefix}/{}", rt.plural),
            path_params.clone(),
            vec![("get", op)],
        );
        if rt.writable {
            let op = self.operation(
                "watchlist",
                format!("watch{stem}{}ListForAllNamespaces", rt.kind),
                format!(
                    "watch individual changes to a list of {}. deprecated: use the 'watch' parameter with a list operation instead.",
                    rt.kind
                ),
                Vec::new(),
                None,
                responses(&["200"], &watch_event(), LIST_TYPES),
            );
            self.add(
                format!("{prefix}/watch/{}", rt.plural),
                path_params,
                vec![("get", op)],
            );
        }
    }

    /// One object: `get`, `put`, `patch`, `delete` and the legacy `watch`, then its
    /// subresources.
    fn object(&mut self, prefix: &str) {
        let (rt, stem) = (self.rt, self.stem.clone());
        let ns = if rt.namespaced { "Namespaced" } else { "" };
        let rel = if rt.namespaced {
            format!("namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{}/{{name}}", rt.plural)
        };
        let mut path_params = vec![params::name(rt.kind)];
        if rt.namespaced {
            path_params.push(params::namespace());
        }
        path_params.push(params::pretty());
        let read = self.operation(
            "get",
            format!("read{stem}{ns}{}", rt.kind),
            format!("read the specified {}", rt.kind),
            Vec::new(),
            None,
            responses(&["200"], &self.kind, OBJECT_TYPES),
        );
        if !rt.writable {
            self.add(format!("{prefix}/{rel}"), path_params, vec![("get", read)]);
            return;
        }
        let deleted = if matches!(rt.kind, "Pod" | "Service" | "ServiceAccount") {
            self.kind.clone()
        } else {
            status()
        };
        let ops = vec![
            ("get", read),
            (
                "put",
                self.operation(
                    "put",
                    format!("replace{stem}{ns}{}", rt.kind),
                    format!("replace the specified {}", rt.kind),
                    params::write(),
                    Some(json!({"content": {"*/*": {"schema": self.kind}}, "required": true})),
                    responses(&["200", "201"], &self.kind, OBJECT_TYPES),
                ),
            ),
            (
                "patch",
                self.operation(
                    "patch",
                    format!("patch{stem}{ns}{}", rt.kind),
                    format!("partially update the specified {}", rt.kind),
                    params::patch(),
                    Some(patch_body()),
                    responses(&["200", "201"], &self.kind, OBJECT_TYPES),
                ),
            ),
            (
                "delete",
                self.operation(
                    "delete",
                    format!("delete{stem}{ns}{}", rt.kind),
                    format!("delete {}", article(rt.kind)),
                    params::delete(),
                    Some(delete_body()),
                    responses(&["200", "202"], &deleted, OBJECT_TYPES),
                ),
            ),
        ];
        self.add(format!("{prefix}/{rel}"), path_params.clone(), ops);

        let mut watch_params = path_params.clone();
        watch_params.extend(params::list());
        let op = self.operation(
            "watch",
            format!("watch{stem}{ns}{}", rt.kind),
            format!(
                "watch changes to an object of kind {}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.",
                rt.kind
            ),
            Vec::new(),
            None,
            responses(&["200"], &watch_event(), LIST_TYPES),
        );
        self.add(
            format!("{prefix}/watch/{rel}"),
            watch_params,
            vec![("get", op)],
        );

        for sub in rt.subresources {
            self.subresource(prefix, &rel, sub, ns, &path_params);
        }
    }

    fn subresource(&mut self, prefix: &str, rel: &str, sub: &str, ns: &str, path_params: &[Value]) {
        let (rt, stem) = (self.rt, self.stem.clone());
        let path = format!("{prefix}/{rel}/{sub}");
        let suffix = capitalized(sub);
        let id = |verb: &str| format!("{verb}{stem}{ns}{}{suffix}", rt.kind);
        let mut params = path_params.to_vec();
        match sub {
            "status" | "scale" => {
                let saved = self.gvk.clone();
                let (schema, gvk_value) = if sub == "scale" {
                    (
                        schema_ref("io.k8s.api.autoscaling.v1.Scale"),
                        gvk("autoscaling", "v1", "Scale"),
                    )
                } else {
                    (self.kind.clone(), saved.clone())
                };
                self.gvk = gvk_value;
                let ops = vec![
                    (
                        "get",
                        self.operation(
                            "get",
                            id("read"),
                            format!("read {sub} of the specified {}", rt.kind),
                            Vec::new(),
                            None,
                            responses(&["200"], &schema, OBJECT_TYPES),
                        ),
                    ),
                    (
                        "put",
                        self.operation(
                            "put",
                            id("replace"),
                            format!("replace {sub} of the specified {}", rt.kind),
                            params::write(),
                            Some(json!({"content": {"*/*": {"schema": schema}}, "required": true})),
                            responses(&["200", "201"], &schema, OBJECT_TYPES),
                        ),
                    ),
                    (
                        "patch",
                        self.operation(
                            "patch",
                            id("patch"),
                            format!("partially update {sub} of the specified {}", rt.kind),
                            params::patch(),
                            Some(patch_body()),
                            responses(&["200", "201"], &schema, OBJECT_TYPES),
                        ),
                    ),
                ];
                self.gvk = saved;
                self.add(path, params, ops);
            }
            "log" => {
                params[0] = params::name(rt.kind);
                params.extend(params::log());
                let op = self.operation(
                    "get",
                    id("read"),
                    format!("read log of the specified {}", rt.kind),
                    Vec::new(),
                    None,
                    responses(&["200"], &json!({"type": "string"}), &["text/plain"]),
                );
                self.add(path, params, vec![("get", op)]);
            }
            "eviction" => {
                params[0] = params::path("name", "name of the Eviction");
                let saved = std::mem::replace(&mut self.gvk, gvk("policy", "v1", "Eviction"));
                let eviction = schema_ref("io.k8s.api.policy.v1.Eviction");
                let op = self.operation(
                    "post",
                    id("create"),
                    format!("create eviction of {}", article(rt.kind)),
                    params::write(),
                    Some(json!({"content": {"*/*": {"schema": eviction}}, "required": true})),
                    responses(&["200", "201", "202"], &eviction, OBJECT_TYPES),
                );
                self.gvk = saved;
                self.add(path, params, vec![("post", op)]);
            }
            _ => {}
        }
    }

    /// A review: created to get an answer.
    fn review(&mut self, prefix: &str) {
        let (rt, stem) = (self.rt, self.stem.clone());
        let op = self.operation(
            "post",
            format!("create{stem}{}", rt.kind),
            format!("create {}", article(rt.kind)),
            params::write(),
            Some(json!({"content": {"*/*": {"schema": self.kind}}, "required": true})),
            responses(&["200", "201", "202"], &self.kind, OBJECT_TYPES),
        );
        self.add(
            format!("{prefix}/{}", rt.plural),
            vec![params::pretty()],
            vec![("post", op)],
        );
    }
}

/// `a Pod`, `an Event`.
fn article(kind: &str) -> String {
    let an = kind.starts_with(['A', 'E', 'I', 'O', 'U']);
    format!("{} {kind}", if an { "an" } else { "a" })
}

fn status() -> Value {
    schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.Status")
}

fn watch_event() -> Value {
    schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent")
}

fn delete_body() -> Value {
    json!({"content": {"*/*": {"schema": schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")}}})
}

fn patch_body() -> Value {
    let patch = schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.Patch");
    json!({
        "content": content(&patch, &[
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ]),
        "required": true,
    })
}

/// The `paths` of the document of `group/version`; empty when nothing is served there.
pub fn paths(defs: &Definitions, group: &str, version: &str) -> Map<String, Value> {
    let mut paths = Map::new();
    let prefix = prefix(group, version);
    let served: Vec<&ResourceType> = RESOURCE_TYPES
        .iter()
        .filter(|rt| rt.group == group && rt.version == version)
        .collect();
    if served.is_empty() {
        return paths;
    }
    let stem = stem(group, version);
    let tag = tag(group, version);
    paths.insert(
        format!("{prefix}/"),
        json!({"get": {
            "description": "get available resources",
            "operationId": format!("get{stem}APIResources"),
            "responses": responses(&["200"], &schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"), OBJECT_TYPES),
            "tags": [tag],
        }}),
    );
    for rt in served {
        let Some(kind) = defs.name(rt.group, rt.version, rt.kind) else {
            continue;
        };
        let list = defs
            .name(rt.group, rt.version, rt.list_kind)
            .map(schema_ref)
            .unwrap_or(Value::Null);
        let mut b = Builder {
            rt,
            paths: &mut paths,
            stem: stem.clone(),
            tag: tag.clone(),
            gvk: gvk(rt.group, rt.version, rt.kind),
            kind: schema_ref(kind),
            list,
        };
        if rt.is_review() {
            b.review(&prefix);
            continue;
        }
        b.collection(&prefix, rt.namespaced);
        if rt.namespaced {
            b.all_namespaces(&prefix);
        }
        b.object(&prefix);
    }
    paths
}
