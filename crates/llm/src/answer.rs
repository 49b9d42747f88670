//! The model's answer: its shape (a JSON schema generated from the types below), and the
//! checks that turn it into a typed [`Analysis`] or into an error the model is shown once.
//!
//! The checks are strict about meaning and lenient about packaging: JSON inside a markdown
//! fence or surrounded by prose is found, and a confidence written as `"0.8"` is read as a
//! number; but a category or action outside the contract, a target that is not in the
//! evidence, a missing field or a plan the policy forbids is an error. The model's text
//! never becomes a command: each plan is parsed into one typed [`Action`] of the catalogue.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use nightshift_core::action::ResourceChange;
use nightshift_core::policy::DecisionContext;
use nightshift_core::{
    Action, ActionName, Analysis, AnalysisInput, Category, Diagnosis, EvidenceData, EvidenceId,
    Plan, Policy, ResourceRef, Verdict,
};
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

/// The JSON object in a model's text: the text itself, or inside a markdown fence, or the
/// first balanced `{...}` within prose.
pub fn extract_json(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        return Ok(v);
    }
    let start = trimmed.find('{').ok_or_else(|| {
        "the answer contains no JSON object; reply with one JSON object only".to_string()
    })?;
    let bytes = trimmed.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return serde_json::from_str(&trimmed[start..=i])
                        .map_err(|e| format!("the answer is not valid JSON: {e}"));
                }
            }
            _ => {}
        }
    }
    Err("the answer's JSON object is incomplete (cut off?); reply with the whole object".into())
}

/// What the checks need besides the answer.
pub struct Checks<'a> {
    /// The incident and its evidence.
    pub input: &'a AnalysisInput<'a>,
    /// The policy plans must pass.
    pub policy: &'a Policy,
    /// Actions the policy allows for this incident's target.
    pub allowed: &'a [ActionName],
    /// Runbooks that may be named.
    pub runbooks: &'a [String],
    /// Name recorded with the analysis.
    pub analyzer: &'a str,
}

/// Actions the policy does not forbid outright for an incident on `target`, minus
/// `run-runbook` when no runbook is registered.
pub fn allowed_actions(
    policy: &Policy,
    target: &ResourceRef,
    runbooks: &[String],
) -> Vec<ActionName> {
    let ns = target.namespace();
    ActionName::ALL
        .iter()
        .copied()
        .filter(|a| *a != ActionName::RunRunbook || !runbooks.is_empty())
        .filter(|a| {
            !policy.forbidden.iter().any(|rule| {
                rule.operation == nightshift_core::Operation::Action(*a)
                    && (rule.namespaces.is_empty()
                        || ns.is_some_and(|ns| rule.namespaces.iter().any(|n| n == ns)))
            })
        })
        .collect()
}

/// Resources the evidence names, by the forms a model may write them in.
struct Known {
    by_display: BTreeMap<String, ResourceRef>,
    by_locate: BTreeMap<String, ResourceRef>,
}

