//! Kubernetes facts the agent computes in one place, the way the API server and the
//! controllers define them:
//!
//! - ownership through `metadata.ownerReferences` (pod → ReplicaSet → Deployment, pod →
//!   StatefulSet or DaemonSet), never from the shape of a name;
//! - label selectors with `matchLabels` and `matchExpressions` (`In`, `NotIn`, `Exists`,
//!   `DoesNotExist`), both as a predicate and as the query string a list request sends.
//!
//! Correlation (from the reflector caches), collection and the policy's target facts (from
//! the API) all use these functions.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::{Api, Client};
use nightshift_core::{ResourceRef, WorkloadKind};

/// The controller among an object's owners (`controller: true`), if any.
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

/// What a pod's controller reference says about its workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodController {
    /// Owned by a StatefulSet or DaemonSet directly: the workload itself.
    Workload(ResourceRef),
    /// Owned by a ReplicaSet: its own controller (a Deployment, if any) is the workload.
    ReplicaSet {
        /// Namespace.
        namespace: String,
        /// The ReplicaSet's name.
        name: String,
    },
}

/// The controller of a pod, as far as the pod itself tells.
pub fn pod_controller(pod: &Pod) -> Option<PodController> {
    let namespace = pod.metadata.namespace.clone()?;
    let owner = controller_ref(&pod.metadata)?;
    match owner.kind.as_str() {
        "ReplicaSet" => Some(PodController::ReplicaSet {
            namespace,
            name: owner.name.clone(),
        }),
        "StatefulSet" => Some(PodController::Workload(ResourceRef::workload(
            WorkloadKind::StatefulSet,
            &namespace,
            &owner.name,
        ))),
        "DaemonSet" => Some(PodController::Workload(ResourceRef::workload(
            WorkloadKind::DaemonSet,
            &namespace,
            &owner.name,
        ))),
        _ => None,
    }
}

/// The Deployment controlling a ReplicaSet, from the ReplicaSet's owner references.
pub fn replica_set_owner(rs: &ReplicaSet) -> Option<ResourceRef> {
    let namespace = rs.metadata.namespace.as_deref()?;
    controller_ref(&rs.metadata)
        .filter(|o| o.kind == "Deployment")
        .map(|o| ResourceRef::deployment(namespace, &o.name))
}

/// The workload owning a pod, with `replica_set_owner` finding the owner of a ReplicaSet by
/// namespace and name (from a cache or the API; see [`replica_set_owner`]).
pub fn pod_owner_with(
    pod: &Pod,
    replica_set_owner: impl FnOnce(&str, &str) -> Option<ResourceRef>,
) -> Option<ResourceRef> {
    match pod_controller(pod)? {
        PodController::Workload(w) => Some(w),
        PodController::ReplicaSet { namespace, name } => replica_set_owner(&namespace, &name),
    }
}

/// The workload owning a pod, reading its ReplicaSet through the API when it has one.
pub async fn pod_owner(client: &Client, pod: &Pod) -> Option<ResourceRef> {
    match pod_controller(pod)? {
        PodController::Workload(w) => Some(w),
        PodController::ReplicaSet { namespace, name } => {
            replica_set_owner_named(client, &namespace, &name).await
        }
    }
}

