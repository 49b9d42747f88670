//! What a request asks to do, in the terms RBAC rules are written in: a verb on a resource
//! (group, resource, subresource, namespace, name) or on a non-resource path. The path is
//! read the way kube-apiserver reads it, without looking at which resources exist, so a
//! request for a resource the server does not serve is still authorized (and forbidden) first.

use axum::http::Method;
use serde_json::json;

use super::authn::User;
use crate::api::request::Query;
use crate::api::status::ApiError;

/// What a resource request names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    /// API group; empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource (`log`, `eviction`, `scale`, `status`), or empty.
    pub subresource: String,
    /// Namespace, or empty for cluster-scoped and all-namespace requests.
    pub namespace: String,
    /// Object name, or empty for collections.
    pub name: String,
}

/// A request as the authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection` for
    /// resources; the lowercase HTTP method for non-resource paths.
    pub verb: String,
    /// The resource, or `None` for a non-resource path (`/healthz`, `/api`, `/version`).
    pub resource: Option<ResourceAttributes>,
    /// The request path.
    pub path: String,
}

impl Attributes {
    /// The attributes of a request.
    pub fn from_request(method: &Method, path: &str, query: &Query) -> Self {
        let non_resource = || Attributes {
            verb: method.as_str().to_ascii_lowercase(),
            resource: None,
            path: path.to_string(),
        };
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match segs.as_slice() {
            ["api", rest @ ..] => ("", rest),
            ["apis", group, rest @ ..] => (*group, rest),
            _ => return non_resource(),
        };
        let [version, parts @ ..] = rest else {
            return non_resource();
        };
        if parts.is_empty() {
            return non_resource();
        }
        let mut verb = match *method {
            Method::GET | Method::HEAD => "get",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        };
        let mut parts = parts;
        if parts.first() == Some(&"watch") {
            verb = "watch";
            parts = &parts[1..];
        }
        let mut namespace = "";
        if parts.first() == Some(&"namespaces") && parts.len() > 1 {
            namespace = parts[1];
            // `namespaces/<ns>/status` and `/finalize` are the namespace's own subresources.
            if parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
                parts = &parts[2..];
            }
        }
        let mut r = ResourceAttributes {
            group: group.to_string(),
            version: version.to_string(),
            resource: parts.first().copied().unwrap_or("").to_string(),
            name: parts.get(1).copied().unwrap_or("").to_string(),
            subresource: parts.get(2).copied().unwrap_or("").to_string(),
            namespace: namespace.to_string(),
        };
        if r.name.is_empty() && verb == "get" {
            verb = if query.flag("watch") { "watch" } else { "list" };
        }
        if r.name.is_empty() && matches!(verb, "list" | "watch") {
            r.name = exact_name(query).unwrap_or_default();
        }
        if r.name.is_empty() && verb == "delete" {
            verb = "deletecollection";
        }
        Attributes {
            verb: verb.to_string(),
            resource: Some(r),
            path: path.to_string(),
        }
    }

    /// The attributes of a resource request, as access reviews state them.
    pub fn of_resource(verb: &str, r: ResourceAttributes) -> Self {
        Attributes {
            verb: verb.to_string(),
            resource: Some(r),
            path: String::new(),
        }
    }

    /// The attributes of a non-resource request, as access reviews state them.
    pub fn of_path(verb: &str, path: &str) -> Self {
        Attributes {
            verb: verb.to_string(),
            resource: None,
            path: path.to_string(),
        }
    }

    /// The 403 for `user`, worded and detailed as kube-apiserver's: `pods "x" is forbidden:
    /// User "u" cannot delete resource "pods" in API group "" in the namespace "ns"`, with the
    /// authorizer's reason after a colon when it gave one.
    pub fn forbidden(&self, user: &User, reason: &str) -> ApiError {
        let (what, details) = match &self.resource {
            None => (
                format!(
                    "User {:?} cannot {} path {:?}",
                    user.name, self.verb, self.path
                ),
                json!({}),
            ),
            Some(r) => {
                let mut resource = r.resource.clone();
                if !r.subresource.is_empty() {
                    resource = format!("{resource}/{}", r.subresource);
                }
                let scope = if r.namespace.is_empty() {
                    "at the cluster scope".to_string()
                } else {
                    format!("in the namespace {:?}", r.namespace)
                };
                let mut details = json!({});
                for (key, value) in [
                    ("name", &r.name),
                    ("group", &r.group),
                    ("kind", &r.resource),
                ] {
                    if !value.is_empty() {
                        details[key] = json!(value);
                    }
                }
                (
                    format!(
                        "User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                        user.name, self.verb, r.group
                    ),
                    details,
                )
            }
        };
        let what = if reason.is_empty() {
            what
        } else {
            format!("{what}: {reason}")
        };
        let message = match &self.resource {
            Some(r) if !r.resource.is_empty() => {
                let qualified = if r.group.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}.{}", r.resource, r.group)
                };
                if r.name.is_empty() {
                    format!("{qualified} is forbidden: {what}")
                } else {
                    format!("{qualified} {:?} is forbidden: {what}", r.name)
                }
            }
            _ => format!("forbidden: {what}"),
        };
        ApiError::new(403, "Forbidden", message).with_details(details)
    }
}