impl Known {
    fn of(input: &AnalysisInput<'_>) -> Known {
        let mut all: BTreeSet<ResourceRef> = BTreeSet::new();
        all.insert(input.incident.resource.clone());
        for item in &input.evidence.items {
            all.insert(item.resource.clone());
            let ns = item.resource.namespace().unwrap_or("").to_string();
            match &item.data {
                EvidenceData::ContainerStatus { pod, node, .. } => {
                    all.insert(ResourceRef::Pod {
                        namespace: ns.clone(),
                        name: pod.clone(),
                    });
                    if let Some(n) = node {
                        all.insert(ResourceRef::node(n));
                    }
                }
                EvidenceData::Logs { pod, .. } => {
                    all.insert(ResourceRef::Pod {
                        namespace: ns,
                        name: pod.clone(),
                    });
                }
                EvidenceData::NodeCondition { node, .. } => {
                    all.insert(ResourceRef::node(node));
                }
                EvidenceData::Dependency {
                    host_port,
                    in_cluster,
                    ..
                } => {
                    all.insert(ResourceRef::External {
                        host_port: host_port.clone(),
                    });
                    if let Some(r) = in_cluster {
                        all.insert(r.clone());
                    }
                }
                _ => {}
            }
        }
        let mut known = Known {
            by_display: BTreeMap::new(),
            by_locate: BTreeMap::new(),
        };
        for r in all {
            known
                .by_display
                .insert(r.to_string().to_lowercase(), r.clone());
            // A workload wins the short form over a Service or a pod of the same name.
            let short = r.locate_key();
            let better = match known.by_locate.get(&short) {
                None => true,
                Some(old) => {
                    !matches!(old, ResourceRef::Workload { .. })
                        && matches!(r, ResourceRef::Workload { .. })
                }
            };
            if better {
                known.by_locate.insert(short, r);
            }
        }
        known
    }

