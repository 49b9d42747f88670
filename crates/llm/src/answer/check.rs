//! The whole answer: its diagnosis read and cited evidence checked, each plan built and held
//! against the policy, the plans ranked.

use nightshift_core::policy::DecisionContext;
use nightshift_core::{
    Action, ActionName, Analysis, AnalysisInput, Category, Diagnosis, EvidenceData, EvidenceId,
    Plan, Policy, ResourceRef, Verdict,
};
use serde_json::Value;

use super::known::Known;
use super::parse::{confidence, extract_json, field, text_field};
use super::plan::plan;

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
    /// The agent's registered runbooks, which the policy holds a `run-runbook` plan to.
    pub registry: &'a nightshift_core::runbook::RunbookRegistry,
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
            replicas,
            ready,
            labels,
            ..
        } = &item.data
            && Some(&item.resource) == target.as_ref()
        {
            ctx.target.replicas = *replicas;
            ctx.target.ready_replicas = *ready;
            ctx.target.labels = labels.clone();
        }
    }
    ctx.category = Some(d.category);
    if let Action::RunRunbook { name, .. } = &plan.action {
        ctx.runbook = c.registry.get(name).cloned();
    }
    ctx
}
