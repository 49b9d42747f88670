//! One plan of the answer turned into one typed catalogue action, its target resolved
//! against the evidence and its parameters checked.

use nightshift_core::action::ResourceChange;
use nightshift_core::{Action, ActionName, Plan, ResourceRef};
use serde_json::Value;

use super::check::Checks;
use super::known::Known;
use super::parse::{confidence, integer, opt_text, text_field};

pub(super) fn plan(
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
