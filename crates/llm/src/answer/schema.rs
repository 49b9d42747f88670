//! The answer's shape: the types the model fills in, and the JSON schema generated from them
//! in the strict form structured outputs accept.

use std::borrow::Cow;

use nightshift_core::{ActionName, Category};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The answer the model must give, as the schema describes it to the model.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "nightshift_analysis")]
pub struct ModelAnswer {
    /// Diagnosis category.
    #[schemars(schema_with = "category_schema")]
    pub category: String,
    /// Where the root cause lives: `deployment/NS/NAME`, `statefulset/NS/NAME`,
    /// `daemonset/NS/NAME`, `pod/NS/NAME`, `service/NS/NAME`, `node/NAME` or
    /// `external/HOST:PORT`, from the evidence.
    pub root_cause: String,
    /// One line for the on-call engineer.
    pub summary: String,
    /// Ids of the evidence items the diagnosis rests on (`E3`).
    pub evidence: Vec<String>,
    /// How sure, 0 to 1.
    pub confidence: f64,
    /// Remedies, best first; catalogue actions only.
    pub plans: Vec<ModelPlan>,
}

/// One remedy in the model's answer. Parameters that do not apply are null.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModelPlan {
    /// Catalogue action.
    #[schemars(schema_with = "action_schema")]
    pub action: String,
    /// What it acts on, in the same form as `root_cause` (`pod/NS/NAME` for restart-pod,
    /// `node/NAME` for node actions); null for escalate and none.
    pub target: Option<String>,
    /// `scale`: desired replicas.
    pub replicas: Option<i32>,
    /// `rollback`: revision to return to (null: the previous one).
    pub revision: Option<i64>,
    /// `set-resources`: container name.
    pub container: Option<String>,
    /// `set-resources`: new memory limit (`512Mi`).
    pub memory_limit: Option<String>,
    /// `set-resources`: new memory request.
    pub memory_request: Option<String>,
    /// `set-resources`: new cpu limit (`1`, `500m`).
    pub cpu_limit: Option<String>,
    /// `set-resources`: new cpu request.
    pub cpu_request: Option<String>,
    /// `run-runbook`: runbook name.
    pub runbook: Option<String>,
    /// How sure that this fixes it, 0 to 1.
    pub confidence: f64,
    /// Why, citing evidence ids.
    pub rationale: String,
    /// What recovery should look like.
    pub expected_outcome: String,
}

fn string_enum(values: Vec<&str>) -> Schema {
    json_schema!({"type": "string", "enum": values})
}

fn category_schema(_: &mut SchemaGenerator) -> Schema {
    string_enum(Category::ALL.iter().map(|c| c.as_str()).collect())
}

fn action_schema(_: &mut SchemaGenerator) -> Schema {
    string_enum(ActionName::ALL.iter().map(|a| a.as_str()).collect())
}

/// The answer's JSON schema, in the strict form OpenAI's structured outputs accept (every
/// property required, nullable where optional, no extra properties), with the action enum
/// narrowed to `allowed`.
pub fn schema(allowed: &[ActionName]) -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
    });
    let root = settings
        .into_generator()
        .into_root_schema_for::<ModelAnswer>();
    let mut v = root.to_value();
    strictify(&mut v);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
        obj.remove("description");
    }
    let allowed: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
    if let Some(e) = v.pointer_mut("/properties/plans/items/properties/action/enum") {
        *e = serde_json::json!(allowed);
    }
    v
}

/// Strict mode: objects close, every property is required, and keywords strict mode does not
/// know (`format`, numeric bounds) go.
fn strictify(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("format");
            map.remove("minimum");
            map.remove("maximum");
            if map.get("type").and_then(Value::as_str) == Some("object")
                && let Some(Value::Object(props)) = map.get("properties")
            {
                let keys: Vec<Value> = props.keys().map(|k| Value::String(k.clone())).collect();
                map.insert("required".into(), Value::Array(keys));
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (_, child) in map.iter_mut() {
                strictify(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strictify),
        _ => {}
    }
}

/// The schema's name for providers that want one.
pub fn schema_name() -> Cow<'static, str> {
    Cow::Borrowed("nightshift_analysis")
}
