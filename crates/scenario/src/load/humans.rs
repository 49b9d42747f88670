//! `humans`: changes people make on the cluster during a run, each checked like a fault: its
//! time before the horizon, its action one a person makes with kubectl, its target in the
//! cluster and of the kind the action takes.

use std::time::Duration;

use super::error::{Doc, Result};
use super::index::Index;
use super::limits::{self, too_many};
use super::raw::RawHuman;
use super::refs;
use super::source_map::KeyPath;
use crate::model::{Human, HumanAction, Target};

/// Converts `humans`.
pub(crate) fn convert(
    raw: Vec<RawHuman>,
    index: &Index,
    horizon: Duration,
    doc: &Doc,
) -> Result<Vec<Human>> {
    let root = KeyPath::root().key("humans");
    if raw.len() > limits::MAX_FAULTS {
        return Err(doc.invalid(&root, too_many(raw.len(), "humans", limits::MAX_FAULTS)));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, h)| convert_one(h, &root.index(i), index, horizon, doc))
        .collect()
}

fn convert_one(
    raw: RawHuman,
    path: &KeyPath,
    index: &Index,
    horizon: Duration,
    doc: &Doc,
) -> Result<Human> {
    let at = super::faults::at_before_horizon(raw.at, path, horizon, "the change", doc)?;
    let who = raw.who.unwrap_or_else(|| "someone".to_string());
    let name = doc.required(raw.action, path, "action")?;
    let action = match name.as_str() {
        "rollout-restart" => HumanAction::RolloutRestart,
        "rollback" => HumanAction::Rollback,
        "scale" => {
            let Some(n) = raw.replicas else {
                return Err(doc.invalid(path, "`scale` needs `replicas`, the new count"));
            };
            let replicas = i32::try_from(n)
                .ok()
                .filter(|r| *r >= 0)
                .ok_or_else(|| doc.invalid(&path.key("replicas"), "replicas must be 0 or more"))?;
            HumanAction::Scale { replicas }
        }
        "cordon-node" => HumanAction::CordonNode,
        "uncordon-node" => HumanAction::UncordonNode,
        other => {
            return Err(doc.invalid(
                &path.key("action"),
                format!(
                    "unknown action `{other}` for a person; expected one of: {}",
                    HumanAction::NAMES.join(", ")
                ),
            ));
        }
    };
    if raw.replicas.is_some() && !matches!(action, HumanAction::Scale { .. }) {
        return Err(doc.invalid(
            &path.key("replicas"),
            format!("`replicas` is for `scale`, not `{name}`"),
        ));
    }
    let target_text = doc.required(raw.target, path, "target")?;
    let target_path = path.key("target");
    let target = refs::parse_target(&target_text).map_err(|e| doc.invalid(&target_path, e))?;
    let on_node = matches!(action, HumanAction::CordonNode | HumanAction::UncordonNode);
    match (&target, on_node) {
        (Target::Node(_), true) | (Target::Workload { .. }, false) => {}
        _ => {
            let wanted = if on_node {
                "a node `node/<name>`"
            } else {
                "a workload `<namespace>/<name>`"
            };
            return Err(doc.invalid(
                &target_path,
                format!("`{name}` takes {wanted}, not `{target_text}`"),
            ));
        }
    }
    index
        .check_target_exists(&target)
        .map_err(|e| doc.invalid(&target_path, e))?;
    let field_manager = raw
        .field_manager
        .unwrap_or_else(|| action.kubectl_manager().to_string());
    if field_manager.is_empty() || field_manager.chars().count() > 128 {
        return Err(doc.invalid(
            &path.key("field_manager"),
            "a field manager is 1 to 128 characters",
        ));
    }
    Ok(Human {
        at,
        who,
        action,
        target,
        field_manager,
    })
}