    fn resolve(&self, text: &str, field: &str) -> Result<ResourceRef, String> {
        let t = text.trim().trim_matches('`');
        if let Some(r) = self.by_display.get(&t.to_lowercase()) {
            return Ok(r.clone());
        }
        if let Some(r) = self.by_locate.get(t) {
            return Ok(r.clone());
        }
        Err(format!(
            "{field}: {t:?} is not a resource in the evidence; use one of: {}",
            self.by_display
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn field<'v>(
    obj: &'v serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'v Value, String> {
    obj.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("{path}{key}: missing"))
}

fn text_field(
    obj: &serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<String, String> {
    match field(obj, path, key)? {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        other => Err(format!(
            "{path}{key}: expected a non-empty string, got {other}"
        )),
    }
}

fn opt_text(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A confidence: a number from 0 to 1, or such a number written as a string.
fn confidence(obj: &serde_json::Map<String, Value>, path: &str) -> Result<(f64, bool), String> {
    let v = field(obj, path, "confidence")?;
    let (x, coerced) = match v {
        Value::Number(n) => (n.as_f64().unwrap_or(f64::NAN), false),
        Value::String(s) => (
            s.trim().parse::<f64>().map_err(|_| {
                format!("{path}confidence: expected a number from 0 to 1, got the string {s:?}")
            })?,
            true,
        ),
        other => {
            return Err(format!(
                "{path}confidence: expected a number from 0 to 1, got {other}"
            ));
        }
    };
    if !(0.0..=1.0).contains(&x) {
        return Err(format!("{path}confidence: {x} is not between 0 and 1"));
    }
    Ok((x, coerced))
}

fn integer<T: TryFrom<i64>>(
    obj: &serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<T>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{path}{key}: expected an integer, got {v}")),
    }
}

/// An answer that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The analysis.
    pub analysis: Analysis,
}

/// Checks a model's text and builds the analysis, or says what is wrong in a sentence the
/// model can act on.
pub fn check(text: &str, c: &Checks<'_>) -> Result<Checked, String> {
    let value = extract_json(text)?;
    let obj = value
        .as_object()
        .ok_or("the answer must be a JSON object")?;
    let mut notes = Vec::new();
    let known = Known::of(c.input);

    let category_text = text_field(obj, "", "category")?;
    let category: Category = category_text
        .parse()
        .map_err(|e: String| format!("category: {e}"))?;
    let root_cause = known.resolve(&text_field(obj, "", "root_cause")?, "root_cause")?;
    let summary = text_field(obj, "", "summary")?;
    let (diag_conf, coerced) = confidence(obj, "")?;
    if coerced {
        notes.push("model wrote its confidence as a string; read as a number".to_string());
    }
    let cited = match field(obj, "", "evidence")? {
        Value::Array(a) => a,
        other => {
            return Err(format!(
                "evidence: expected a list of evidence ids, got {other}"
            ));
        }
    };
    let mut evidence = Vec::new();
    let mut unknown = Vec::new();
    for id in cited {
        let id = id.as_str().unwrap_or_default().trim().to_string();
        let eid = EvidenceId(id.clone());
        if c.input.evidence.get(&eid).is_some() {
            if !evidence.contains(&eid) {
                evidence.push(eid);
            }
        } else {
            unknown.push(id);
        }
    }
    if evidence.is_empty() && !c.input.evidence.items.is_empty() {
        return Err(format!(
            "evidence: cite at least one id of the bundle (E1..E{}); got {:?}",
            c.input.evidence.items.len(),
            unknown
        ));
    }
    if !unknown.is_empty() {
        notes.push(format!(
            "model cited unknown evidence ids {unknown:?}; ignored"
        ));
    }
    let plans_v = match field(obj, "", "plans")? {
        Value::Array(a) => a,
        other => return Err(format!("plans: expected a list, got {other}")),
    };
    let diagnosis = Diagnosis {
        category,
        summary,
        evidence,
        root_cause,
        confidence: diag_conf,
    };
    let mut plans = Vec::new();
    for (i, p) in plans_v.iter().enumerate() {
        let path = format!("plans[{i}].");
        let po = p
            .as_object()
            .ok_or_else(|| format!("plans[{i}]: expected an object"))?;
        let plan = plan(po, &path, c, &known)?;
        let decision = c
            .policy
            .decide(&plan, &decision_context(c, &diagnosis, &plan));
        if decision.verdict == Verdict::Forbidden {
            return Err(format!(
                "{path}action: the policy forbids this plan ({}); propose another catalogue action or escalate",
                decision.rule
            ));
        }
        plans.push(plan);
    }
    // Ranked best first, whatever order the model wrote them in.
    plans.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    if plans.is_empty() {
        plans.push(Plan {
            action: Action::Escalate {
                reason: "the model proposed no remedy".into(),
            },
            confidence: diag_conf,
            rationale: "no plan in the model's answer".into(),
            expected_outcome: "a human looks at the incident".into(),
        });
    }
    Ok(Checked {
        analysis: Analysis {
            diagnosis,
            plans,
            analyzer: c.analyzer.to_string(),
            notes,
        },
    })
}

/// Facts good enough to tell forbidden plans from the others; the engine decides with the
/// cluster's real facts later.
fn decision_context(c: &Checks<'_>, d: &Diagnosis, plan: &Plan) -> DecisionContext {
    let now = c
        .input
        .evidence
        .items
        .iter()
        .map(|i| i.observed_at)
        .max()
        .unwrap_or(c.input.incident.updated_at);
    let mut ctx = DecisionContext::new(now, c.input.incident.resource.clone(), d.confidence);
    let workload = match &c.input.incident.resource {
        w @ ResourceRef::Workload { .. } => Some(w.clone()),
        _ => None,
    };
    if let Action::RestartPod { namespace, pod } = &plan.action {
        ctx.target.owner = workload.clone().filter(|w| {
            w.namespace() == Some(namespace.as_str())
                && matches!(w, ResourceRef::Workload { name, .. } if pod.starts_with(name.as_str()))
        });
    }
    let target = plan.action.target();
    for item in &c.input.evidence.items {
        if let EvidenceData::Object {
            replicas, ready, ..
        } = &item.data
            && Some(&item.resource) == target.as_ref()
        {
            ctx.target.replicas = *replicas;
            ctx.target.ready_replicas = *ready;
        }
    }
    ctx
}

fn plan(
    po: &serde_json::Map<String, Value>,
    path: &str,
    c: &Checks<'_>,
    known: &Known,
) -> Result<Plan, String> {
    let name_text = text_field(po, path, "action")?;
    let allowed_list = || {
        c.allowed
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name: ActionName = name_text.trim().parse().map_err(|_| {
        format!(
            "{path}action: {name_text:?} is not a catalogue action; use one of: {}",
            allowed_list()
        )
    })?;
    if !c.allowed.contains(&name) {
        return Err(format!(
            "{path}action: {name} is not allowed for this incident; use one of: {}",
            allowed_list()
        ));
    }
    let (conf, _) = confidence(po, path)?;
    let rationale = text_field(po, path, "rationale")?;
    let expected_outcome =
        opt_text(po, "expected_outcome").unwrap_or_else(|| "the alerts resolve".to_string());
    let target = || -> Result<ResourceRef, String> {
        let t = opt_text(po, "target").ok_or_else(|| format!("{path}target: missing"))?;
        known.resolve(&t, &format!("{path}target"))
    };
    let workload = || -> Result<ResourceRef, String> {
        let t = target()?;
        match t {
            ResourceRef::Workload { .. } => Ok(t),
            other => Err(format!(
                "{path}target: {name} acts on a deployment, statefulset or daemonset, not {other}"
            )),
        }
    };
    let node = || -> Result<String, String> {
        match target()? {
            ResourceRef::Node { name: n } => Ok(n),
            other => Err(format!("{path}target: {name} acts on a node, not {other}")),
        }
    };
    let action = match name {
        ActionName::RestartPod => match target()? {
            ResourceRef::Pod { namespace, name } => Action::RestartPod {
                namespace,
                pod: name,
            },
            other => {
                return Err(format!(
                    "{path}target: restart-pod acts on a pod (pod/NS/NAME), not {other}; use rollout-restart for a workload"
                ));
            }
        },
        ActionName::RolloutRestart => Action::RolloutRestart {
            target: workload()?,
        },
        ActionName::Scale => Action::Scale {
            target: workload()?,
            replicas: integer(po, path, "replicas")?
                .ok_or_else(|| format!("{path}replicas: scale needs a replica count"))?,
        },
        ActionName::Rollback => Action::Rollback {
            target: workload()?,
            revision: integer(po, path, "revision")?,
        },
        ActionName::SetResources => {
            let container = opt_text(po, "container")
                .ok_or_else(|| format!("{path}container: set-resources needs a container name"))?;
            let mut change = ResourceChange::default();
            for (key, res) in [("memory_limit", "memory"), ("cpu_limit", "cpu")] {
                if let Some(q) = opt_text(po, key) {
                    change.limits.insert(res.to_string(), q);
                }
            }
            for (key, res) in [("memory_request", "memory"), ("cpu_request", "cpu")] {
                if let Some(q) = opt_text(po, key) {
                    change.requests.insert(res.to_string(), q);
                }
            }
            if change.limits.is_empty() && change.requests.is_empty() {
                return Err(format!(
                    "{path}: set-resources needs at least one of memory_limit, memory_request, cpu_limit, cpu_request"
                ));
            }
            Action::SetResources {
                target: workload()?,
                container,
                change,
            }
        }
        ActionName::CordonNode => Action::CordonNode { node: node()? },
        ActionName::UncordonNode => Action::UncordonNode { node: node()? },
        ActionName::DrainNode => Action::DrainNode { node: node()? },
        ActionName::RunRunbook => {
            let rb = opt_text(po, "runbook").unwrap_or_default();
            if !c.runbooks.contains(&rb) {
                return Err(format!(
                    "{path}runbook: {rb:?} is not a registered runbook; registered: {}",
                    c.runbooks.join(", ")
                ));
            }
            Action::RunRunbook {
                name: rb,
                target: target()?,
            }
        }
        ActionName::Escalate => Action::Escalate {
            reason: rationale.clone(),
        },
        ActionName::None => Action::None {
            reason: rationale.clone(),
        },
    };
    Ok(Plan {
        action,
        confidence: conf,
        rationale,
        expected_outcome,
    })
}

/// The schema's name for providers that want one.
pub fn schema_name() -> Cow<'static, str> {
    Cow::Borrowed("nightshift_analysis")
}
