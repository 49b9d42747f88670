//! Did a person make the change the agent only proposed? In observe mode the agent watches
//! the proposal's target for a while; a change made by anyone but the agent is found in the
//! object's managed fields (the field manager that last set each field, and when), so a
//! `kubectl rollout restart` after a proposed rollout-restart is agreement, and a rollback
//! instead of it is not.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::{Api, Client};
use nightshift_core::{Action, ResourceRef, WorkloadKind};
use serde_json::Value;

/// What a change did, as read from the fields it set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Set the pod template's `kubectl.kubernetes.io/restartedAt`.
    Restart,
    /// Changed containers' images (a rollback, or a new release).
    Image,
    /// Changed containers' resources.
    Resources,
    /// Changed the replica count.
    Replicas,
    /// Marked a node unschedulable.
    Cordon,
    /// Made a node schedulable again.
    Uncordon,
}

impl Change {
    /// Whether this change is what `action` would have done.
    pub fn matches(self, action: &Action) -> bool {
        matches!(
            (self, action),
            (
                Change::Restart,
                Action::RolloutRestart { .. } | Action::RestartPod { .. }
            ) | (Change::Image, Action::Rollback { .. })
                | (Change::Resources, Action::SetResources { .. })
                | (Change::Replicas, Action::Scale { .. })
                | (
                    Change::Cordon,
                    Action::CordonNode { .. } | Action::DrainNode { .. }
                )
                | (Change::Uncordon, Action::UncordonNode { .. })
        )
    }

    /// In words.
    pub fn describe(self) -> &'static str {
        match self {
            Change::Restart => "restarted the workload",
            Change::Image => "changed the image (a rollback or a release)",
            Change::Resources => "changed container resources",
            Change::Replicas => "scaled it",
            Change::Cordon => "cordoned the node",
            Change::Uncordon => "uncordoned the node",
        }
    }
}

/// A change someone other than the agent made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenChange {
    /// What it did.
    pub change: Change,
    /// The field manager it is recorded under (`kubectl-rollout`).
    pub manager: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Changes to the target of `action` made since `since` by any field manager but `ours`,
/// oldest first. Nothing for actions without a workload or node target.
pub async fn changes_since(
    client: &Client,
    action: &Action,
    since: DateTime<Utc>,
    ours: &str,
) -> Result<Vec<SeenChange>, kube::Error> {
    let (entries, unschedulable) = match target_of(action) {
        Some(Target::Workload(kind, ns, name)) => {
            let managed = match kind {
                WorkloadKind::Deployment => Api::<Deployment>::namespaced(client.clone(), &ns)
                    .get_opt(&name)
                    .await?
                    .map(|o| o.metadata.managed_fields),
                WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), &ns)
                    .get_opt(&name)
                    .await?
                    .map(|o| o.metadata.managed_fields),
                WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(client.clone(), &ns)
                    .get_opt(&name)
                    .await?
                    .map(|o| o.metadata.managed_fields),
            };
            (managed.flatten().unwrap_or_default(), None)
        }
        Some(Target::Node(name)) => match Api::<Node>::all(client.clone()).get_opt(&name).await? {
            Some(n) => (
                n.metadata.managed_fields.unwrap_or_default(),
                Some(n.spec.and_then(|s| s.unschedulable).unwrap_or(false)),
            ),
            None => (Vec::new(), None),
        },
        None => return Ok(Vec::new()),
    };
    Ok(read(&entries, since, ours, unschedulable))
}

