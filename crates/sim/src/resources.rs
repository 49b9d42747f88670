//! The resource types the simulated API server serves, as discovery describes them.

/// One served resource type.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Kind of the list type.
    pub list_kind: &'static str,
    /// Plural resource name (the URL segment).
    pub plural: &'static str,
    /// Singular resource name.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`po`, `deploy`, ...).
    pub short_names: &'static [&'static str],
    /// Subresources served under `<plural>/<name>/<sub>`.
    pub subresources: &'static [&'static str],
    /// Categories (`all`) for `kubectl get all`.
    pub categories: &'static [&'static str],
    /// Whether clients may write it (metrics are read-only).
    pub writable: bool,
}

impl ResourceType {
    /// `apiVersion` as written in objects: `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The resource as kube-apiserver names it in messages: `pods`, `deployments.apps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Verbs advertised in discovery.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.is_review() {
            &["create"]
        } else if self.writable {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        } else {
            &["get", "list"]
        }
    }

    /// Whether it is a review (`authorization.k8s.io`): created to get an answer, never stored.
    pub fn is_review(&self) -> bool {
        self.group == REVIEW_GROUP
    }

    /// Whether the `status` subresource exists, so spec and status are written separately.
    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }
}

/// The group of the access reviews.
const REVIEW_GROUP: &str = "authorization.k8s.io";

/// A review type: cluster-scoped, answered on create, not writable as a stored object.
const fn review(kind: &'static str, plural: &'static str, singular: &'static str) -> ResourceType {
    ResourceType {
        group: REVIEW_GROUP,
        version: "v1",
        kind,
        list_kind: "",
        plural,
        singular,
        namespaced: false,
        short_names: &[],
        subresources: &[],
        categories: &[],
        writable: false,
    }
}

macro_rules! rt {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $ns:expr, $short:expr, $sub:expr, $cat:expr) => {
        ResourceType {
            group: $group,
            version: $version,
            kind: $kind,
            list_kind: concat!($kind, "List"),
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            short_names: $short,
            subresources: $sub,
            categories: $cat,
            writable: true,
        }
    };
}

/// Every resource type the simulated API server serves.
pub static RESOURCE_TYPES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        &["ns"],
        &["status"],
        &[]
    ),
    rt!(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        false,
        &["no"],
        &["status"],
        &[]
    ),
    rt!(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        true,
        &["po"],
        &["status", "log", "eviction"],
        &["all"]
    ),
    rt!(
        "",
        "v1",
        "Event",
        "events",
        "event",
        true,
        &["ev"],
        &[],
        &[]
    ),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        true,
        &["svc"],
        &["status"],
        &["all"]
    ),
    rt!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        true,
        &["ep"],
        &[],
        &[]
    ),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        &["cm"],
        &[],
        &[]
    ),
    rt!("", "v1", "Secret", "secrets", "secret", true, &[], &[], &[]),
    rt!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        &["sa"],
        &[],
        &[]
    ),
    rt!(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        true,
        &["rc"],
        &["status", "scale"],
        &["all"]
    ),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        true,
        &["deploy"],
        &["status", "scale"],
        &["all"]
    ),
    rt!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        true,
        &["rs"],
        &["status", "scale"],
        &["all"]
    ),
    rt!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        &["sts"],
        &["status", "scale"],
        &["all"]
    ),
    rt!(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        true,
        &["ds"],
        &["status"],
        &["all"]
    ),
    rt!(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        true,
        &[],
        &[],
        &[]
    ),
    rt!(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        true,
        &[],
        &["status"],
        &["all"]
    ),
    rt!(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        true,
        &["pdb"],
        &["status"],
        &[]
    ),
    rt!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        true,
        &[],
        &[],
        &[]
    ),
    rt!(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        true,
        &["ev"],
        &[],
        &[]
    ),
    rt!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        true,
        &["netpol"],
        &[],
        &[]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        true,
        &[],
        &[],
        &[]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        true,
        &[],
        &[],
        &[]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        false,
        &[],
        &[],
        &[]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        false,
        &[],
        &[],
        &[]
    ),
    review(
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
    ),
    review(
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
    ),
    ResourceType {
        group: "metrics.k8s.io",
        version: "v1beta1",
        kind: "PodMetrics",
        list_kind: "PodMetricsList",
        plural: "pods",
        singular: "",
        namespaced: true,
        short_names: &[],
        subresources: &[],
        categories: &[],
        writable: false,
    },
    ResourceType {
        group: "metrics.k8s.io",
        version: "v1beta1",
        kind: "NodeMetrics",
        list_kind: "NodeMetricsList",
        plural: "nodes",
        singular: "",
        namespaced: false,
        short_names: &[],
        subresources: &[],
        categories: &[],
        writable: false,
    },
];

/// API groups with their versions, in the order discovery lists them.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for rt in RESOURCE_TYPES {
        if !rt.group.is_empty() && !out.iter().any(|(g, v)| *g == rt.group && *v == rt.version) {
            out.push((rt.group, rt.version));
        }
    }
    out
}

/// The resource type served at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCE_TYPES
        .iter()
        .find(|rt| rt.group == group && rt.version == version && rt.plural == plural)
}

/// The stored resource type of a k8s-openapi type.
pub fn of<K: k8s_openapi::Resource>() -> &'static ResourceType {
    find(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT)
        .unwrap_or_else(|| panic!("resource type {} is not registered", K::KIND))
}

/// Stable index of a resource type in [`RESOURCE_TYPES`], used as a map key.
pub fn index_of(rt: &ResourceType) -> usize {
    RESOURCE_TYPES
        .iter()
        .position(|r| std::ptr::eq(r, rt))
        .expect("resource type comes from RESOURCE_TYPES")
}
