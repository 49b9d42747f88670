//! References to the things incidents are about.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The workload controllers whose pods the agent looks after. Declared in alphabetical order,
/// so that resources sort as their names do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkloadKind {
    /// apps/v1 DaemonSet: one pod per eligible node.
    DaemonSet,
    /// apps/v1 Deployment: interchangeable pods through ReplicaSets.
    Deployment,
    /// apps/v1 StatefulSet: pods with stable names and storage.
    StatefulSet,
}

impl WorkloadKind {
    /// Every kind.
    pub const ALL: [WorkloadKind; 3] = [
        WorkloadKind::DaemonSet,
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
    ];

    /// The kind as the API writes it: `Deployment`, `StatefulSet`, `DaemonSet`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        }
    }

    /// The resource's plural name in URLs and RBAC rules: `deployments`, ...
    pub fn plural(self) -> &'static str {
        match self {
            WorkloadKind::DaemonSet => "daemonsets",
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
        }
    }

    /// Whether the kind has a replica count (`spec.replicas`, the scale subresource).
    pub fn scales(self) -> bool {
        !matches!(self, WorkloadKind::DaemonSet)
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workload kind that is none of [`WorkloadKind`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown workload kind {0:?}: expected Deployment, StatefulSet or DaemonSet")]
pub struct UnknownWorkloadKind(pub String);

impl FromStr for WorkloadKind {
    type Err = UnknownWorkloadKind;

    /// Case-insensitive: `Deployment`, `deployment`, `DEPLOYMENT` are one kind.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WorkloadKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownWorkloadKind(s.to_string()))
    }
}

/// A resource an incident, a signal or an action is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", from = "wire::Raw")]
pub enum ResourceRef {
    /// A Deployment, StatefulSet or DaemonSet.
    Workload {
        /// Its controller kind.
        kind: WorkloadKind,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A single pod (bare, or before its owner is known).
    Pod {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A node.
    Node {
        /// Name.
        name: String,
    },
    /// A Service.
    Service {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Something outside the cluster, `host:port`.
    External {
        /// `host:port`.
        host_port: String,
    },
    /// An alert storm: the signals of one rule (or one source) past the number of incidents
    /// the agent keeps open for it, folded into one incident for a human.
    Storm {
        /// `alertmanager` or `watcher`.
        source: String,
        /// The alert rule or detection, or `*` when a whole source overflowed.
        rule: String,
    },
    /// Another namespaced object evidence mentions (a ReplicaSet, a Job, a claim): never an
    /// action's target.
    Object {
        /// Its kind, as the API names it.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

/// Reading resources back: records made before workload kinds were an enum may hold a
/// `workload` of another kind (a ReplicaSet an event was about); it reads as an
/// [`ResourceRef::Object`], so that nothing already recorded becomes unreadable.
mod wire {
    use serde::Deserialize;

    use super::{ResourceRef, WorkloadKind};

    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub(super) enum Raw {
        Workload {
            kind: String,
            namespace: String,
            name: String,
        },
        Pod {
            namespace: String,
            name: String,
        },
        Node {
            name: String,
        },
        Service {
            namespace: String,
            name: String,
        },
        External {
            host_port: String,
        },
        Storm {
            source: String,
            rule: String,
        },
        Object {
            kind: String,
            namespace: String,
            name: String,
        },
    }

    impl From<Raw> for ResourceRef {
        fn from(raw: Raw) -> Self {
            match raw {
                Raw::Workload {
                    kind,
                    namespace,
                    name,
                }
                | Raw::Object {
                    kind,
                    namespace,
                    name,
                } => match kind.parse::<WorkloadKind>() {
                    Ok(kind) => ResourceRef::Workload {
                        kind,
                        namespace,
                        name,
                    },
                    Err(_) => ResourceRef::Object {
                        kind,
                        namespace,
                        name,
                    },
                },
                Raw::Pod { namespace, name } => ResourceRef::Pod { namespace, name },
                Raw::Node { name } => ResourceRef::Node { name },
                Raw::Service { namespace, name } => ResourceRef::Service { namespace, name },
                Raw::External { host_port } => ResourceRef::External { host_port },
                Raw::Storm { source, rule } => ResourceRef::Storm { source, rule },
            }
        }
    }
}

impl ResourceRef {
    /// A Deployment.
    pub fn deployment(namespace: &str, name: &str) -> Self {
        ResourceRef::workload(WorkloadKind::Deployment, namespace, name)
    }

    /// A workload of any kind.
    pub fn workload(kind: WorkloadKind, namespace: &str, name: &str) -> Self {
        ResourceRef::Workload {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The workload's kind, when this is a workload.
    pub fn workload_kind(&self) -> Option<WorkloadKind> {
        match self {
            ResourceRef::Workload { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// A node.
    pub fn node(name: &str) -> Self {
        ResourceRef::Node { name: name.into() }
    }

    /// The namespace, if the resource has one.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            ResourceRef::Workload { namespace, .. }
            | ResourceRef::Pod { namespace, .. }
            | ResourceRef::Service { namespace, .. }
            | ResourceRef::Object { namespace, .. } => Some(namespace),
            ResourceRef::Node { .. } | ResourceRef::External { .. } | ResourceRef::Storm { .. } => {
                None
            }
        }
    }

    /// The form the scenario contract uses for `locate`: `namespace/name`, `node/<name>` or
    /// `external/<host:port>`.
    pub fn locate_key(&self) -> String {
        match self {
            ResourceRef::Workload {
                namespace, name, ..
            }
            | ResourceRef::Pod { namespace, name }
            | ResourceRef::Service { namespace, name }
            | ResourceRef::Object {
                namespace, name, ..
            } => format!("{namespace}/{name}"),
            ResourceRef::Node { name } => format!("node/{name}"),
            ResourceRef::External { host_port } => format!("external/{host_port}"),
            ResourceRef::Storm { source, rule } => format!("storm/{source}/{rule}"),
        }
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceRef::Workload {
                kind,
                namespace,
                name,
            } => {
                write!(f, "{}/{namespace}/{name}", kind.as_str().to_lowercase())
            }
            ResourceRef::Pod { namespace, name } => write!(f, "pod/{namespace}/{name}"),
            ResourceRef::Node { name } => write!(f, "node/{name}"),
            ResourceRef::Service { namespace, name } => write!(f, "service/{namespace}/{name}"),
            ResourceRef::External { host_port } => write!(f, "external/{host_port}"),
            ResourceRef::Storm { source, rule } => write!(f, "storm/{source}/{rule}"),
            ResourceRef::Object {
                kind,
                namespace,
                name,
            } => write!(f, "{}/{namespace}/{name}", kind.to_lowercase()),
        }
    }
}

impl FromStr for ResourceRef {
    type Err = String;

    /// Parses the [`Display`](fmt::Display) form: `deployment/ns/name`, `statefulset/ns/name`,
    /// `daemonset/ns/name`, `pod/ns/name`, `service/ns/name`, `node/name`, `external/host:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        // Lower case only, as Display writes it.
        let kind = |k: &str| {
            WorkloadKind::ALL
                .into_iter()
                .find(|w| w.as_str().to_lowercase() == k)
        };
        match parts.as_slice() {
            ["node", name] if !name.is_empty() => Ok(ResourceRef::node(name)),
            ["external", hp] if hp.contains(':') => Ok(ResourceRef::External {
                host_port: hp.to_string(),
            }),
            ["storm", source, rule] if !source.is_empty() && !rule.is_empty() => {
                Ok(ResourceRef::Storm {
                    source: source.to_string(),
                    rule: rule.to_string(),
                })
            }
            ["pod", ns, name] => Ok(ResourceRef::Pod {
                namespace: ns.to_string(),
                name: name.to_string(),
            }),
            ["service", ns, name] => Ok(ResourceRef::Service {
                namespace: ns.to_string(),
                name: name.to_string(),
            }),
            [k, ns, name] if kind(k).is_some() => Ok(ResourceRef::Workload {
                kind: kind(k).expect("checked"),
                namespace: ns.to_string(),
                name: name.to_string(),
            }),
            _ => Err(format!(
                "invalid resource {s:?}: expected deployment|statefulset|daemonset|pod|service/<namespace>/<name>, node/<name> or external/<host:port>"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_kinds_parse_case_insensitively_and_refuse_the_unknown() {
        assert_eq!("statefulset".parse(), Ok(WorkloadKind::StatefulSet));
        assert_eq!("Deployment".parse(), Ok(WorkloadKind::Deployment));
        let err = "CronJob".parse::<WorkloadKind>().unwrap_err();
        assert!(err.to_string().contains("CronJob"), "{err}");
    }

    #[test]
    fn records_read_back_as_written_and_older_ones_stay_readable() {
        let w = ResourceRef::workload(WorkloadKind::StatefulSet, "shop", "ledger");
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "workload", "kind": "StatefulSet", "namespace": "shop", "name": "ledger"})
        );
        assert_eq!(serde_json::from_value::<ResourceRef>(json).unwrap(), w);
        // Written before kinds were an enum: an event's ReplicaSet as a workload.
        let old = serde_json::json!({"type": "workload", "kind": "ReplicaSet", "namespace": "shop", "name": "checkout-5d8f7c9b6"});
        let read: ResourceRef = serde_json::from_value(old).unwrap();
        assert_eq!(
            read,
            ResourceRef::Object {
                kind: "ReplicaSet".into(),
                namespace: "shop".into(),
                name: "checkout-5d8f7c9b6".into()
            }
        );
        assert_eq!(read.to_string(), "replicaset/shop/checkout-5d8f7c9b6");
        let again: ResourceRef =
            serde_json::from_value(serde_json::to_value(&read).unwrap()).unwrap();
        assert_eq!(again, read);
    }
}
