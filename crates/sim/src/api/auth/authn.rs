//! Authentication: who a request comes from, read from its bearer token as kube-apiserver's
//! token authenticators read it.
//!
//! Three kinds of callers exist: the cluster administrator (the admin token, in group
//! `system:masters`), service accounts (tokens minted by [`Tokens::mint`], valid while the
//! service account exists) and anonymous callers (no token). A token the server does not know
//! is a 401, never a fall back to anonymous, as with the real API server.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use crate::api::status::ApiError;
use crate::resources;
use crate::store::Store;

/// The user name of the cluster administrator.
pub const ADMIN_USER: &str = "kubernetes-admin";

/// The group whose members may do anything, as kube-apiserver's privileged group.
pub const MASTERS_GROUP: &str = "system:masters";

/// An authenticated (or anonymous) caller: a name and groups, as RBAC subjects name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name (`system:serviceaccount:<ns>:<name>` for service accounts).
    pub name: String,
    /// Groups, `system:authenticated` included for every authenticated caller.
    pub groups: Vec<String>,
}

impl User {
    /// The cluster administrator.
    pub fn admin() -> Self {
        User {
            name: ADMIN_USER.into(),
            groups: vec![MASTERS_GROUP.into(), "system:authenticated".into()],
        }
    }

    /// A caller without credentials.
    pub fn anonymous() -> Self {
        User {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    /// The service account `namespace/name`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        User {
            name: service_account_user(namespace, name),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    /// Whether the caller is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// The user name of a service account.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The tokens the server has issued: the admin token and one per minted service account token.
pub struct Tokens {
    admin: String,
    service_accounts: Mutex<HashMap<String, (String, String)>>,
    salt: RandomState,
    minted: AtomicU64,
}

impl Tokens {
    /// A registry with a fresh admin token and no service account tokens.
    pub fn new() -> Self {
        let mut tokens = Tokens {
            admin: String::new(),
            service_accounts: Mutex::new(HashMap::new()),
            salt: RandomState::new(),
            minted: AtomicU64::new(0),
        };
        tokens.admin = tokens.fresh("admin");
        tokens
    }

    /// The admin token.
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// A new token for the service account `namespace/name`.
    pub fn mint(&self, namespace: &str, name: &str) -> String {
        let token = self.fresh(&format!("{namespace}/{name}"));
        self.service_accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), (namespace.to_string(), name.to_string()));
        token
    }

    /// An unguessable token: a digest of per-process random keys, a counter and the subject.
    fn fresh(&self, subject: &str) -> String {
        let n = self.minted.fetch_add(1, Ordering::Relaxed);
        let mut digest = Sha256::new();
        for part in 0..4u64 {
            digest.update(self.salt.hash_one((part, n)).to_le_bytes());
            digest.update(RandomState::new().hash_one(part).to_le_bytes());
        }
        digest.update(subject.as_bytes());
        let hex: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sim.{hex}")
    }

    /// Who a request comes from: anonymous without a bearer token, the token's owner with a
    /// known one, 401 with an unknown one or one of a service account that no longer exists.
    pub fn authenticate(&self, store: &Store, headers: &HeaderMap) -> Result<User, ApiError> {
        let Some(token) = bearer(headers) else {
            return Ok(User::anonymous());
        };
        if token == self.admin {
            return Ok(User::admin());
        }
        let owner = self
            .service_accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        let sa_type = resources::find("", "v1", "serviceaccounts").expect("registered");
        match owner {
            Some((ns, name)) if store.get(sa_type, &ns, &name).is_some() => {
                Ok(User::service_account(&ns, &name))
            }
            _ => Err(unauthorized()),
        }
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Self::new()
    }
}

/// The token of an `Authorization: Bearer <token>` header; `None` without one (or with an
/// empty one, which kube-apiserver also treats as no credentials).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// 401, as kube-apiserver answers a request whose credentials it does not accept.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn with_token(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn tokens_name_their_owner_while_it_exists() {
        let store = Store::new(Clock::new(0), 1);
        let ns = resources::find("", "v1", "namespaces").unwrap();
        store
            .create(ns, "", json!({"metadata": {"name": "ops"}}), false)
            .unwrap();
        let tokens = Tokens::new();
        let token = tokens.mint("ops", "agent");
        assert_ne!(token, tokens.mint("ops", "agent"), "tokens are unique");
        assert_eq!(
            tokens.authenticate(&store, &with_token(&token)),
            Err(unauthorized()),
            "no service account yet"
        );
        let sa = resources::find("", "v1", "serviceaccounts").unwrap();
        store
            .create(sa, "ops", json!({"metadata": {"name": "agent"}}), false)
            .unwrap();
        let user = tokens.authenticate(&store, &with_token(&token)).unwrap();
        assert_eq!(user.name, "system:serviceaccount:ops:agent");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ops",
                "system:authenticated"
            ]
        );
        assert_eq!(
            tokens.authenticate(&store, &with_token(tokens.admin())),
            Ok(User::admin())
        );
        assert_eq!(
            tokens.authenticate(&store, &HeaderMap::new()),
            Ok(User::anonymous())
        );
        assert_eq!(
            tokens.authenticate(&store, &with_token("sim.forged")),
            Err(unauthorized())
        );
    }
}
