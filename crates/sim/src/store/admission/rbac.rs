//! What Roles, ClusterRoles and their bindings must be to be stored, worded as the real API
//! server words it: rules name verbs and either resources or non-resource URLs, bindings refer
//! to a role of a kind they may grant, subjects are of a known kind, and a binding's `roleRef`
//! never changes.

use serde_json::Value;

/// The RBAC API group.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// RBAC objects are named by path segments (`system:discovery`), not DNS subdomains.
pub fn validate_name(name: &str) -> Result<(), String> {
    let problem = match name {
        "." | ".." => Some(format!("may not be '{name}'")),
        _ if name.contains('/') => Some("may not contain '/'".to_string()),
        _ if name.contains('%') => Some("may not contain '%'".to_string()),
        _ => None,
    };
    match problem {
        Some(p) => Err(format!("metadata.name: Invalid value: {name:?}: {p}")),
        None => Ok(()),
    }
}

/// Checks an RBAC object of `kind`; the message says what is wrong, `field: reason`.
pub fn validate(kind: &str, obj: &Value) -> Result<(), String> {
    match kind {
        "Role" => rules(obj, true),
        "ClusterRole" => rules(obj, false),
        "RoleBinding" => binding(obj, &["Role", "ClusterRole"]),
        "ClusterRoleBinding" => binding(obj, &["ClusterRole"]),
        _ => Ok(()),
    }
}

/// Checks that an update keeps a binding's `roleRef`.
pub fn validate_update(old: &Value, new: &Value) -> Result<(), String> {
    let (Some(before), Some(after)) = (old.get("roleRef"), new.get("roleRef")) else {
        return Ok(());
    };
    if before != after {
        return Err(format!(
            "roleRef: Invalid value: {after}: cannot change roleRef"
        ));
    }
    Ok(())
}

fn list(v: &Value, key: &str) -> usize {
    v.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

fn rules(obj: &Value, namespaced: bool) -> Result<(), String> {
    let Some(rules) = obj.get("rules").and_then(Value::as_array) else {
        return Ok(());
    };
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        if list(rule, "verbs") == 0 {
            return Err(format!(
                "{at}.verbs: Required value: verbs must contain at least one value"
            ));
        }
        let urls = list(rule, "nonResourceURLs");
        if urls > 0 && namespaced {
            return Err(format!(
                "{at}.nonResourceURLs: Invalid value: {}: namespaced rules cannot apply to non-resource URLs",
                rule["nonResourceURLs"]
            ));
        }
        let resources = list(rule, "resources") + list(rule, "apiGroups");
        if urls > 0 && resources > 0 {
            return Err(format!(
                "{at}.nonResourceURLs: Invalid value: {}: rules cannot apply to both regular resources and non-resource URLs",
                rule["nonResourceURLs"]
            ));
        }
        if urls == 0 {
            if list(rule, "apiGroups") == 0 {
                return Err(format!(
                    "{at}.apiGroups: Required value: resource rules must supply at least one api group"
                ));
            }
            if list(rule, "resources") == 0 {
                return Err(format!(
                    "{at}.resources: Required value: resource rules must supply at least one resource"
                ));
            }
        }
    }
    Ok(())
}

fn binding(obj: &Value, kinds: &[&str]) -> Result<(), String> {
    let role_ref = obj.get("roleRef").unwrap_or(&Value::Null);
    let kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or("");
    if !kinds.contains(&kind) {
        let supported: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
        return Err(format!(
            "roleRef.kind: Unsupported value: {kind:?}: supported values: {}",
            supported.join(", ")
        ));
    }
    let group = role_ref
        .get("apiGroup")
        .and_then(Value::as_str)
        .unwrap_or("");
    if group != GROUP {
        return Err(format!(
            "roleRef.apiGroup: Unsupported value: {group:?}: supported values: \"{GROUP}\""
        ));
    }
    if role_ref
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("roleRef.name: Required value".into());
    }
    let subjects = obj
        .get("subjects")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, s) in subjects.iter().enumerate() {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "ServiceAccount" | "User" | "Group") {
            return Err(format!(
                "subjects[{i}].kind: Unsupported value: {kind:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""
            ));
        }
        if s.get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("subjects[{i}].name: Required value"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_need_verbs_and_a_target() {
        let ok = json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        assert_eq!(validate("Role", &ok), Ok(()));
        let no_verbs = json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": []}]});
        assert!(
            validate("Role", &no_verbs)
                .unwrap_err()
                .starts_with("rules[0].verbs")
        );
        let url = json!({"rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]});
        assert!(
            validate("Role", &url)
                .unwrap_err()
                .contains("namespaced rules")
        );
        assert_eq!(validate("ClusterRole", &url), Ok(()));
    }

    #[test]
    fn bindings_refer_to_roles_they_may_grant() {
        let rb = |kind: &str| {
            json!({"roleRef": {"apiGroup": GROUP, "kind": kind, "name": "r"},
                   "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]})
        };
        assert_eq!(validate("RoleBinding", &rb("Role")), Ok(()));
        assert_eq!(validate("RoleBinding", &rb("ClusterRole")), Ok(()));
        assert_eq!(
            validate("ClusterRoleBinding", &rb("Role")),
            Err(
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""
                    .into()
            )
        );
        assert!(validate_update(&rb("Role"), &rb("ClusterRole")).is_err());
        assert_eq!(validate_update(&rb("Role"), &rb("Role")), Ok(()));
    }
}
