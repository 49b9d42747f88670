//! The RBAC authorizer: whether the Roles and ClusterRoles bound to a caller allow a request,
//! decided as kube-apiserver's RBAC authorizer decides it.
//!
//! ClusterRoleBindings apply everywhere; RoleBindings only to requests in their namespace,
//! whether they grant a Role or a ClusterRole. A rule allows a request when its verbs, API
//! groups, resources (`pods`, `pods/log`, `*/scale`, `*`) and resource names all match, or, for
//! a path, its verbs and non-resource URLs (`/healthz`, `/apis/*`). Members of
//! `system:masters` are allowed everything without a binding. A binding that names a role
//! which does not exist grants nothing and is the reason given with the denial.

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};

use super::attributes::{Attributes, ResourceAttributes};
use super::authn::{MASTERS_GROUP, User, service_account_user};
use crate::api::selectors::LabelSelector;
use crate::resources;
use crate::store::Store;

/// What the authorizer decided, and why (empty when it has nothing to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// `RBAC: allowed by ...` when allowed; the broken bindings' errors when denied.
    pub reason: String,
}

/// Decides whether `user` may do what `attrs` describe.
pub fn authorize(store: &Store, user: &User, attrs: &Attributes) -> Decision {
    if user.in_group(MASTERS_GROUP) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let namespace = attrs.resource.as_ref().map_or("", |r| r.namespace.as_str());
    let (grants, errors) = grants(store, user, namespace);
    for grant in &grants {
        if grant.rules.iter().any(|rule| allows(rule, attrs)) {
            return Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", grant.source),
            };
        }
    }
    let reason = match errors.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    };
    Decision {
        allowed: false,
        reason,
    }
}

/// Every rule that applies to `user` in `namespace` (cluster-wide ones only when it is empty),
/// with the errors of bindings whose role is missing, for rules reviews.
pub fn rules_for(store: &Store, user: &User, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
    let (grants, errors) = grants(store, user, namespace);
    let mut rules: Vec<PolicyRule> = Vec::new();
    if user.in_group(MASTERS_GROUP) {
        let all = vec!["*".to_string()];
        rules.push(PolicyRule {
            api_groups: Some(all.clone()),
            resources: Some(all.clone()),
            verbs: all.clone(),
            ..Default::default()
        });
        rules.push(PolicyRule {
            non_resource_urls: Some(all.clone()),
            verbs: all,
            ..Default::default()
        });
    }
    rules.extend(grants.into_iter().flat_map(|g| g.rules));
    (rules, errors)
}

/// The rules of one role, reached through one binding that applies to the caller.
struct Grant {
    rules: Vec<PolicyRule>,
    /// `ClusterRoleBinding "b" of ClusterRole "r" to User "u"`, as the reason names it.
    source: String,
}

fn grants(store: &Store, user: &User, namespace: &str) -> (Vec<Grant>, Vec<String>) {
    let mut grants = Vec::new();
    let mut errors = Vec::new();
    for crb in store.list_typed::<ClusterRoleBinding>(None) {
        let Some(subject) = applies_to(user, crb.subjects.as_deref(), "") else {
            continue;
        };
        let name = crb.metadata.name.clone().unwrap_or_default();
        match role_rules(store, &crb.role_ref, "") {
            Ok(rules) => grants.push(Grant {
                rules,
                source: format!(
                    "ClusterRoleBinding {name:?} of {} {:?} to {}",
                    crb.role_ref.kind,
                    crb.role_ref.name,
                    describe(subject)
                ),
            }),
            Err(e) => errors.push(e),
        }
    }
    if namespace.is_empty() {
        return (grants, errors);
    }
    for rb in store.list_typed::<RoleBinding>(Some(namespace)) {
        let Some(subject) = applies_to(user, rb.subjects.as_deref(), namespace) else {
            continue;
        };
        let name = rb.metadata.name.clone().unwrap_or_default();
        match role_rules(store, &rb.role_ref, namespace) {
            Ok(rules) => grants.push(Grant {
                rules,
                source: format!(
                    "RoleBinding \"{name}/{namespace}\" of {} {:?} to {}",
                    rb.role_ref.kind,
                    rb.role_ref.name,
                    describe(subject)
                ),
            }),
            Err(e) => errors.push(e),
        }
    }
    (grants, errors)
}

/// The subject of `subjects` that names `user`, if any. A service account subject without a
/// namespace means one in the binding's namespace.
fn applies_to<'a>(
    user: &User,
    subjects: Option<&'a [Subject]>,
    namespace: &str,
) -> Option<&'a Subject> {
    subjects?.iter().find(|s| match s.kind.as_str() {
        "User" => s.name == user.name,
        "Group" => user.in_group(&s.name),
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty() && service_account_user(ns, &s.name) == user.name
        }
        _ => false,
    })
}

fn describe(s: &Subject) -> String {
    match s.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => format!("{} \"{}/{ns}\"", s.kind, s.name),
        None => format!("{} {:?}", s.kind, s.name),
    }
}