/// The name a list or watch is limited to by `fieldSelector=metadata.name=<name>`, so rules
/// with `resourceNames` allow watching one object, as kube-apiserver allows it.
fn exact_name(query: &Query) -> Option<String> {
    let selector = query.get("fieldSelector")?;
    selector.split(',').find_map(|term| {
        let rest = term.trim().strip_prefix("metadata.name")?;
        let value = rest.strip_prefix("==").or_else(|| rest.strip_prefix('='))?;
        (!value.is_empty()).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, uri: &str) -> Attributes {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        Attributes::from_request(&method, path, &Query::parse(Some(query)).unwrap())
    }

    fn resource(a: &Attributes) -> (&str, &str, &str, &str, &str, &str) {
        let r = a.resource.as_ref().expect("a resource request");
        (
            a.verb.as_str(),
            r.group.as_str(),
            r.resource.as_str(),
            r.subresource.as_str(),
            r.namespace.as_str(),
            r.name.as_str(),
        )
    }

    #[test]
    fn verbs_and_targets_read_like_kube_apiserver() {
        let cases = [
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods",
                ("list", "", "pods", "", "ns", ""),
            ),
            (
                Method::GET,
                "/api/v1/pods?watch=true",
                ("watch", "", "pods", "", "", ""),
            ),
            (
                Method::GET,
                "/api/v1/watch/namespaces/ns/pods",
                ("watch", "", "pods", "", "ns", ""),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dweb",
                ("list", "", "pods", "", "ns", "web"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods/web/log",
                ("get", "", "pods", "log", "ns", "web"),
            ),
            (
                Method::POST,
                "/api/v1/namespaces/ns/pods/web/eviction",
                ("create", "", "pods", "eviction", "ns", "web"),
            ),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/ns/deployments/web/scale",
                ("patch", "apps", "deployments", "scale", "ns", "web"),
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/ns/pods",
                ("deletecollection", "", "pods", "", "ns", ""),
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/ns/pods/web",
                ("delete", "", "pods", "", "ns", "web"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns",
                ("get", "", "namespaces", "", "ns", "ns"),
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/ns/status",
                ("update", "", "namespaces", "status", "ns", "ns"),
            ),
            (
                Method::GET,
                "/api/v1/nodes/a",
                ("get", "", "nodes", "", "", "a"),
            ),
            (
                Method::GET,
                "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods",
                ("list", "metrics.k8s.io", "pods", "", "ns", ""),
            ),
        ];
        for (method, uri, want) in cases {
            assert_eq!(resource(&attrs(method, uri)), want, "{uri}");
        }
        for path in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/healthz",
            "/version",
        ] {
            let a = attrs(Method::GET, path);
            assert_eq!(
                (a.verb.as_str(), a.resource.is_none()),
                ("get", true),
                "{path}"
            );
        }
    }

    #[test]
    fn denials_read_like_kube_apiserver() {
        let sa = User::service_account("ns", "sa");
        let e = attrs(Method::DELETE, "/api/v1/namespaces/ns/pods/x").forbidden(&sa, "");
        assert_eq!(
            e.message,
            r#"pods "x" is forbidden: User "system:serviceaccount:ns:sa" cannot delete resource "pods" in API group "" in the namespace "ns""#
        );
        assert_eq!(e.details, Some(json!({"name": "x", "kind": "pods"})));
        let e = attrs(Method::GET, "/apis/apps/v1/deployments").forbidden(&sa, "");
        assert_eq!(
            e.message,
            r#"deployments.apps is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "deployments" in API group "apps" at the cluster scope"#
        );
        assert_eq!(
            e.details,
            Some(json!({"group": "apps", "kind": "deployments"}))
        );
        let e = attrs(Method::POST, "/api/v1/namespaces/ns/pods/x/eviction").forbidden(&sa, "");
        assert!(
            e.message
                .contains(r#"cannot create resource "pods/eviction" in API group """#)
        );
        let e = attrs(Method::GET, "/api").forbidden(&User::anonymous(), "");
        assert_eq!(
            e.message,
            r#"forbidden: User "system:anonymous" cannot get path "/api""#
        );
    }
}
