//! The objects actions change: workloads addressed uniformly through the dynamic API (one code
//! path for Deployments, StatefulSets, DaemonSets and ReplicaSets), and the owner chain of pods.

use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use nightshift_core::{ActionName, ResourceRef, WorkloadKind};
use serde_json::Value;

use super::error::{ActError, api_code};

/// The workload kinds the actuator changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
}

impl From<WorkloadKind> for Kind {
    fn from(kind: WorkloadKind) -> Self {
        match kind {
            WorkloadKind::Deployment => Kind::Deployment,
            WorkloadKind::StatefulSet => Kind::StatefulSet,
            WorkloadKind::DaemonSet => Kind::DaemonSet,
        }
    }
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::ReplicaSet => "ReplicaSet",
        }
    }

    fn api_resource(self) -> ApiResource {
        match self {
            Kind::Deployment => ApiResource::erase::<Deployment>(&()),
            Kind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
            Kind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
            Kind::ReplicaSet => ApiResource::erase::<ReplicaSet>(&()),
        }
    }
}

/// A workload in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workload {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.kind.name().to_lowercase(),
            self.namespace,
            self.name
        )
    }
}

impl Workload {
    /// The workload an action targets; anything else is the wrong target.
    pub(crate) fn of(action: ActionName, target: &ResourceRef) -> Result<Self, ActError> {
        match target {
            ResourceRef::Workload {
                kind,
                namespace,
                name,
            } => Ok(Workload {
                kind: Kind::from(*kind),
                namespace: namespace.clone(),
                name: name.clone(),
            }),
            other => Err(ActError::WrongTarget {
                action,
                expected: "a workload (deployment, statefulset or daemonset)",
                target: other.to_string(),
            }),
        }
    }

    /// The dynamic API of its kind in its namespace.
    pub(crate) fn api(&self, client: &Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), &self.namespace, &self.kind.api_resource())
    }

    /// The form used in reports: `deployment/shop/checkout`.
    pub(crate) fn object(&self) -> String {
        self.to_ref().to_string()
    }

    /// As a core reference.
    pub(crate) fn to_ref(&self) -> ResourceRef {
        let kind = match self.kind {
            Kind::Deployment => WorkloadKind::Deployment,
            Kind::StatefulSet => WorkloadKind::StatefulSet,
            Kind::DaemonSet => WorkloadKind::DaemonSet,
            // `Workload::of` makes only the catalogue's kinds; ReplicaSets are listed through
            // this type but never targeted.
            Kind::ReplicaSet => unreachable!("a ReplicaSet is never an action's target"),
        };
        ResourceRef::workload(kind, &self.namespace, &self.name)
    }

    /// Reads it as JSON.
    pub(crate) async fn get(&self, client: &Client) -> Result<Value, ActError> {
        match self.api(client).get(&self.name).await {
            Ok(obj) => to_json(&obj, &self.to_string()),
            Err(e) if api_code(&e) == Some(404) => Err(ActError::WorkloadNotFound {
                workload: self.to_string(),
            }),
            Err(source) => Err(ActError::GetWorkload {
                workload: self.to_string(),
                source,
            }),
        }
    }
}

/// Serializes a dynamic object into plain JSON.
pub(crate) fn to_json<T: serde::Serialize>(obj: &T, what: &str) -> Result<Value, ActError> {
    serde_json::to_value(obj).map_err(|source| ActError::Decode {
        what: what.to_string(),
        source,
    })
}

/// An annotation of an object, from its JSON.
pub(crate) fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// The controller owner reference of a pod: (apiVersion, kind, name).
pub(crate) fn controller_of(pod: &Pod) -> Option<(String, String, String)> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.api_version.clone(), o.kind.clone(), o.name.clone()))
}

/// The object whose annotations record a change to one of its pods: the workload at the top
/// of the owner chain (a ReplicaSet's Deployment), or the direct controller of another kind.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub api: Api<DynamicObject>,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Owner {
    /// `deployment/shop/checkout`, or `job/batch/x` for kinds outside the catalogue.
    pub(crate) fn object(&self) -> String {
        format!(
            "{}/{}/{}",
            self.kind.to_lowercase(),
            self.namespace,
            self.name
        )
    }

    /// `deployment shop/checkout`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind.to_lowercase(),
            self.namespace,
            self.name
        )
    }

    /// As a core reference, when its kind is one of the catalogue's workloads (a Job or a
    /// ReplicaSet without a Deployment is none).
    pub(crate) fn to_ref(&self) -> Option<ResourceRef> {
        let kind = self.kind.parse::<WorkloadKind>().ok()?;
        Some(ResourceRef::workload(kind, &self.namespace, &self.name))
    }
}

fn owner_api(client: &Client, ns: &str, api_version: &str, kind: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// Follows a pod's controller owner up one more step when it is a ReplicaSet owned by a
/// Deployment. `None` for a bare pod.
pub(crate) async fn owner_of(client: &Client, pod: &Pod) -> Result<Option<Owner>, ActError> {
    let Some((api_version, kind, name)) = controller_of(pod) else {
        return Ok(None);
    };
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    if kind == "ReplicaSet" {
        let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
        match rs_api.get_opt(&name).await {
            Ok(Some(rs)) => {
                if let Some(dep) = rs
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|o| o.controller == Some(true) && o.kind == "Deployment")
                {
                    return Ok(Some(Owner {
                        api: owner_api(client, &ns, &dep.api_version, "Deployment"),
                        kind: "Deployment".into(),
                        namespace: ns,
                        name: dep.name.clone(),
                    }));
                }
            }
            Ok(None) => {}
            Err(source) => {
                return Err(ActError::GetWorkload {
                    workload: format!("replicaset {ns}/{name}"),
                    source,
                });
            }
        }
    }
    Ok(Some(Owner {
        api: owner_api(client, &ns, &api_version, &kind),
        kind,
        namespace: ns,
        name,
    }))
}

/// A label selector (`matchLabels` and `matchExpressions`) in the query-string form the API
/// takes: `app=checkout,tier in (web,api)`. `None` when it selects nothing.
pub(crate) fn label_selector(sel: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e.get("operator").and_then(Value::as_str) {
            Some("In") => parts.push(format!("{key} in ({})", values.join(","))),
            Some("NotIn") => parts.push(format!("{key} notin ({})", values.join(","))),
            Some("Exists") => parts.push(key.to_string()),
            Some("DoesNotExist") => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}