/// The rules of the role a binding refers to; the error names a missing one.
fn role_rules(
    store: &Store,
    role_ref: &RoleRef,
    namespace: &str,
) -> Result<Vec<PolicyRule>, String> {
    match role_ref.kind.as_str() {
        "Role" => store
            .get_typed::<Role>(namespace, &role_ref.name)
            .map(|r| r.rules.clone().unwrap_or_default())
            .ok_or_else(|| {
                format!(
                    "role.rbac.authorization.k8s.io {:?} not found",
                    role_ref.name
                )
            }),
        "ClusterRole" => {
            let role = store
                .get_typed::<ClusterRole>("", &role_ref.name)
                .ok_or_else(|| {
                    format!(
                        "clusterrole.rbac.authorization.k8s.io {:?} not found",
                        role_ref.name
                    )
                })?;
            Ok(match &role.aggregation_rule {
                Some(rule) => aggregated(store, &role_ref.name, rule),
                None => role.rules.clone().unwrap_or_default(),
            })
        }
        other => Err(format!("unsupported role reference kind: {other:?}")),
    }
}

/// The rules of an aggregated ClusterRole: those of every ClusterRole its selectors match, as
/// the aggregation controller would have written them.
fn aggregated(store: &Store, name: &str, rule: &AggregationRule) -> Vec<PolicyRule> {
    let selectors: Vec<LabelSelector> = rule
        .cluster_role_selectors
        .iter()
        .flatten()
        .filter_map(|s| serde_json::to_value(s).ok())
        .filter_map(|v| LabelSelector::from_object(Some(&v)).ok())
        .filter(|s| !s.is_empty())
        .collect();
    let rt = resources::of::<ClusterRole>();
    let mut rules = Vec::new();
    for entry in store.list(rt, None).0 {
        if entry.name() != name && selectors.iter().any(|s| s.matches_object(entry.value())) {
            rules.extend(
                entry
                    .typed::<ClusterRole>()
                    .rules
                    .clone()
                    .unwrap_or_default(),
            );
        }
    }
    rules
}

/// Whether one rule allows the request.
pub fn allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    if !has(&rule.verbs, &attrs.verb) {
        return false;
    }
    match &attrs.resource {
        Some(r) => resource_matches(rule, r),
        None => rule.non_resource_urls.iter().flatten().any(|url| {
            url == "*"
                || url == &attrs.path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| attrs.path.starts_with(prefix))
        }),
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|v| v == "*" || v == want)
}

fn resource_matches(rule: &PolicyRule, r: &ResourceAttributes) -> bool {
    if !has(rule.api_groups.as_deref().unwrap_or_default(), &r.group) {
        return false;
    }
    let combined = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    let resource = rule.resources.iter().flatten().any(|res| {
        res == "*"
            || *res == combined
            || (!r.subresource.is_empty() && res.strip_prefix("*/") == Some(&r.subresource))
    });
    let name = match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => names.contains(&r.name),
    };
    resource && name
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    use crate::api::request::Query;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        PolicyRule {
            api_groups: Some(v(groups)),
            resources: Some(v(resources)),
            verbs: v(verbs),
            resource_names: (!names.is_empty()).then(|| v(names)),
            ..Default::default()
        }
    }

    fn req(method: Method, path: &str) -> Attributes {
        Attributes::from_request(&method, path, &Query::default())
    }

    #[test]
    fn subresources_are_distinct_from_their_parent() {
        let pods = rule(&[""], &["pods"], &["get", "create"], &[]);
        assert!(allows(
            &pods,
            &req(Method::GET, "/api/v1/namespaces/a/pods/x")
        ));
        assert!(!allows(
            &pods,
            &req(Method::GET, "/api/v1/namespaces/a/pods/x/log")
        ));
        assert!(!allows(
            &pods,
            &req(Method::POST, "/api/v1/namespaces/a/pods/x/eviction")
        ));
        let log = rule(&[""], &["pods/log"], &["get"], &[]);
        assert!(allows(
            &log,
            &req(Method::GET, "/api/v1/namespaces/a/pods/x/log")
        ));
        assert!(!allows(
            &log,
            &req(Method::GET, "/api/v1/namespaces/a/pods/x")
        ));
        let any_scale = rule(&["apps"], &["*/scale"], &["patch"], &[]);
        assert!(allows(
            &any_scale,
            &req(
                Method::PATCH,
                "/apis/apps/v1/namespaces/a/deployments/w/scale"
            )
        ));
        assert!(!allows(
            &any_scale,
            &req(Method::PATCH, "/apis/apps/v1/namespaces/a/deployments/w")
        ));
    }

    #[test]
    fn groups_verbs_and_names_must_match() {
        let named = rule(&["apps"], &["deployments"], &["get"], &["web"]);
        assert!(allows(
            &named,
            &req(Method::GET, "/apis/apps/v1/namespaces/a/deployments/web")
        ));
        assert!(!allows(
            &named,
            &req(Method::GET, "/apis/apps/v1/namespaces/a/deployments/db")
        ));
        assert!(!allows(
            &named,
            &req(Method::GET, "/apis/apps/v1/namespaces/a/deployments")
        ));
        assert!(!allows(
            &named,
            &req(
                Method::GET,
                "/apis/extensions/v1/namespaces/a/deployments/web"
            )
        ));
        let everything = rule(&["*"], &["*"], &["*"], &[]);
        assert!(allows(&everything, &req(Method::DELETE, "/api/v1/nodes/n")));
        assert!(
            !allows(&everything, &req(Method::GET, "/healthz")),
            "resource rules never match paths"
        );
        let urls = PolicyRule {
            non_resource_urls: Some(vec!["/apis/*".into(), "/version".into()]),
            verbs: vec!["get".into()],
            ..Default::default()
        };
        assert!(allows(&urls, &req(Method::GET, "/apis/apps/v1")));
        assert!(allows(&urls, &req(Method::GET, "/version")));
        assert!(!allows(&urls, &req(Method::GET, "/api")));
        assert!(!allows(&urls, &req(Method::POST, "/version")));
    }
}
