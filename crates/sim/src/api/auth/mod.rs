//! Authentication and authorization, as kube-apiserver does them with bearer tokens and RBAC.
//!
//! [`Access`] says whether they are enforced. Open (the default) serves every request as the
//! cluster administrator, whatever it carries, as the simulated cluster always has. Enforcing,
//! every request is authenticated ([`authn`]: the admin token, a service account token, or
//! none for `system:anonymous`; an unknown token is a 401), described in RBAC's terms
//! ([`attributes`]) and authorized by the Roles and bindings in the store ([`rbac`]), a
//! denial being a 403 worded as kube-apiserver's. [`bootstrap`] holds the policy every cluster
//! starts with; [`review`] answers `kubectl auth can-i`.

mod attributes;
mod authn;
mod bootstrap;
mod rbac;
mod review;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::request::Query;
use super::status::ApiError;
use crate::store::{Store, StoreError};

pub use attributes::{Attributes, ResourceAttributes};
pub use authn::{ADMIN_USER, MASTERS_GROUP, User};
pub use rbac::Decision;
pub(super) use review::answer as answer_review;

/// Whether requests are authenticated and authorized, and the tokens the server accepts.
pub struct Access {
    enforce: bool,
    tokens: authn::Tokens,
    /// Every 403 answered, by user and message, so a test or an evaluation can tell what a
    /// client was refused even when the client only logged it.
    denials: Mutex<BTreeMap<(String, String), u64>>,
}

/// 403 answers of one kind: who was refused, the Status message, how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The user refused (`system:serviceaccount:ns:name`, `system:anonymous`, ...).
    pub user: String,
    /// The message of the 403, as kube-apiserver words it.
    pub message: String,
    /// How many requests got that answer.
    pub count: u64,
}

impl Access {
    /// No enforcement: every request is the cluster administrator's.
    pub fn open() -> Self {
        Access {
            enforce: false,
            tokens: authn::Tokens::new(),
            denials: Mutex::default(),
        }
    }

    /// Bearer tokens and RBAC enforced, as a real cluster enforces them.
    pub fn rbac() -> Self {
        Access {
            enforce: true,
            tokens: authn::Tokens::new(),
            denials: Mutex::default(),
        }
    }

    /// Whether requests are authenticated and authorized.
    pub fn enforcing(&self) -> bool {
        self.enforce
    }

    /// The token of the cluster administrator (`kubernetes-admin`, in `system:masters`).
    pub fn admin_token(&self) -> &str {
        self.tokens.admin()
    }

    /// A new token for the service account `namespace/name`. It authenticates as
    /// `system:serviceaccount:<namespace>:<name>` while that service account exists (it need
    /// not exist yet).
    pub fn mint_service_account_token(&self, namespace: &str, name: &str) -> String {
        self.tokens.mint(namespace, name)
    }

    /// Mints a token for `sa` and writes it as a pod would mount it: `<dir>/<namespace>/<name>/`
    /// holding `token`, `namespace` and `ca.crt` (the authority of the server's HTTPS
    /// certificate). Returns that directory.
    pub fn write_service_account_token(
        &self,
        dir: &Path,
        sa: &ServiceAccountRef,
    ) -> std::io::Result<PathBuf> {
        let at = dir.join(&sa.namespace).join(&sa.name);
        std::fs::create_dir_all(&at)?;
        std::fs::write(
            at.join("token"),
            self.mint_service_account_token(&sa.namespace, &sa.name),
        )?;
        std::fs::write(at.join("namespace"), &sa.namespace)?;
        std::fs::write(at.join("ca.crt"), super::tls::CA_PEM)?;
        Ok(at)
    }

    /// Who a request comes from: the administrator when not enforcing.
    pub fn authenticate(&self, store: &Store, headers: &HeaderMap) -> Result<User, ApiError> {
        if !self.enforce {
            return Ok(User::admin());
        }
        self.tokens.authenticate(store, headers)
    }

    /// Whether `user` may do what `attrs` describe, by the RBAC objects in `store`.
    pub fn authorize(&self, store: &Store, user: &User, attrs: &Attributes) -> Decision {
        rbac::authorize(store, user, attrs)
    }

    /// The 403s answered so far, by user then message.
    pub fn denials(&self) -> Vec<Denial> {
        self.denials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((user, message), count)| Denial {
                user: user.clone(),
                message: message.clone(),
                count: *count,
            })
            .collect()
    }

    /// How many requests of `user` were answered 403.
    pub fn denied(&self, user: &str) -> u64 {
        self.denials()
            .iter()
            .filter(|d| d.user == user)
            .map(|d| d.count)
            .sum()
    }

    fn record_denial(&self, user: &User, message: &str) {
        *self
            .denials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((user.name.clone(), message.to_string()))
            .or_default() += 1;
    }

    /// Writes the bootstrap policy (`cluster-admin`, discovery, public information, self
    /// reviews) into `store` when enforcing, as kube-apiserver does at start.
    pub fn seed(&self, store: &Store) -> Result<(), StoreError> {
        if self.enforce {
            bootstrap::seed(store)?;
        }
        Ok(())
    }
}

impl Default for Access {
    fn default() -> Self {
        Self::open()
    }
}

/// A service account named `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::str::FromStr for ServiceAccountRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(ServiceAccountRef {
                    namespace: ns.into(),
                    name: name.into(),
                })
            }
            _ => Err(format!(
                "service account {s:?} must be written namespace/name, such as nightshift/nightshift-agent"
            )),
        }
    }
}

/// Authenticates and authorizes every request before it is served, and hands the caller on to
/// the handlers (the reviews need to know who asks).
pub async fn gate(State(state): State<Arc<ApiState>>, mut req: Request, next: Next) -> Response {
    let user = match state.access.authenticate(&state.store, req.headers()) {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    if state.access.enforcing() {
        let query = Query::parse(req.uri().query()).unwrap_or_default();
        let attrs = Attributes::from_request(req.method(), req.uri().path(), &query);
        let decision = state.access.authorize(&state.store, &user, &attrs);
        if !decision.allowed {
            tracing::debug!(user = %user.name, verb = %attrs.verb, path = %attrs.path, "forbidden");
            let denial = attrs.forbidden(&user, &decision.reason);
            state.access.record_denial(&user, &denial.message);
            return denial.into_response();
        }
    }
    req.extensions_mut().insert(user);
    next.run(req).await
}
