//! Who a verified ID token says signed in: the person's name, and the role and namespaces
//! their groups map to in `console.oidc.roles` and `console.oidc.namespaces`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::OidcError;
use super::config::OidcConfig;
use crate::auth::{Identity, Role};

/// The longest name accepted from a token.
const MAX_NAME_CHARS: usize = 200;

/// The identity of `claims`. The name is the username claim as the provider gives it (so the
/// policy's `approvers` can name people), else `email`, else `sub`. The role is the highest
/// whose groups include one of the person's; an approver's namespaces are the union of its
/// approving groups' lists, unless one of those groups is not limited. Nobody is let in
/// without a mapped group.
pub fn identity(claims: &Map<String, Value>, config: &OidcConfig) -> Result<Identity, OidcError> {
    let name = [config.username_claim(), "email", "sub"]
        .into_iter()
        .filter_map(|claim| claims.get(claim).and_then(Value::as_str))
        .find(|v| {
            !v.trim().is_empty()
                && v.chars().count() <= MAX_NAME_CHARS
                && !v.chars().any(char::is_control)
        })
        .ok_or_else(|| OidcError::NoUsername(config.username_claim().to_string()))?
        .to_string();
    let groups: BTreeSet<&str> = match claims.get(&config.groups_claim) {
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(one)) => [one.as_str()].into(),
        _ => BTreeSet::new(),
    };
    let member = |of: &[String]| of.iter().any(|g| groups.contains(g.as_str()));
    let role = if member(&config.roles.admin) {
        Role::Admin
    } else if member(&config.roles.approver) {
        Role::Approver
    } else if member(&config.roles.viewer) {
        Role::Viewer
    } else {
        return Err(OidcError::NoRole {
            name,
            claim: config.groups_claim.clone(),
            groups: groups.iter().take(20).map(|g| g.to_string()).collect(),
        });
    };
    let namespaces = match (&config.namespaces, role) {
        (Some(limits), Role::Approver) => {
            let approving = config
                .roles
                .approver
                .iter()
                .filter(|g| groups.contains(g.as_str()));
            let mut union = BTreeSet::new();
            let mut limited = true;
            for g in approving {
                match limits.get(g) {
                    Some(list) => union.extend(list.iter().cloned()),
                    None => limited = false,
                }
            }
            limited.then(|| union.into_iter().collect())
        }
        _ => None,
    };
    Ok(Identity {
        name,
        role,
        namespaces,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(extra: &str) -> OidcConfig {
        serde_saphyr::from_str(&format!(
            "issuer: https://login.example.com\nclient_id: nightshift\nredirect_url: https://n.example.com/console/oidc/callback\nroles:\n  admin: [platform]\n  approver: [sre, shop-oncall]\n  viewer: [staff]\n{extra}"
        ))
        .unwrap()
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_highest_role_of_the_groups_wins() {
        let c = config("");
        let id = identity(
            &claims(json!({"sub": "1", "preferred_username": "carol", "groups": ["staff", "sre"]})),
            &c,
        )
        .unwrap();
        assert_eq!(
            (id.name.as_str(), id.role, id.namespaces),
            ("carol", Role::Approver, None)
        );
        let id = identity(
            &claims(
                json!({"sub": "1", "preferred_username": "dan", "groups": ["platform", "staff"]}),
            ),
            &c,
        )
        .unwrap();
        assert_eq!(id.role, Role::Admin);
        let id = identity(
            &claims(json!({"sub": "1", "email": "eve@example.com", "groups": "staff"})),
            &c,
        )
        .unwrap();
        assert_eq!(
            (id.name.as_str(), id.role),
            ("eve@example.com", Role::Viewer)
        );
    }

    #[test]
    fn the_name_falls_back_to_email_then_sub() {
        let c = config("");
        let g = json!(["staff"]);
        let name = |v: Value| identity(&claims(v), &c).map(|i| i.name);
        assert_eq!(name(json!({"sub": "u-1", "groups": g})).unwrap(), "u-1");
        assert_eq!(
            name(json!({"sub": "u-1", "email": "f@example.com", "preferred_username": "", "groups": g}))
                .unwrap(),
            "f@example.com"
        );
        let e = name(json!({"groups": g})).unwrap_err().to_string();
        assert!(e.contains("preferred_username"), "{e}");
        let c = config("username_claim: upn\n");
        let id = identity(
            &claims(json!({"sub": "1", "upn": "gil@corp", "email": "x@y", "groups": g})),
            &c,
        )
        .unwrap();
        assert_eq!(id.name, "gil@corp");
    }

    #[test]
    fn nobody_without_a_mapped_group_gets_in() {
        let c = config("");
        for groups in [json!(["contractors"]), json!([]), json!(null)] {
            let e = identity(
                &claims(json!({"sub": "1", "preferred_username": "hal", "groups": groups})),
                &c,
            )
            .unwrap_err();
            assert!(matches!(e, OidcError::NoRole { .. }), "{e}");
            assert!(e.to_string().contains("hal"), "{e}");
        }
        // Another claim than configured carries no groups.
        let c = config("groups_claim: roles\n");
        assert!(identity(&claims(json!({"sub": "1", "groups": ["sre"]})), &c).is_err());
        let id = identity(&claims(json!({"sub": "1", "roles": ["sre"]})), &c).unwrap();
        assert_eq!(id.role, Role::Approver);
    }

    #[test]
    fn approving_groups_limit_namespaces_unless_one_is_unlimited() {
        let c = config("namespaces:\n  shop-oncall: [shop, checkout]\n");
        let id = |g: Value| identity(&claims(json!({"sub": "1", "groups": g})), &c).unwrap();
        assert_eq!(
            id(json!(["shop-oncall", "staff"])).namespaces,
            Some(vec!["checkout".to_string(), "shop".to_string()])
        );
        assert!(id(json!(["shop-oncall"])).may_approve_in(Some("shop")));
        assert!(!id(json!(["shop-oncall"])).may_approve_in(Some("payments")));
        assert_eq!(id(json!(["shop-oncall", "sre"])).namespaces, None);
        assert_eq!(id(json!(["shop-oncall", "platform"])).namespaces, None);
        assert_eq!(id(json!(["staff"])).namespaces, None);
    }
}
