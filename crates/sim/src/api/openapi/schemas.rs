//! The schemas of the OpenAPI documents, generated from the k8s-openapi types the store and
//! the controllers use, under the definition names kube-apiserver gives them
//! (`io.k8s.api.apps.v1.Deployment`).
//!
//! [`KINDS`] maps each served kind to its Rust type; a kind added to
//! [`crate::resources::RESOURCE_TYPES`] needs one line there (a unit test says which). Lists,
//! `WatchEvent`s and the metrics kinds have no schema in k8s-openapi: they are written here,
//! as kube-apiserver and metrics-server describe them.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1 as apps, authorization::v1 as authz, autoscaling::v1 as autoscaling,
    batch::v1 as batch, coordination::v1 as coordination, core::v1 as core, events::v1 as events,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::extensions;
use crate::resources::{RESOURCE_TYPES, ResourceType};

/// Where the definitions are while they are built; each document rewrites the prefix.
pub const REF_PREFIX: &str = "#/definitions/";

/// A kind with a schema: its group, version and kind, and how to generate its schema.
pub struct Kind {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    schema: fn(&mut SchemaGenerator) -> Value,
}

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<T>().to_value()
}

macro_rules! kinds {
    ($($t:ty),* $(,)?) => {
        &[$(Kind {
            group: <$t as k8s_openapi::Resource>::GROUP,
            version: <$t as k8s_openapi::Resource>::VERSION,
            kind: <$t as k8s_openapi::Resource>::KIND,
            schema: schema_of::<$t>,
        }),*]
    };
}

/// The Rust type of every kind the API server serves or takes, by group, version and kind.
pub static KINDS: &[Kind] = kinds![
    core::Namespace,
    core::Node,
    core::Pod,
    core::Event,
    core::Service,
    core::Endpoints,
    core::ConfigMap,
    core::Secret,
    core::ServiceAccount,
    core::ReplicationController,
    apps::Deployment,
    apps::ReplicaSet,
    apps::StatefulSet,
    apps::DaemonSet,
    apps::ControllerRevision,
    batch::Job,
    policy::PodDisruptionBudget,
    policy::Eviction,
    autoscaling::Scale,
    coordination::Lease,
    events::Event,
    networking::NetworkPolicy,
    rbac::Role,
    rbac::RoleBinding,
    rbac::ClusterRole,
    rbac::ClusterRoleBinding,
    authz::SelfSubjectAccessReview,
    authz::SelfSubjectRulesReview,
];

/// The kind's entry in [`KINDS`].
#[cfg(test)]
pub fn kind(group: &str, version: &str, kind: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
}

/// A group, version and kind as the `x-kubernetes-group-version-kind` extension writes it.
pub fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// Every definition, with `$ref`s to [`REF_PREFIX`], and the definition name of each served
/// kind (and its list) by group, version and kind.
pub struct Definitions {
    /// Definition name to schema.
    pub schemas: Map<String, Value>,
    /// `(group, version, kind)` to definition name, for the kinds with a definition.
    pub names: BTreeMap<(String, String, String), String>,
}

impl Definitions {
    /// The definition name of a kind, if it has one.
    pub fn name(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.names
            .get(&(group.into(), version.into(), kind.into()))
            .map(String::as_str)
    }
}