/// The Deployment controlling the ReplicaSet `namespace/name`, read from the API.
pub async fn replica_set_owner_named(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Option<ResourceRef> {
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .ok()??;
    replica_set_owner(&rs)
}

/// Whether `labels` satisfy `selector`. As in Kubernetes, an empty selector selects
/// everything, and a requirement with an unknown operator selects nothing.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_labels
        && selector.match_expressions.iter().flatten().all(|e| {
            let value = labels.get(&e.key);
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// A selector as the `labelSelector` query of a list request (`a=b,c in (d,e),!f`); `None`
/// when it has a requirement no query can express (an unknown operator, `In` with no values),
/// which selects nothing. The empty string selects everything.
pub fn selector_query(selector: &LabelSelector) -> Option<String> {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default();
        parts.push(match e.operator.as_str() {
            "In" if !values.is_empty() => format!("{} in ({})", e.key, values.join(",")),
            "NotIn" if !values.is_empty() => format!("{} notin ({})", e.key, values.join(",")),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            _ => return None,
        });
    }
    Some(parts.join(","))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn owned_by(kind: &str, name: &str, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: name.into(),
            uid: "u".into(),
            controller: Some(controller),
            block_owner_deletion: None,
        }
    }

    #[test]
    fn match_expressions_select_exactly_their_labels() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                req("tier", "In", &["front", "edge"]),
                req("canary", "DoesNotExist", &[]),
                req("zone", "NotIn", &["b"]),
                req("team", "Exists", &[]),
            ]),
        };
        let yes = labels(&[("app", "web"), ("tier", "edge"), ("team", "x")]);
        assert!(selector_matches(&sel, &yes));
        let mut no = yes.clone();
        no.insert("canary".into(), "1".into());
        assert!(!selector_matches(&sel, &no), "DoesNotExist");
        let mut no = yes.clone();
        no.insert("tier".into(), "back".into());
        assert!(!selector_matches(&sel, &no), "In");
        let mut no = yes.clone();
        no.insert("zone".into(), "b".into());
        assert!(!selector_matches(&sel, &no), "NotIn");
        let mut no = yes.clone();
        no.remove("team");
        assert!(!selector_matches(&sel, &no), "Exists");
        let mut no = yes.clone();
        no.insert("app".into(), "api".into());
        assert!(!selector_matches(&sel, &no), "matchLabels");
        assert_eq!(
            selector_query(&sel).unwrap(),
            "app=web,tier in (front,edge),!canary,zone notin (b),team"
        );
    }

    #[test]
    fn an_expression_only_selector_does_not_select_everything() {
        let sel = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![req("app", "In", &["db"])]),
        };
        assert!(selector_matches(&sel, &labels(&[("app", "db")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "web")])));
        assert!(!selector_matches(&sel, &labels(&[])));
        assert_eq!(selector_query(&sel).unwrap(), "app in (db)");
        // The empty selector selects everything; an unknown operator nothing.
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
        assert_eq!(selector_query(&LabelSelector::default()).unwrap(), "");
        let bad = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![req("app", "Near", &["db"])]),
        };
        assert!(!selector_matches(&bad, &labels(&[("app", "db")])));
        assert_eq!(selector_query(&bad), None);
    }

    #[test]
    fn a_pod_named_unlike_its_controller_belongs_to_its_owner() {
        let mut pod = Pod::default();
        pod.metadata.namespace = Some("shop".into());
        pod.metadata.name = Some("totally-unrelated-name".into());
        pod.metadata.owner_references = Some(vec![
            owned_by("Something", "other", false),
            owned_by("ReplicaSet", "weird-rs", true),
        ]);
        let mut rs = ReplicaSet::default();
        rs.metadata.namespace = Some("shop".into());
        rs.metadata.name = Some("weird-rs".into());
        rs.metadata.owner_references = Some(vec![owned_by("Deployment", "checkout", true)]);
        let owner = pod_owner_with(&pod, |ns, name| {
            (ns == "shop" && name == "weird-rs")
                .then(|| replica_set_owner(&rs))
                .flatten()
        });
        assert_eq!(owner, Some(ResourceRef::deployment("shop", "checkout")));
        // A ReplicaSet without a Deployment is no workload of ours.
        let mut bare = rs.clone();
        bare.metadata.owner_references = None;
        assert_eq!(pod_owner_with(&pod, |_, _| replica_set_owner(&bare)), None);
        // StatefulSet pods name their owner directly.
        pod.metadata.owner_references = Some(vec![owned_by("StatefulSet", "ledger", true)]);
        assert_eq!(
            pod_owner_with(&pod, |_, _| None),
            Some(ResourceRef::Workload {
                kind: nightshift_core::WorkloadKind::StatefulSet,
                namespace: "shop".into(),
                name: "ledger".into(),
            })
        );
        // Only the controller counts.
        pod.metadata.owner_references = Some(vec![owned_by("StatefulSet", "ledger", false)]);
        assert_eq!(pod_owner_with(&pod, |_, _| None), None);
    }
}
