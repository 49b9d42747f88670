//! Self reviews (`authorization.k8s.io/v1`): `SelfSubjectAccessReview` answers whether the
//! caller may do one thing (`kubectl auth can-i delete pods`), `SelfSubjectRulesReview` lists
//! what the caller may do in a namespace (`kubectl auth can-i --list`). Both are answered on
//! create and never stored.

use serde_json::{Value, json};

use super::attributes::{Attributes, ResourceAttributes};
use super::authn::User;
use super::rbac;
use crate::api::request::{decode_object, json_value};
use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::store::Store;

/// Answers a review of type `rt` for `user`.
pub fn answer(
    store: &Store,
    rt: &ResourceType,
    user: &User,
    body: &[u8],
) -> Result<axum::response::Response, ApiError> {
    let mut review = decode_object(rt, body)?;
    review["apiVersion"] = json!(rt.api_version());
    review["kind"] = json!(rt.kind);
    let status = match rt.kind {
        "SelfSubjectAccessReview" => access(store, user, &review)?,
        "SelfSubjectRulesReview" => rules(store, user, &review)?,
        other => {
            return Err(ApiError::internal(format!(
                "{other} is not a review this server answers"
            )));
        }
    };
    review["status"] = status;
    Ok(json_value(201, &review))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn invalid(kind: &str, message: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("{kind}.authorization.k8s.io \"\" is invalid: {message}"),
    )
}

fn access(store: &Store, user: &User, review: &Value) -> Result<Value, ApiError> {
    let spec = review.get("spec").unwrap_or(&Value::Null);
    let attrs = match (
        spec.get("resourceAttributes").filter(|v| v.is_object()),
        spec.get("nonResourceAttributes").filter(|v| v.is_object()),
    ) {
        (Some(r), None) => Attributes::of_resource(
            text(r, "verb"),
            ResourceAttributes {
                group: text(r, "group").into(),
                version: text(r, "version").into(),
                resource: text(r, "resource").into(),
                subresource: text(r, "subresource").into(),
                namespace: text(r, "namespace").into(),
                name: text(r, "name").into(),
            },
        ),
        (None, Some(n)) => Attributes::of_path(text(n, "verb"), text(n, "path")),
        _ => {
            return Err(invalid(
                "SelfSubjectAccessReview",
                "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
    };
    let decision = rbac::authorize(store, user, &attrs);
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    Ok(status)
}

fn rules(store: &Store, user: &User, review: &Value) -> Result<Value, ApiError> {
    let namespace = review
        .pointer("/spec/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if namespace.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    let (rules, errors) = rbac::rules_for(store, user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for r in rules {
        if let Some(urls) = r.non_resource_urls.filter(|u| !u.is_empty()) {
            non_resource_rules.push(json!({"verbs": r.verbs, "nonResourceURLs": urls}));
        } else {
            let mut rule = json!({
                "verbs": r.verbs,
                "apiGroups": r.api_groups.unwrap_or_default(),
                "resources": r.resources.unwrap_or_default(),
            });
            if let Some(names) = r.resource_names.filter(|n| !n.is_empty()) {
                rule["resourceNames"] = json!(names);
            }
            resource_rules.push(rule);
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    Ok(status)
}