/// Generates the definitions of every served kind and of what the operations take and return.
pub fn build() -> Definitions {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = REF_PREFIX
                .trim_start_matches('#')
                .trim_end_matches('/')
                .into();
            s.meta_schema = None;
        })
        .into_generator();
    let mut names = BTreeMap::new();
    let name_of = |generator: &mut SchemaGenerator, schema: fn(&mut SchemaGenerator) -> Value| {
        let reference = schema(generator);
        let r = reference["$ref"].as_str().unwrap_or_default();
        r.trim_start_matches(REF_PREFIX).to_string()
    };
    for k in KINDS {
        let name = name_of(&mut generator, k.schema);
        names.insert((k.group.into(), k.version.into(), k.kind.into()), name);
    }
    let status = name_of(&mut generator, schema_of::<meta::Status>);
    let delete_options = name_of(&mut generator, schema_of::<meta::DeleteOptions>);
    let watch_event = name_of(&mut generator, schema_of::<meta::WatchEvent<Value>>);
    let resource_list = name_of(&mut generator, schema_of::<meta::APIResourceList>);
    name_of(&mut generator, schema_of::<meta::Patch>);
    name_of(&mut generator, schema_of::<meta::ListMeta>);
    let mut schemas = generator.take_definitions(false);

    for (name, schema) in metrics() {
        schemas.insert(name, schema);
    }
    names.extend(
        [
            "PodMetrics",
            "NodeMetrics",
            "PodMetricsList",
            "NodeMetricsList",
        ]
        .map(|k| {
            let key = ("metrics.k8s.io".into(), "v1beta1".into(), k.to_string());
            (key, format!("{METRICS_PREFIX}{k}"))
        }),
    );

    let mut gvks: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for k in KINDS {
        let name = names[&(k.group.into(), k.version.into(), k.kind.into())].clone();
        gvks.entry(name)
            .or_default()
            .push(gvk(k.group, k.version, k.kind));
    }
    for rt in RESOURCE_TYPES.iter().filter(|rt| has_list(rt)) {
        let Some(item) = names
            .get(&(rt.group.into(), rt.version.into(), rt.kind.into()))
            .cloned()
        else {
            continue;
        };
        let list = format!("{item}List");
        if !schemas.contains_key(&list) {
            schemas.insert(list.clone(), list_schema(rt, &item));
        }
        gvks.entry(list.clone())
            .or_default()
            .push(gvk(rt.group, rt.version, rt.list_kind));
        names.insert(
            (rt.group.into(), rt.version.into(), rt.list_kind.into()),
            list,
        );
    }
    gvks.entry(status)
        .or_default()
        .push(gvk("", "v1", "Status"));
    gvks.entry(resource_list)
        .or_default()
        .push(gvk("", "v1", "APIResourceList"));
    // metrics.k8s.io is metrics-server's, whose documents are its own.
    for (group, version) in group_versions()
        .into_iter()
        .filter(|(g, _)| *g != "metrics.k8s.io")
    {
        for (name, kind) in [
            (&delete_options, "DeleteOptions"),
            (&watch_event, "WatchEvent"),
        ] {
            gvks.entry(name.clone())
                .or_default()
                .push(gvk(group, version, kind));
        }
    }
    for (name, list) in gvks {
        if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
            schema.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
        }
    }

    extensions::apply(&mut schemas);
    scalar_unions(&mut schemas);
    for schema in schemas.values_mut() {
        not_required(schema, "metadata");
    }
    for (name, required) in REQUIRED {
        if let Some(Value::Object(schema)) = schemas.get_mut(*name) {
            schema.remove("required");
            if !required.is_empty() {
                schema.insert("required".into(), json!(required));
            }
        }
    }
    Definitions { schemas, names }
}

/// Whether the resource type is listed (and so has a list kind with a schema).
pub fn has_list(rt: &ResourceType) -> bool {
    !rt.is_review() && !rt.list_kind.is_empty()
}

/// Every served group version, the core `v1` first.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out = vec![("", "v1")];
    out.extend(crate::resources::groups());
    out
}

/// The definitions whose `required` differs from k8s-openapi's (which requires the fields it
/// does not wrap in `Option`), as kube-apiserver 1.34 has them.
const REQUIRED: &[(&str, &[&str])] = &[
    ("io.k8s.api.core.v1.ConfigMapEnvSource", &[]),
    ("io.k8s.api.core.v1.ConfigMapKeySelector", &["key"]),
    ("io.k8s.api.core.v1.ConfigMapProjection", &[]),
    ("io.k8s.api.core.v1.ConfigMapVolumeSource", &[]),
    ("io.k8s.api.core.v1.LocalObjectReference", &[]),
    ("io.k8s.api.core.v1.SecretEnvSource", &[]),
    ("io.k8s.api.core.v1.SecretKeySelector", &["key"]),
    ("io.k8s.api.core.v1.SecretProjection", &[]),
    ("io.k8s.api.core.v1.Event", &["metadata", "involvedObject"]),
    ("io.k8s.api.events.v1.Event", &["eventTime"]),
];

/// kube-apiserver requires no object's `metadata`; k8s-openapi does.
fn not_required(schema: &mut Value, field: &str) {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| r != field);
        if required.is_empty() {
            schema.as_object_mut().map(|s| s.remove("required"));
        }
    }
}

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// The two scalars that take a number or a string, as kube-apiserver's Swagger 2.0 writes
/// them: `IntOrString` a string of format `int-or-string`, `Quantity` a string. k8s-openapi
/// marks both with the CRD extension `x-kubernetes-int-or-string` instead.
fn scalar_unions(schemas: &mut Map<String, Value>) {
    for (name, format) in [(INT_OR_STRING, Some("int-or-string")), (QUANTITY, None)] {
        if let Some(Value::Object(schema)) = schemas.get_mut(name) {
            schema.remove("x-kubernetes-int-or-string");
            schema.insert("type".into(), json!("string"));
            if let Some(format) = format {
                schema.insert("format".into(), json!(format));
            }
        }
    }
}

/// The same scalars as kube-apiserver's OpenAPI 3 documents write them: a `oneOf` without a
/// type, so kubectl explain names them (`<IntOrString>`, `<Quantity>`).
pub fn openapi3_scalar_unions(schemas: &mut Map<String, Value>) {
    for (name, other) in [(INT_OR_STRING, "integer"), (QUANTITY, "number")] {
        if let Some(Value::Object(schema)) = schemas.get_mut(name) {
            schema.remove("type");
            schema.remove("format");
            schema.insert("oneOf".into(), json!([{"type": "string"}, {"type": other}]));
        }
    }
}