/// The changes managed-field entries record, newer than `since` and not `ours`.
pub fn read(
    entries: &[ManagedFieldsEntry],
    since: DateTime<Utc>,
    ours: &str,
    unschedulable: Option<bool>,
) -> Vec<SeenChange> {
    let mut out = Vec::new();
    for e in entries {
        let manager = e.manager.clone().unwrap_or_default();
        let Some(at) = e
            .time
            .as_ref()
            .and_then(|t| DateTime::from_timestamp_millis(t.0.as_millisecond()))
        else {
            continue;
        };
        // Managed-field times have whole seconds.
        if manager == ours || at < since - chrono::Duration::seconds(1) {
            continue;
        }
        let Some(fields) = e.fields_v1.as_ref().map(|f| &f.0) else {
            continue;
        };
        let template = fields.pointer("/f:spec/f:template");
        let restarted = template
            .and_then(|t| t.pointer("/f:metadata/f:annotations"))
            .is_some_and(|a| a.get("f:kubectl.kubernetes.io/restartedAt").is_some());
        let containers = template.and_then(|t| t.pointer("/f:spec/f:containers"));
        let in_containers = |field: &str| {
            containers
                .and_then(Value::as_object)
                .is_some_and(|m| m.values().any(|c| c.get(field).is_some()))
        };
        let mut push = |change| {
            out.push(SeenChange {
                change,
                manager: manager.clone(),
                at,
            })
        };
        if restarted {
            push(Change::Restart);
        }
        if in_containers("f:image") {
            push(Change::Image);
        }
        if in_containers("f:resources") {
            push(Change::Resources);
        }
        if fields.pointer("/f:spec/f:replicas").is_some() {
            push(Change::Replicas);
        }
        if fields.pointer("/f:spec/f:unschedulable").is_some() {
            push(if unschedulable == Some(false) {
                Change::Uncordon
            } else {
                Change::Cordon
            });
        }
    }
    out.sort_by_key(|c| c.at);
    out
}

enum Target {
    Workload(WorkloadKind, String, String),
    Node(String),
}

fn target_of(action: &Action) -> Option<Target> {
    match action {
        Action::CordonNode { node }
        | Action::DrainNode { node }
        | Action::UncordonNode { node } => Some(Target::Node(node.clone())),
        _ => match action.target()? {
            ResourceRef::Workload {
                kind,
                namespace,
                name,
            } => Some(Target::Workload(kind, namespace, name)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, Time};
    use serde_json::json;

    fn entry(manager: &str, minute: i64, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Update".into()),
            time: Some(Time(
                k8s_openapi::jiff::Timestamp::from_millisecond(at(minute).timestamp_millis())
                    .unwrap(),
            )),
            fields_v1: Some(FieldsV1(fields)),
            fields_type: Some("FieldsV1".into()),
            ..Default::default()
        }
    }

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    #[test]
    fn changes_are_read_from_the_fields_each_manager_set() {
        let restart = json!({"f:spec": {"f:template": {"f:metadata": {"f:annotations": {
            "f:kubectl.kubernetes.io/restartedAt": {}}}}}});
        let image = json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"app\"}": {".": {}, "f:image": {}}}}}}});
        let entries = vec![
            entry("kubectl-rollout", 10, restart.clone()),
            entry("nightshift", 11, restart),
            entry("kubectl-edit", 12, image),
            entry("kubectl-scale", 2, json!({"f:spec": {"f:replicas": {}}})),
        ];
        let seen = read(&entries, at(5), "nightshift", None);
        assert_eq!(
            seen.iter()
                .map(|c| (c.change, c.manager.as_str()))
                .collect::<Vec<_>>(),
            [
                (Change::Restart, "kubectl-rollout"),
                (Change::Image, "kubectl-edit")
            ]
        );
        let restart = Action::RolloutRestart {
            target: ResourceRef::deployment("shop", "cart"),
        };
        assert!(seen[0].change.matches(&restart));
        assert!(!seen[1].change.matches(&restart));
    }

    #[test]
    fn a_node_change_is_a_cordon_or_an_uncordon_by_its_state_now() {
        let e = vec![entry(
            "kubectl-cordon",
            1,
            json!({"f:spec": {"f:unschedulable": {}}}),
        )];
        assert_eq!(
            read(&e, at(0), "nightshift", Some(true))[0].change,
            Change::Cordon
        );
        assert_eq!(
            read(&e, at(0), "nightshift", Some(false))[0].change,
            Change::Uncordon
        );
    }
}