fn list_schema(rt: &ResourceType, item: &str) -> Value {
    let kind = rt.kind;
    json!({
        "description": format!("{} is a list of {kind} objects.", rt.list_kind),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": API_VERSION_DESCRIPTION,
                "type": "string",
            },
            "items": {
                "description": format!("Items is the list of {kind} objects."),
                "type": "array",
                "items": {"$ref": format!("{REF_PREFIX}{item}")},
            },
            "kind": {
                "description": KIND_DESCRIPTION,
                "type": "string",
            },
            "metadata": {
                "$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
    })
}

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// The definition prefix of metrics-server's types.
const METRICS_PREFIX: &str = "io.k8s.metrics.pkg.apis.metrics.v1beta1.";

/// `metrics.k8s.io/v1beta1`, as metrics-server describes it (it has no k8s-openapi type).
fn metrics() -> Vec<(String, Value)> {
    let meta = |d: &str| format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.{d}");
    let quantity = format!("{REF_PREFIX}io.k8s.apimachinery.pkg.api.resource.Quantity");
    let common = |description: &str, list_or_meta: &str| {
        json!({
            "description": description,
            "type": "object",
            "properties": {
                "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
                "kind": {"description": KIND_DESCRIPTION, "type": "string"},
                "metadata": {
                    "$ref": meta(list_or_meta),
                    "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                },
            },
        })
    };
    let usage = json!({
        "description": "The memory usage is the memory working set.",
        "type": "object",
        "additionalProperties": {"$ref": quantity},
    });
    let interval = |v: &mut Value| {
        let props = &mut v["properties"];
        props["timestamp"] = json!({
            "$ref": meta("Time"),
            "description": "The following fields define time interval from which metrics were collected from the interval [Timestamp-Window, Timestamp].",
        });
        props["window"] = json!({"type": "string"});
    };
    let mut pod = common(
        "PodMetrics sets resource usage metrics of a pod.",
        "ObjectMeta",
    );
    interval(&mut pod);
    pod["properties"]["containers"] = json!({
        "description": "Metrics for all containers are collected within the same time window.",
        "type": "array",
        "items": {"$ref": format!("{REF_PREFIX}{METRICS_PREFIX}ContainerMetrics")},
        "x-kubernetes-list-type": "atomic",
    });
    pod["required"] = json!(["timestamp", "window", "containers"]);
    let mut node = common(
        "NodeMetrics sets resource usage metrics of a node.",
        "ObjectMeta",
    );
    interval(&mut node);
    node["properties"]["usage"] = usage.clone();
    node["required"] = json!(["timestamp", "window", "usage"]);
    let container = json!({
        "description": "ContainerMetrics sets resource usage metrics of a container.",
        "type": "object",
        "properties": {
            "name": {"description": "Container name corresponding to the one from pod.spec.containers.", "type": "string"},
            "usage": usage,
        },
        "required": ["name", "usage"],
    });
    let list = |kind: &str, what: &str| {
        let mut l = common(&format!("{kind}List is a list of {kind}."), "ListMeta");
        l["properties"]["metadata"]["description"] = json!(
            "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
        );
        l["properties"]["items"] = json!({
            "description": format!("List of {what} metrics."),
            "type": "array",
            "items": {"$ref": format!("{REF_PREFIX}{METRICS_PREFIX}{kind}")},
        });
        l["required"] = json!(["items"]);
        l
    };
    let gvk_of = |mut v: Value, kind: &str| {
        v["x-kubernetes-group-version-kind"] = json!([gvk("metrics.k8s.io", "v1beta1", kind)]);
        v
    };
    vec![
        ("PodMetrics", gvk_of(pod, "PodMetrics")),
        ("NodeMetrics", gvk_of(node, "NodeMetrics")),
        ("ContainerMetrics", container),
        (
            "PodMetricsList",
            gvk_of(list("PodMetrics", "pod"), "PodMetricsList"),
        ),
        (
            "NodeMetricsList",
            gvk_of(list("NodeMetrics", "node"), "NodeMetricsList"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{METRICS_PREFIX}{k}"), v))
    .collect()
}

/// The definitions a set of schemas refers to, transitively, the roots included.
pub fn closure(
    schemas: &Map<String, Value>,
    roots: impl IntoIterator<Item = String>,
) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut stack: Vec<String> = roots.into_iter().collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get(&name) {
            refs(schema, &mut stack);
        }
    }
    seen.into_iter().collect()
}

/// Pushes the definition names every `$ref` in `value` names.
pub fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let name = r.rsplit('/').next().unwrap_or_default();
                        out.push(name.to_string());
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}
